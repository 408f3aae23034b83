#!/usr/bin/env bash
# Runs on the CI runner (or a developer's machine, via `make deploy`): ships one release to the VM over SSH with the
# host key pinned, then runs deploy/deploy.sh there. Its exit code is deploy.sh's: non-zero turns the workflow red.
#
# Settings (environment):
#   TAG                 the image tag to deploy: the commit SHA the images were pushed under (required)
#   REGISTRY            where the images are, e.g. europe-west9-docker.pkg.dev/PROJECT/REPOSITORY (required)
#   DEPLOY_HOST         the VM's address (required)            DEPLOY_PORT   SSH port (22)
#   DEPLOY_USER         the VM account that runs Docker (deploy)
#   DEPLOY_SSH_KEY      file holding the private key for DEPLOY_USER (required)
#   DEPLOY_KNOWN_HOSTS  file holding the VM's host key line(s) (required): nothing else is trusted
#   DEPLOY_DIR          the deploy folder on the VM (/opt/chatbot)
#   DEPLOY_PROJECT      compose project name on the VM (chatbot-mvp, as compose.yaml names it)
#   DEPLOY_WAIT_TIMEOUT seconds deploy.sh waits for the services to be healthy (120)
#   DEPLOY_KEEP         how many live releases the VM keeps for rollback, folders and images (5)
set -euo pipefail
cd "$(dirname "$0")/.."

: "${TAG:?set TAG to the image tag (commit SHA) to deploy}"
: "${REGISTRY:?set REGISTRY, e.g. REGION-docker.pkg.dev/PROJECT/REPOSITORY}"
: "${DEPLOY_HOST:?set DEPLOY_HOST to the VM address}"
: "${DEPLOY_SSH_KEY:?set DEPLOY_SSH_KEY to the private key file}"
: "${DEPLOY_KNOWN_HOSTS:?set DEPLOY_KNOWN_HOSTS to a known_hosts file with the VM host key}"
DEPLOY_PORT=${DEPLOY_PORT:-22}
DEPLOY_USER=${DEPLOY_USER:-deploy}
DEPLOY_DIR=${DEPLOY_DIR:-/opt/chatbot}
DEPLOY_PROJECT=${DEPLOY_PROJECT:-chatbot-mvp}
DEPLOY_WAIT_TIMEOUT=${DEPLOY_WAIT_TIMEOUT:-120}
DEPLOY_KEEP=${DEPLOY_KEEP:-5}

say() { printf 'release: %s\n' "$*" >&2; }
[[ $TAG =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || { say "not a valid image tag: $TAG"; exit 64; }
[ -s "$DEPLOY_KNOWN_HOSTS" ] || { say "$DEPLOY_KNOWN_HOSTS is empty or missing: refusing to trust any host key"; exit 64; }
[ -r "$DEPLOY_SSH_KEY" ] || { say "cannot read the SSH key $DEPLOY_SSH_KEY"; exit 64; }

# What the VM needs to run a release besides the images: the compose file, the default FAQ it mounts, the deploy
# script and the certificate script (a new VM's first, self-signed pair). The Nginx configuration travels inside
# the nginx image (baked in at build). .env and certs/ stay on the VM and are never shipped.
SHIP=(compose.yaml faq deploy/deploy.sh scripts/certs.sh)
for f in "${SHIP[@]}"; do [ -e "$f" ] || { say "missing $f in $(pwd)"; exit 64; }; done

ssh_opts=(
  -F none # this machine's ~/.ssh/config must not change where or how we connect
  -p "$DEPLOY_PORT" -i "$DEPLOY_SSH_KEY" -o IdentitiesOnly=yes -o BatchMode=yes
  # The pinned host key only: an unknown or changed key ends the connection before anything is sent.
  -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$DEPLOY_KNOWN_HOSTS" -o GlobalKnownHostsFile=/dev/null
  -o UpdateHostKeys=no -o ConnectTimeout=15 -o ServerAliveInterval=15 -o ServerAliveCountMax=4
)
remote() { # the command words are quoted here, so that the remote shell sees them exactly
  # shellcheck disable=SC2029 # expanding on this side is the point: printf %q quotes each word for the remote shell
  ssh "${ssh_opts[@]}" "$DEPLOY_USER@$DEPLOY_HOST" "$(printf '%q ' "$@")"
}

rel=$DEPLOY_DIR/releases/$TAG
started=$SECONDS
say "shipping ${SHIP[*]} to $DEPLOY_USER@$DEPLOY_HOST:$rel"
# Unpack beside the final folder and rename, so that a cut connection never leaves a half-written release.
# One line (no newline to quote): the remote login shell may be any POSIX sh before it starts bash.
# shellcheck disable=SC2016 # expanded by the remote bash, with the release folder as its $1
unpack='set -euo pipefail; rel=$1; tmp=$rel.incoming.$$; mkdir -p "$(dirname "$rel")"; rm -rf "$tmp"; mkdir "$tmp"; '
# shellcheck disable=SC2016
unpack+='tar --extract --gzip --no-same-owner -C "$tmp"; rm -rf "$rel"; mv "$tmp" "$rel"'
tar --create --gzip --owner=0 --group=0 "${SHIP[@]}" | remote bash -c "$unpack" ship "$rel"

say "running deploy.sh $TAG on the VM"
rc=0
remote "$rel/deploy/deploy.sh" --dir "$DEPLOY_DIR" --registry "$REGISTRY" --project "$DEPLOY_PROJECT" \
  --wait-timeout "$DEPLOY_WAIT_TIMEOUT" --keep "$DEPLOY_KEEP" "$TAG" || rc=$?
say "deploy.sh exited $rc after $((SECONDS - started))s"
exit "$rc"
