#!/usr/bin/env bash
# Runs on the CI runner (or a developer's machine, via `make deploy`): ships one release to the VM over SSH with the
# host key pinned, then runs deploy/deploy.sh there. Its exit code is deploy.sh's: non-zero turns the workflow red.
#
# Settings (environment):
#   TAG                 the image tag to deploy: the commit SHA the images were pushed under (required). `current`:
#                       nothing is shipped, the live release is deployed again as it is on the VM, with the latest
#                       secrets (what deploy/rotate.sh does)
#   REGISTRY            where the images are, e.g. europe-west9-docker.pkg.dev/PROJECT/REPOSITORY (required)
#   DEPLOY_HOST         the VM's address (required), also the name its pinned host key is filed under
#   DEPLOY_PORT         SSH port (22)
#   DEPLOY_IAP_INSTANCE, DEPLOY_IAP_ZONE, DEPLOY_IAP_PROJECT   when set: reach the VM through an IAP TCP tunnel
#                       (`gcloud compute start-iap-tunnel`, with gcloud's current credentials) instead of directly;
#                       the host key is checked the same way
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
DEPLOY_IAP_INSTANCE=${DEPLOY_IAP_INSTANCE:-}

say() { printf 'release: %s\n' "$*" >&2; }
[[ $TAG =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || { say "not a valid image tag: $TAG"; exit 64; }
[ -s "$DEPLOY_KNOWN_HOSTS" ] || { say "$DEPLOY_KNOWN_HOSTS is empty or missing: refusing to trust any host key"; exit 64; }
[ -r "$DEPLOY_SSH_KEY" ] || { say "cannot read the SSH key $DEPLOY_SSH_KEY"; exit 64; }

# What the VM needs to run a release besides the images: the compose file, the default FAQ it mounts, the deploy
# scripts (deploy.sh and the rollout it sources), the certificate script (a new VM's first, self-signed pair),
# certbot's loop (mounted, with DOMAIN) and the optional Prometheus's configuration (COMPOSE_PROFILES=monitoring in
# the VM's .env). The Nginx configuration travels inside the nginx image (baked in at build). .env and certs/ stay
# on the VM and are never shipped.
SHIP=(compose.yaml faq deploy/deploy.sh deploy/rollout.sh scripts/certs.sh certbot prometheus)
for f in "${SHIP[@]}"; do [ -e "$f" ] || { say "missing $f in $(pwd)"; exit 64; }; done

ssh_opts=(
  -F none # this machine's ~/.ssh/config must not change where or how we connect
  -p "$DEPLOY_PORT" -i "$DEPLOY_SSH_KEY" -o IdentitiesOnly=yes -o BatchMode=yes
  # The pinned host key only: an unknown or changed key ends the connection before anything is sent.
  -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$DEPLOY_KNOWN_HOSTS" -o GlobalKnownHostsFile=/dev/null
  -o UpdateHostKeys=no -o ConnectTimeout=15 -o ServerAliveInterval=15 -o ServerAliveCountMax=4
)
if [ -n "$DEPLOY_IAP_INSTANCE" ]; then
  : "${DEPLOY_IAP_ZONE:?set DEPLOY_IAP_ZONE to the zone of the VM}" "${DEPLOY_IAP_PROJECT:?set DEPLOY_IAP_PROJECT}"
  # ssh runs the ProxyCommand through a shell: only plain names may go into it.
  for v in "$DEPLOY_IAP_INSTANCE" "$DEPLOY_IAP_ZONE" "$DEPLOY_IAP_PROJECT"; do
    [[ $v =~ ^[a-z][a-z0-9.:-]*$ ]] || { say "not a plain GCP name: $v"; exit 64; }
  done
  # The SSH port is open to Google's IAP range only (gcp-setup.sh firewall): the tunnel carries the SSH session,
  # authorised by IAM (roles/iap.tunnelResourceAccessor on this VM). --listen-on-stdin: gcloud's own way of
  # serving as a ProxyCommand (what `gcloud compute ssh --tunnel-through-iap` runs).
  ssh_opts+=(-o "ProxyCommand=gcloud compute start-iap-tunnel $DEPLOY_IAP_INSTANCE %p --listen-on-stdin \
--zone=$DEPLOY_IAP_ZONE --project=$DEPLOY_IAP_PROJECT --verbosity=warning")
fi
remote() { # the command words are quoted here, so that the remote shell sees them exactly
  # shellcheck disable=SC2029 # expanding on this side is the point: printf %q quotes each word for the remote shell
  ssh "${ssh_opts[@]}" "$DEPLOY_USER@$DEPLOY_HOST" "$(printf '%q ' "$@")"
}

started=$SECONDS
if [ "$TAG" = current ]; then
  say "deploying the live release again on $DEPLOY_USER@$DEPLOY_HOST (latest secrets, nothing shipped)"
  rc=0
  remote "$DEPLOY_DIR/current/deploy/deploy.sh" --dir "$DEPLOY_DIR" --registry "$REGISTRY" \
    --project "$DEPLOY_PROJECT" --wait-timeout "$DEPLOY_WAIT_TIMEOUT" --keep "$DEPLOY_KEEP" current || rc=$?
  say "deploy.sh exited $rc after $((SECONDS - started))s"
  exit "$rc"
fi

rel=$DEPLOY_DIR/releases/$TAG
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
