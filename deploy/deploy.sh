#!/usr/bin/env bash
# Runs ON THE VM: brings up the release shipped to DIR/releases/TAG with `docker compose up --wait`, probes it
# through Nginx over HTTPS, and on any failure brings the previous release back and exits non-zero.
#
#   deploy.sh --dir /opt/chatbot --registry REGION-docker.pkg.dev/PROJECT/REPO [--project chatbot-mvp]
#             [--wait-timeout 120] [--keep 5] TAG
#
# Layout of DIR (see docs/deploy.md):
#   .env                 VM-local settings and secrets; never shipped, never in git
#   certs/               TLS certificate and key for Nginx (VM-local; a self-signed pair is made when missing)
#   compose.vm.yaml      optional VM-local compose override (e.g. logging options); never shipped
#   faq/                 optional: the site owner's FAQ, edited on the VM; without it, the release's own faq/ is used
#   releases/TAG/        what CI shipped for that commit: compose.yaml, faq/, deploy/deploy.sh, scripts/certs.sh
#   current -> releases/TAG      the release that last passed its probes
#   releases.log         "UTC-time TAG" for every release that went live, newest last
# Exit codes: 0 live; 1 failed and the previous release runs again (or there was none); 2 the rollback failed too;
# 64 bad usage.
set -euo pipefail

DIR=/opt/chatbot
REGISTRY=
PROJECT=chatbot-mvp
WAIT_TIMEOUT=120
KEEP=5
TAG=

say() { printf 'deploy: %s\n' "$*" >&2; }
die() { say "$*"; exit 64; }
usage() { sed -n '5,6p' "$0" >&2; exit 64; }

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
[ -f "releases/$TAG/compose.yaml" ] || die "no release shipped for $TAG in $DIR/releases/$TAG"
[ -f .env ] || die "$DIR/.env is missing: it holds the VM's settings and secrets (see docs/deploy.md)"

# One deploy at a time on this VM, whether started by the workflow or by hand; a second one waits its turn.
exec 9>"$DIR/.deploy.lock"
flock -w 600 9 || die "another deploy still holds $DIR/.deploy.lock after 10 minutes"

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

ensure_certs() { # the first deploy on a new VM: a self-signed pair (SAN: CERT_HOSTS from .env), until real ones
  [ -s certs/fullchain.pem ] && [ -s certs/privkey.pem ] && return 0
  say "no certificate in $DIR/certs: creating a self-signed one"
  CERT_DIR=$DIR/certs CERT_HOSTS=$(sed -n 's/^CERT_HOSTS=//p' .env | tail -n 1) bash "releases/$TAG/scripts/certs.sh" >&2
}

compose() { # release-tag, compose arguments...
  local tag=$1 rel=$DIR/releases/$1; shift
  local files=(-f "$rel/compose.yaml")
  [ -e "$rel/compose.vm.yaml" ] && files+=(-f "$rel/compose.vm.yaml")
  # The shell's REGISTRY and TAG win over any in .env: the images are the ones this call names.
  REGISTRY=$REGISTRY TAG=$tag docker compose --project-name "$PROJECT" --project-directory "$rel" "${files[@]}" "$@"
}

pull_images() { # tag, always|missing
  local tag=$1 mode=$2 img
  # `compose pull` only warns when a service that also has a build section fails to pull; a missing image must
  # stop the deploy here, before anything running is touched.
  while read -r img; do
    if [ "$mode" = missing ] && docker image inspect "$img" >/dev/null 2>&1; then continue; fi
    say "pull $img"
    docker pull --quiet "$img" >/dev/null || { say "cannot pull $img"; return 1; }
  done < <(compose "$tag" config --images)
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

bring_up() { # tag, pull-mode
  local tag=$1
  link_vm_files "$DIR/releases/$tag"
  pull_images "$tag" "$2" || return 1
  say "up $tag (project $PROJECT, waiting up to ${WAIT_TIMEOUT}s for health)"
  # --no-build/--pull never: the VM runs exactly the images CI built and pushed; it never builds or guesses.
  compose "$tag" up --detach --wait --wait-timeout "$WAIT_TIMEOUT" --no-build --pull never --remove-orphans \
    || { say "services of $tag did not become healthy"; return 1; }
  probe "$tag"
}

diagnose() { # tag: what the workflow log needs to explain a failure
  compose "$1" ps --all >&2 || true
  compose "$1" logs --no-color --tail 40 >&2 || true
}

prune() { # keep the newest KEEP live releases (folders and images), and drop the folders of failed ones
  local keep tag img
  # Newest first, each tag once: a tag redeployed by hand counts at its latest date.
  mapfile -t keep < <(awk '{print $2}' releases.log | tac | awk '!seen[$0]++' | head -n "$KEEP")
  for tag in releases/*/; do
    tag=$(basename "$tag")
    [ "$tag" = "$TAG" ] && continue
    [[ " ${keep[*]} " == *" $tag "* ]] && continue
    say "prune release $tag"
    while read -r img; do
      # Only that release's own images (a VM-local override may name others); in use or gone: left alone.
      [[ $img == "$REGISTRY/"*":$tag" ]] || continue
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
  prune
  say "release $TAG is live ($((SECONDS - started))s)"
  exit 0
fi

say "release $TAG FAILED after $((SECONDS - started))s"
diagnose "$TAG"
if [ -z "$PREV" ] || [ "$PREV" = "$TAG" ]; then
  say "no earlier release to roll back to"
  exit 1
fi
rollback_start=$SECONDS
say "rolling back to $PREV"
if bring_up "$PREV" missing; then
  say "rolled back: $PREV is live again ($((SECONDS - rollback_start))s); $TAG was not deployed"
  exit 1
fi
diagnose "$PREV"
say "ROLLBACK FAILED: $PREV did not come back healthy either"
exit 2
