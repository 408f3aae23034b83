#!/usr/bin/env bash
# The VM's startup script (deploy/gcp-setup.sh vm sets it): runs as root at every boot of the Debian 12 VM, and
# only changes what is missing or out of date.
#   - Docker Engine and the Compose plugin, from Docker's apt repository (key checked by fingerprint)
#   - the deploy user: in the docker group, SSH key from the instance metadata, no sudo
#   - `gcloud auth configure-docker` for that user, so `docker pull` uses the VM's service account
#   - /opt/chatbot, and its deploy.conf naming the Secret Manager secret that holds .env: deploy.sh reads the
#     secret's latest version at every deploy (nothing secret is written here)
# Instance metadata read: deploy-user, deploy-ssh-public-key, registry-host, env-secret.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
DIR=/opt/chatbot
# Docker's release signing key (https://docs.docker.com/engine/install/debian/).
DOCKER_KEY_FINGERPRINT=9DC858229FC7DD38854AE2D88D81803C0EBFCD88

say() { echo "vm-bootstrap: $*"; }
metadata() { # attribute name; empty when unset
  curl -fsS -H 'Metadata-Flavor: Google' \
    "http://metadata.google.internal/computeMetadata/v1/instance/attributes/$1" 2>/dev/null || true
}

USER_NAME=$(metadata deploy-user)
USER_NAME=${USER_NAME:-deploy}
REGISTRY_HOST=$(metadata registry-host)
ENV_SECRET=$(metadata env-secret)

if ! docker compose version >/dev/null 2>&1; then
  say "installing Docker Engine and the Compose plugin"
  apt-get update -q
  apt-get install -y -q ca-certificates curl gnupg
  install -m 0755 -d /etc/apt/keyrings
  curl -fsSL https://download.docker.com/linux/debian/gpg -o /tmp/docker.asc
  # Refuse a key that is not Docker's, whatever the download returned.
  gpg --show-keys --with-colons /tmp/docker.asc | awk -F: '$1 == "fpr" {print $10}' |
    grep -qx "$DOCKER_KEY_FINGERPRINT" || { say "unexpected Docker apt key"; exit 1; }
  install -m 0644 /tmp/docker.asc /etc/apt/keyrings/docker.asc
  # shellcheck source=/dev/null
  codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
  echo "deb [arch=$(dpkg --print-architecture) signed-by=/etc/apt/keyrings/docker.asc] https://download.docker.com/linux/debian $codename stable" \
    >/etc/apt/sources.list.d/docker.list
  apt-get update -q
  apt-get install -y -q docker-ce docker-ce-cli containerd.io docker-buildx-plugin docker-compose-plugin
  systemctl enable --now docker
fi

if ! id "$USER_NAME" >/dev/null 2>&1; then
  say "creating user $USER_NAME"
  # Membership of the docker group is what deploying needs (and is root-equivalent on this VM): no sudo.
  useradd --create-home --shell /bin/bash --groups docker "$USER_NAME"
fi
home=$(getent passwd "$USER_NAME" | cut -d: -f6)
key=$(metadata deploy-ssh-public-key)
if [ -n "$key" ]; then
  install -d -m 0700 -o "$USER_NAME" -g "$USER_NAME" "$home/.ssh"
  # Only the CI key; restricted: no forwarding of ports, agents or X11.
  printf 'no-port-forwarding,no-agent-forwarding,no-X11-forwarding %s\n' "$key" >"$home/.ssh/authorized_keys.tmp"
  chown "$USER_NAME:$USER_NAME" "$home/.ssh/authorized_keys.tmp" && chmod 600 "$home/.ssh/authorized_keys.tmp"
  mv "$home/.ssh/authorized_keys.tmp" "$home/.ssh/authorized_keys"
fi

if [ -n "$REGISTRY_HOST" ]; then
  # Writes a credHelpers entry: docker-credential-gcloud (Google Cloud CLI, preinstalled on Debian GCE images)
  # hands Docker a token of the VM's service account, which holds Artifact Registry Reader.
  sudo -u "$USER_NAME" -H gcloud auth configure-docker "$REGISTRY_HOST" --quiet >/dev/null
fi

install -d -m 0750 -o "$USER_NAME" -g "$USER_NAME" "$DIR"
if [ -n "$ENV_SECRET" ]; then
  say "deploy.conf: .env comes from the secret $ENV_SECRET"
  printf 'ENV_SECRET=%s\n' "$ENV_SECRET" >"$DIR/deploy.conf.tmp"
  chown "$USER_NAME:$USER_NAME" "$DIR/deploy.conf.tmp" && chmod 0640 "$DIR/deploy.conf.tmp"
  mv "$DIR/deploy.conf.tmp" "$DIR/deploy.conf"
fi
say "done"
