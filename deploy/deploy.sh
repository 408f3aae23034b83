#!/usr/bin/env bash
# Runs ON THE VM: refreshes .env from Secret Manager, brings up the release shipped to DIR/releases/TAG with
# `docker compose up --wait`, probes it through Nginx over HTTPS, and on any failure brings the previous release
# (and the previous .env) back and exits non-zero.
#
#   deploy.sh --dir /opt/chatbot --registry REGION-docker.pkg.dev/PROJECT/REPO [--project chatbot-mvp]
#             [--wait-timeout 120] [--keep 5] TAG|current
#
# `current` redeploys the live release as it was shipped: what deploy/rotate.sh does after a new secret version,
# so that new secrets reach the containers through the same rollout as a release.
#
# Layout of DIR (see docs/deploy.md):
#   deploy.conf          this script's VM-local settings (vm-bootstrap.sh writes it from the instance metadata):
#                          ENV_SECRET=NAME        the Secret Manager secret holding .env (none: .env is VM-local)
#                          CLOUDSDK_CONFIG=PATH   a gcloud configuration folder to use instead of the user's own
#   .env                 settings and secrets: the latest version of ENV_SECRET, fetched by every deploy (mode 600);
#                        never shipped, never in git. .env.previous: the one before, while a deploy may roll back
#   certs/               TLS certificate and key for Nginx (VM-local; a self-signed pair is made when missing), and
#                        with DOMAIN, certbot's state in certs/letsencrypt/ (docs/certificates.md)
#   compose.vm.yaml      optional VM-local compose override (e.g. logging options); never shipped
#   faq/                 optional: the site owner's FAQ, edited on the VM; without it, the release's own faq/ is used
#   releases/TAG/        what CI shipped for that commit: compose.yaml, faq/, deploy/deploy.sh, scripts/certs.sh,
#                        certbot/
#   current -> releases/TAG      the release that last passed its probes
#   releases.log         "UTC-time TAG" for every release that went live, newest last
# Exit codes: 0 live; 1 failed and the previous release (and .env) runs again, or there was none; 2 the rollback
# failed too; 64 bad usage.
# Secret values never appear in arguments or logs: gcloud writes them to a 0600 file, compose reads .env itself.
set -euo pipefail

DIR=/opt/chatbot
REGISTRY=
PROJECT=chatbot-mvp
WAIT_TIMEOUT=120
KEEP=5
TAG=

say() { printf 'deploy: [%3ss] %s\n' "$SECONDS" "$*" >&2; }
die() { say "$*"; exit 64; }
usage() { sed -n '6,7p' "$0" >&2; exit 64; }

while [ $# -gt 0 ]; do
  case $1 in
    --dir) DIR=${2:?}; shift 2 ;;
    --registry) REGISTRY=${2:?}; shift 2 ;;
    --project) PROJECT=${2:?}; shift 2 ;;
    --wait-timeout) WAIT_TIMEOUT=${2:?}; shift 2 ;;
    --keep) KEEP=${2:?}; shift 2 ;;
    -h | --help) usage ;;
    -*) die "unknown option $1" ;;
    *) [ -z "$TAG" ] || usage; TAG=$1; shift ;;
  esac
done
if [ -z "$TAG" ] || [ -z "$REGISTRY" ]; then usage; fi
# Docker's own grammar for a tag; it also keeps the value safe inside paths and the log.
[[ $TAG =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die "not a valid image tag: $TAG"
[[ $REGISTRY =~ ^[a-z0-9][a-z0-9.:/_-]*$ ]] || die "not a valid registry path: $REGISTRY"
[[ $PROJECT =~ ^[a-z0-9][a-z0-9_-]*$ ]] || die "not a valid compose project name: $PROJECT"
[[ $WAIT_TIMEOUT =~ ^[1-9][0-9]*$ && $KEEP =~ ^[1-9][0-9]*$ ]] || die "--wait-timeout and --keep take positive integers"

cd "$DIR"
# One deploy at a time on this VM, whether started by the workflow, by hand or by a key rotation; a second one
# waits its turn.
exec 9>"$DIR/.deploy.lock"
flock -w 600 9 || die "another deploy still holds $DIR/.deploy.lock after 10 minutes"

if [ "$TAG" = current ]; then
  [ -L current ] || die "no live release to redeploy in $DIR"
  TAG=$(basename "$(readlink current)")
fi
[ -f "releases/$TAG/compose.yaml" ] || die "no release shipped for $TAG in $DIR/releases/$TAG"

ENV_SECRET=
read_conf() { # deploy.conf: only the settings this script knows, never executed as shell code
  local key value
  [ -f deploy.conf ] || return 0
  while IFS='=' read -r key value; do
    case $key in
      ENV_SECRET) ENV_SECRET=$value ;;
      CLOUDSDK_CONFIG) export CLOUDSDK_CONFIG=$value ;;
    esac
  done <deploy.conf
}
read_conf
# A VM bootstrapped before deploy.conf existed: the secret's name is still in its instance metadata.
if [ -z "$ENV_SECRET" ] && [ ! -f deploy.conf ] && grep -qs Google /sys/class/dmi/id/product_name; then
  ENV_SECRET=$(curl -fsS -m 5 -H 'Metadata-Flavor: Google' \
    http://metadata.google.internal/computeMetadata/v1/instance/attributes/env-secret 2>/dev/null) || ENV_SECRET=
fi
[[ -z $ENV_SECRET || $ENV_SECRET =~ ^[A-Za-z0-9_/-]+$ ]] || die "deploy.conf: not a secret name: $ENV_SECRET"

ENV_CHANGED=
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() { rm -f "$DIR/.env.incoming" "$DIR/.env.incoming.json"; }
trap cleanup EXIT

refresh_env() { # .env <- the latest version of ENV_SECRET; any failure keeps the current .env
  [ -n "$ENV_SECRET" ] || return 0
  local json=$DIR/.env.incoming.json new=$DIR/.env.incoming flat version
  # The JSON form names the version with its payload (base64), so the log can say which one runs. umask 077: the
  # files are the owner's alone from their first byte; nothing secret goes through an argument.
  if ! (umask 077 && timeout 120 gcloud secrets versions access latest --secret "$ENV_SECRET" --format json \
    --quiet >"$json"); then
    say "WARNING: could not read the secret $ENV_SECRET from Secret Manager; keeping the current .env"
    return 0
  fi
  flat=$(tr -d ' \n' <"$json")
  version=
  [[ $flat =~ \"name\":\"[^\"]*/versions/([0-9]+)\" ]] && version=${BASH_REMATCH[1]}
  if ! [[ $flat =~ \"data\":\"([A-Za-z0-9+/=]+)\" ]] ||
    ! (umask 077 && printf '%s' "${BASH_REMATCH[1]}" | base64 -d >"$new") || [ ! -s "$new" ]; then
    say "WARNING: the latest version of $ENV_SECRET is empty or unreadable; keeping the current .env"
    return 0
  fi
  if [ -f .env ] && cmp -s "$new" .env; then
    say ".env: version ${version:-?} of $ENV_SECRET, unchanged"
    return 0
  fi
  # Kept until this deploy is over: a new version that does not come up healthy is rolled back with the release.
  if [ -f .env ]; then cp -p .env .env.previous; fi
  mv -f "$new" .env
  ENV_CHANGED=1
  say ".env: version ${version:-?} of $ENV_SECRET (changed)"
}

restore_env() {
  [ -n "$ENV_CHANGED" ] || return 0
  if [ -f .env.previous ]; then
    mv -f .env.previous .env
    say "restored the previous .env: the new version of $ENV_SECRET did not come up healthy"
  fi
  ENV_CHANGED=
}

refresh_env
[ -f .env ] || die "$DIR/.env is missing: it holds the VM's settings and secrets (see docs/deploy.md)"

# Compose resolves relative paths (env_file: .env, ./certs) against the release folder, so each release sees the
# VM-local files through links. Per-release folders mean a rollback also gets back its own compose file and config.
link_vm_files() {
  local rel=$1 f
  for f in .env certs compose.vm.yaml; do
    if [ -e "$DIR/$f" ]; then ln -sfn "$DIR/$f" "$rel/$f"; else rm -f "$rel/$f"; fi
  done
  # A VM-local FAQ replaces the shipped one, so that the owner's edits survive every release.
  if [ -d "$DIR/faq" ]; then rm -rf "$rel/faq" && ln -sfn "$DIR/faq" "$rel/faq"; fi
}

env_value() { sed -n "s/^$1=//p" "$DIR/.env" | tail -n 1; }

ensure_certs() { # the first deploy on a new VM: a self-signed pair (SAN: DOMAIN, CERT_HOSTS), until real ones
  [ -s certs/fullchain.pem ] && [ -s certs/privkey.pem ] && return 0
  say "no certificate in $DIR/certs: creating a self-signed one"
  CERT_DIR=$DIR/certs CERT_HOSTS=$(env_value CERT_HOSTS) DOMAIN=$(env_value DOMAIN) \
    bash "releases/$TAG/scripts/certs.sh" >&2
}

compose() { # release-tag, compose arguments... (PROJECT_DIR: where relative paths resolve; default the release's)
  local tag=$1 rel=$DIR/releases/$1; shift
  local files=(-f "$rel/compose.yaml")
  [ -e "$rel/compose.vm.yaml" ] && files+=(-f "$rel/compose.vm.yaml")
  # With a DOMAIN in .env, certbot obtains and renews its certificate (docs/certificates.md).
  [ -n "$(env_value DOMAIN)" ] && files+=(--profile acme)
  # The shell's REGISTRY and TAG (and NGINX_TAG, rollout.sh) win over any in .env: the images are the ones this
  # call names.
  REGISTRY=$REGISTRY TAG=$tag NGINX_TAG=${NGINX_TAG:-$tag} docker compose --project-name "$PROJECT" \
    --project-directory "${PROJECT_DIR:-$rel}" "${files[@]}" "$@"
}

pull_images() { # tag, always|missing
  local tag=$1 mode=$2 img
  # `compose pull` only warns when a service that also has a build section fails to pull; a missing image must
  # stop the deploy here, before anything running is touched.
  while read -r img; do
    # Ours are pulled as asked; a third-party image (Redis) only when it is not here yet.
    if { [ "$mode" = missing ] || [[ $img != "$REGISTRY"/* ]]; } && docker image inspect "$img" >/dev/null 2>&1; then
      continue
    fi
    say "pull $img"
    docker pull --quiet "$img" >/dev/null || { say "cannot pull $img"; return 1; }
  done < <(compose "$tag" config --images | sort -u)  # edge-shipper runs the chatbot's image
}

https_port() { # tag: the host port published for Nginx's 443
  local addr
  addr=$(compose "$1" port nginx 443 2>/dev/null | head -n1) || return 1
  [ -n "$addr" ] && printf '%s\n' "${addr##*:}"
}

probe() { # tag: the public routes answer through Nginx over TLS
  local port base body
  port=$(https_port "$1") || { say "nginx publishes no port for 443"; return 1; }
  base=https://localhost:$port
  # -k: this probe is on loopback, where the certificate's name (the public host) cannot match; what it checks is
  # that Nginx terminates TLS and the app behind it answers. --retry covers Nginx's first upstream connection.
  local curl=(curl -fsS -k --max-time 5 --retry 5 --retry-delay 1 --retry-all-errors)
  body=$("${curl[@]}" "$base/healthz") || { say "GET $base/healthz failed"; return 1; }
  [[ $body == *'"status"'*'"ok"'* ]] || { say "GET $base/healthz answered: $body"; return 1; }
  "${curl[@]}" -o /dev/null "$base/" || { say "GET $base/ failed"; return 1; }
  say "healthy: $base/healthz and $base/ answer"
}

# rollout TAG: the one step that touches what serves clients (releases, rollbacks, secret rotations), replacing the
# chatbot's replicas one at a time; in its own file, shipped beside this one.
# shellcheck source=deploy/rollout.sh
. "$(dirname "${BASH_SOURCE[0]}")/rollout.sh"

bring_up() { # tag, pull-mode
  local tag=$1
  link_vm_files "$DIR/releases/$tag"
  pull_images "$tag" "$2" || return 1
  rollout "$tag" || return 1
  probe "$tag"
}

diagnose() { # tag: what the workflow log needs to explain a failure
  compose "$1" ps --all >&2 || true
  compose "$1" logs --no-color --tail 40 >&2 || true
}

prune() { # keep the newest KEEP live releases (folders and images), and drop the folders of failed ones
  local keep tag img running
  running=$(docker ps --filter "label=com.docker.compose.project=$PROJECT" --format '{{.Image}}' | xargs)
  # Newest first, each tag once: a tag redeployed by hand counts at its latest date.
  mapfile -t keep < <(awk '{print $2}' releases.log | tac | awk '!seen[$0]++' | head -n "$KEEP")
  for tag in releases/*/; do
    tag=$(basename "$tag")
    [ "$tag" = "$TAG" ] && continue
    [[ " ${keep[*]} " == *" $tag "* ]] && continue
    say "prune release $tag"
    while read -r img; do
      # Only that release's own images (a VM-local override may name others); in use or gone: left alone. An
      # untouched Nginx keeps running from an older release's image (rollout.sh): its name must stay.
      [[ $img == "$REGISTRY/"*":$tag" ]] || continue
      [[ " $running " == *" $img "* ]] && continue
      docker image rm "$img" >/dev/null 2>&1 || true
    done < <(compose "$tag" config --images 2>/dev/null)
    rm -rf "releases/$tag"
  done
}

ensure_certs
PREV=
if [ -L current ]; then PREV=$(basename "$(readlink current)"); fi
[ -d "releases/$PREV" ] || PREV=
started=$SECONDS
say "release $TAG (live now: ${PREV:-none})"

if bring_up "$TAG" always; then
  ln -sfn "releases/$TAG" current.tmp && mv -T current.tmp current
  printf '%s %s\n' "$(date -u +%FT%TZ)" "$TAG" >>releases.log
  rm -f .env.previous
  prune
  say "release $TAG is live ($((SECONDS - started))s)"
  exit 0
fi

say "release $TAG FAILED after $((SECONDS - started))s"
diagnose "$TAG"
had_new_env=$ENV_CHANGED
restore_env
# The same release again is a rollback too when what changed was .env (a redeploy for a new secret version).
if [ -z "$PREV" ] || { [ "$PREV" = "$TAG" ] && [ -z "$had_new_env" ]; }; then
  say "no earlier release to roll back to"
  exit 1
fi
rollback_start=$SECONDS
say "rolling back to $PREV${had_new_env:+ with the previous .env}"
if bring_up "$PREV" missing; then
  say "rolled back: $PREV is live again ($((SECONDS - rollback_start))s); $TAG was not deployed${had_new_env:+ with the new .env}"
  exit 1
fi
diagnose "$PREV"
say "ROLLBACK FAILED: $PREV did not come back healthy either"
exit 2
