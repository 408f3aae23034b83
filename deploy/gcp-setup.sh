#!/usr/bin/env bash
# One-time Google Cloud setup for the push-to-main deploy, as commands instead of console clicks. Run from a
# machine with gcloud logged in as a project owner (and `gh` for the last step). Every step can be re-run: what
# exists is left as it is. docs/deploy.md walks through them in order.
#
#   deploy/gcp-setup.sh STEP...      steps, in order:
#     apis          enable the APIs used below
#     registry      the Artifact Registry Docker repository, with a cleanup policy
#     accounts      service accounts: the VM's (Logs Writer, Artifact Registry Reader, its .env secret) and the
#                   deployer's (Artifact Registry Writer), impersonated by GitHub through Workload Identity
#     firewall      allow tcp:80 and tcp:443 to VMs tagged $NETWORK_TAG (the guide created these by hand)
#     ssh-key       the deploy key pair (private half: a GitHub secret; public half: the VM's deploy user)
#     env-secret    upload ENV_FILE (the production .env) to Secret Manager; the VM reads it at boot
#     vm            a static IP and the Debian 12 VM, bootstrapped by deploy/vm-bootstrap.sh (Docker, Compose
#                   plugin, deploy user, `gcloud auth configure-docker`, /opt/chatbot, .env, TLS certificate)
#     wif           the Workload Identity pool and GitHub OIDC provider, bound to this repository only
#     known-hosts   the VM's SSH host key, read through the Compute API (never trusted on first use)
#     github        set the repository's `production` environment variables and secrets with `gh`
#     all           every step above, in that order
#
# Settings (environment): PROJECT_ID (required), GITHUB_REPO=owner/name (required for wif, github), REGION
# (europe-west9), ZONE ($REGION-a), REPOSITORY (chatbot), VM_NAME (chatbot-vm), MACHINE_TYPE (e2-small),
# NETWORK_TAG (chatbot-web), DEPLOY_USER (deploy), ENV_SECRET (chatbot-env), ENV_FILE (.env.production),
# KEY_FILE (~/.ssh/chatbot-deploy), KNOWN_HOSTS_FILE (build/deploy-known_hosts), POOL (github), PROVIDER (github).
set -euo pipefail
cd "$(dirname "$0")/.."

: "${PROJECT_ID:?set PROJECT_ID to your Google Cloud project id}"
REGION=${REGION:-europe-west9}
ZONE=${ZONE:-$REGION-a}
REPOSITORY=${REPOSITORY:-chatbot}
VM_NAME=${VM_NAME:-chatbot-vm}
MACHINE_TYPE=${MACHINE_TYPE:-e2-small}
NETWORK_TAG=${NETWORK_TAG:-chatbot-web}
DEPLOY_USER=${DEPLOY_USER:-deploy}
ENV_SECRET=${ENV_SECRET:-chatbot-env}
ENV_FILE=${ENV_FILE:-.env.production}
KEY_FILE=${KEY_FILE:-$HOME/.ssh/chatbot-deploy}
KNOWN_HOSTS_FILE=${KNOWN_HOSTS_FILE:-build/deploy-known_hosts}
POOL=${POOL:-github}
PROVIDER=${PROVIDER:-github}
VM_SA=chatbot-vm@$PROJECT_ID.iam.gserviceaccount.com
DEPLOYER_SA=github-deployer@$PROJECT_ID.iam.gserviceaccount.com
REGISTRY_HOST=$REGION-docker.pkg.dev

g() { gcloud --project "$PROJECT_ID" --quiet "$@"; }
say() { printf '\n== %s\n' "$*" >&2; }
exists() { "$@" >/dev/null 2>&1; }
# A service account just created can take a few seconds to be visible to IAM bindings.
retry() { local i; for i in 1 2 3 4 5 6; do "$@" && return 0; [ "$i" = 6 ] || sleep 5; done; return 1; }
need_repo() { [[ ${GITHUB_REPO:-} =~ ^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$ ]] || { echo "set GITHUB_REPO=owner/name" >&2; exit 64; }; }

step_apis() {
  say "enable APIs"
  g services enable compute.googleapis.com artifactregistry.googleapis.com iam.googleapis.com \
    iamcredentials.googleapis.com sts.googleapis.com logging.googleapis.com secretmanager.googleapis.com
}

step_registry() {
  say "Artifact Registry repository $REGISTRY_HOST/$PROJECT_ID/$REPOSITORY"
  exists g artifacts repositories describe "$REPOSITORY" --location "$REGION" ||
    g artifacts repositories create "$REPOSITORY" --location "$REGION" --repository-format docker \
      --description "chatbot-mvp images, tagged with the commit SHA"
  # Old commits' images go after 30 days, but the 10 newest versions of each image (the VM keeps 5 for rollback)
  # and the moving tags (main, buildcache) are always kept.
  local policy
  policy=$(mktemp)
  cat >"$policy" <<'EOF'
[
  {"name": "delete-after-30-days", "action": {"type": "Delete"}, "condition": {"tagState": "any", "olderThan": "30d"}},
  {"name": "keep-10-newest", "action": {"type": "Keep"}, "mostRecentVersions": {"keepCount": 10}},
  {"name": "keep-moving-tags", "action": {"type": "Keep"},
   "condition": {"tagState": "tagged", "tagPrefixes": ["main", "buildcache"]}}
]
EOF
  g artifacts repositories set-cleanup-policies "$REPOSITORY" --location "$REGION" --policy "$policy" --no-dry-run
  rm -f "$policy"
}

step_accounts() {
  say "service accounts"
  exists g iam service-accounts describe "$VM_SA" ||
    g iam service-accounts create chatbot-vm --display-name "chatbot VM: pulls images, writes logs"
  exists g iam service-accounts describe "$DEPLOYER_SA" ||
    g iam service-accounts create github-deployer --display-name "GitHub Actions deploy: pushes images"
  # The VM: Cloud Logging (the app ships its JSON logs with the VM's credentials) and read-only image pulls.
  retry g projects add-iam-policy-binding "$PROJECT_ID" --member "serviceAccount:$VM_SA" \
    --role roles/logging.logWriter --condition None >/dev/null
  retry g artifacts repositories add-iam-policy-binding "$REPOSITORY" --location "$REGION" \
    --member "serviceAccount:$VM_SA" --role roles/artifactregistry.reader >/dev/null
  # The deployer: push to this one repository, nothing else in the project.
  retry g artifacts repositories add-iam-policy-binding "$REPOSITORY" --location "$REGION" \
    --member "serviceAccount:$DEPLOYER_SA" --role roles/artifactregistry.writer >/dev/null
}

step_firewall() {
  say "firewall rules for HTTP and HTTPS"
  local name port
  for name in allow-http:80 allow-https:443; do
    port=${name#*:} name=chatbot-${name%%:*}
    exists g compute firewall-rules describe "$name" ||
      g compute firewall-rules create "$name" --network default --direction INGRESS --action ALLOW \
        --rules "tcp:$port" --source-ranges 0.0.0.0/0 --target-tags "$NETWORK_TAG"
  done
  # SSH (tcp:22) is open by the default network's default-allow-ssh rule. GitHub-hosted runners have no fixed
  # addresses; sshd on the VM takes keys only (Debian's GCE image: PasswordAuthentication no).
}

step_ssh_key() {
  say "deploy key pair $KEY_FILE"
  [ -f "$KEY_FILE" ] || ssh-keygen -q -t ed25519 -N '' -C "github-actions-deploy@$VM_NAME" -f "$KEY_FILE"
}

step_env_secret() {
  say "the VM's .env in Secret Manager ($ENV_SECRET)"
  [ -f "$ENV_FILE" ] || { echo "write $ENV_FILE first (cp .env.example $ENV_FILE; edit it)" >&2; exit 64; }
  if grep -q '!!!' "$ENV_FILE"; then echo "$ENV_FILE still holds !!! placeholders" >&2; exit 64; fi
  exists g secrets describe "$ENV_SECRET" || g secrets create "$ENV_SECRET" --replication-policy automatic
  g secrets versions add "$ENV_SECRET" --data-file "$ENV_FILE"
  retry g secrets add-iam-policy-binding "$ENV_SECRET" --member "serviceAccount:$VM_SA" \
    --role roles/secretmanager.secretAccessor >/dev/null
}

step_vm() {
  say "static IP and VM $VM_NAME"
  exists g compute addresses describe "$VM_NAME-ip" --region "$REGION" ||
    g compute addresses create "$VM_NAME-ip" --region "$REGION"
  [ -f "$KEY_FILE.pub" ] || { echo "run the ssh-key step first" >&2; exit 64; }
  exists g compute instances describe "$VM_NAME" --zone "$ZONE" ||
    g compute instances create "$VM_NAME" --zone "$ZONE" --machine-type "$MACHINE_TYPE" \
      --image-family debian-12 --image-project debian-cloud --boot-disk-size 20GB \
      --address "$VM_NAME-ip" --tags "$NETWORK_TAG" \
      --service-account "$VM_SA" --scopes cloud-platform \
      --shielded-secure-boot --shielded-vtpm --shielded-integrity-monitoring \
      --metadata-from-file "startup-script=deploy/vm-bootstrap.sh,deploy-ssh-public-key=$KEY_FILE.pub" \
      --metadata "enable-guest-attributes=TRUE,deploy-user=$DEPLOY_USER,registry-host=$REGISTRY_HOST,env-secret=$ENV_SECRET"
  # enable-guest-attributes: the guest agent publishes the SSH host keys there (the known-hosts step reads them).
  echo "the VM runs deploy/vm-bootstrap.sh at every boot; follow it with:" >&2
  echo "  gcloud compute instances get-serial-port-output $VM_NAME --zone $ZONE --project $PROJECT_ID | grep startup-script" >&2
}

step_wif() {
  need_repo
  say "Workload Identity Federation for $GITHUB_REPO"
  local number
  number=$(g projects describe "$PROJECT_ID" --format 'value(projectNumber)')
  exists g iam workload-identity-pools describe "$POOL" --location global ||
    g iam workload-identity-pools create "$POOL" --location global --display-name "GitHub Actions"
  # Only this repository's jobs that run in its `production` environment can exchange their token; the
  # environment's protection rules (deploy from main only) then decide who gets there.
  exists g iam workload-identity-pools providers describe "$PROVIDER" --location global --workload-identity-pool "$POOL" ||
    g iam workload-identity-pools providers create-oidc "$PROVIDER" --location global \
      --workload-identity-pool "$POOL" --display-name "GitHub OIDC" \
      --issuer-uri https://token.actions.githubusercontent.com \
      --attribute-mapping "google.subject=assertion.sub,attribute.repository=assertion.repository,attribute.ref=assertion.ref,attribute.environment=assertion.environment" \
      --attribute-condition "assertion.repository == '$GITHUB_REPO' && assertion.environment == 'production'"
  retry g iam service-accounts add-iam-policy-binding "$DEPLOYER_SA" --role roles/iam.workloadIdentityUser \
    --member "principalSet://iam.googleapis.com/projects/$number/locations/global/workloadIdentityPools/$POOL/attribute.repository/$GITHUB_REPO" \
    >/dev/null
  echo "provider: projects/$number/locations/global/workloadIdentityPools/$POOL/providers/$PROVIDER" >&2
}

step_known_hosts() {
  say "the VM's host key -> $KNOWN_HOSTS_FILE"
  local ip keys
  ip=$(g compute addresses describe "$VM_NAME-ip" --region "$REGION" --format 'value(address)')
  # Read over the authenticated Compute API, not from the network: a man in the middle cannot forge it.
  local try
  for try in $(seq 30); do # the guest agent publishes them a minute or so after the first boot
    keys=$(g compute instances get-guest-attributes "$VM_NAME" --zone "$ZONE" --query-path hostkeys/ \
      --format 'value(key,value)' 2>/dev/null) || true
    [ -z "$keys" ] || break
    echo "no host keys published yet ($try/30): waiting for the VM to boot" >&2; sleep 10
  done
  [ -n "$keys" ] || { echo "the VM published no host keys: is enable-guest-attributes=TRUE set?" >&2; exit 1; }
  mkdir -p "$(dirname "$KNOWN_HOSTS_FILE")"
  awk -v ip="$ip" '{print ip, $1, $2}' <<<"$keys" >"$KNOWN_HOSTS_FILE"
  cat "$KNOWN_HOSTS_FILE"
}

step_github() {
  need_repo
  say "GitHub environment 'production' of $GITHUB_REPO: variables and secrets"
  local number ip env=(--repo "$GITHUB_REPO" --env production)
  number=$(g projects describe "$PROJECT_ID" --format 'value(projectNumber)')
  ip=$(g compute addresses describe "$VM_NAME-ip" --region "$REGION" --format 'value(address)')
  [ -s "$KNOWN_HOSTS_FILE" ] || { echo "run the known-hosts step first" >&2; exit 64; }
  # The environment, restricted to deployments from main.
  gh api --method PUT "repos/$GITHUB_REPO/environments/production" \
    -F 'deployment_branch_policy[protected_branches]=false' -F 'deployment_branch_policy[custom_branch_policies]=true' >/dev/null
  gh api --method POST "repos/$GITHUB_REPO/environments/production/deployment-branch-policies" \
    -f name=main -f type=branch >/dev/null 2>&1 || true # already there
  gh variable set GCP_PROJECT_ID "${env[@]}" --body "$PROJECT_ID"
  gh variable set GCP_REGION "${env[@]}" --body "$REGION"
  gh variable set GAR_REPOSITORY "${env[@]}" --body "$REPOSITORY"
  gh variable set GCP_WIF_PROVIDER "${env[@]}" \
    --body "projects/$number/locations/global/workloadIdentityPools/$POOL/providers/$PROVIDER"
  gh variable set GCP_DEPLOY_SERVICE_ACCOUNT "${env[@]}" --body "$DEPLOYER_SA"
  gh variable set VM_HOST "${env[@]}" --body "$ip"
  gh variable set VM_USER "${env[@]}" --body "$DEPLOY_USER"
  gh variable set VM_DEPLOY_DIR "${env[@]}" --body /opt/chatbot
  gh variable set PUBLIC_URL "${env[@]}" --body "https://$ip"
  gh secret set VM_SSH_PRIVATE_KEY "${env[@]}" <"$KEY_FILE"
  gh secret set VM_KNOWN_HOSTS "${env[@]}" <"$KNOWN_HOSTS_FILE"
}

[ $# -gt 0 ] || { sed -n '2,25p' "$0"; exit 64; }
for s in "$@"; do
  case $s in
    all) set -- apis registry accounts firewall ssh-key env-secret vm wif known-hosts github
         for t; do "step_${t//-/_}"; done ;;
    apis | registry | accounts | firewall | ssh-key | env-secret | vm | wif | known-hosts | github) "step_${s//-/_}" ;;
    *) echo "unknown step: $s" >&2; exit 64 ;;
  esac
done
