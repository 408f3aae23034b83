#!/usr/bin/env bash
# One-time Google Cloud setup for the push-to-main deploy, as commands instead of console clicks. Run from a
# machine with gcloud logged in as a project owner (plus `gh` for the github step, python3 and curl for iap).
# Every step can be re-run: what exists is left as it is, except the monitoring files, applied again each time.
# docs/deploy.md walks through them in order.
#
#   deploy/gcp-setup.sh STEP...      steps, in order:
#     apis          enable the APIs used below
#     registry      the Artifact Registry Docker repository, with a cleanup policy
#     accounts      service accounts: the VM's (Logs Writer, Artifact Registry Reader, its .env secret) and the
#                   deployer's (Artifact Registry Writer), impersonated by GitHub through Workload Identity
#     firewall      allow tcp:80 and tcp:443 to VMs tagged $NETWORK_TAG (the guide created these by hand); SSH to
#                   them only from Google's IAP range (35.235.240.0/20), refused from anywhere else
#     ssh-key       the deploy key pair (private half: a GitHub secret; public half: the VM's deploy user)
#     env-secret    upload ENV_FILE (the production .env) to Secret Manager; every deploy reads its latest version
#     vm            a static IP and the Debian 12 VM, bootstrapped by deploy/vm-bootstrap.sh (Docker, Compose
#                   plugin, deploy user, `gcloud auth configure-docker`, /opt/chatbot and its deploy.conf)
#     iap           the deployer may open IAP tunnels to this VM only (roles/iap.tunnelResourceAccessor)
#     wif           the Workload Identity pool and GitHub OIDC provider, bound to this repository only
#     known-hosts   the VM's SSH host key, read through the Compute API (never trusted on first use)
#     monitoring    an uptime check on https://PUBLIC_HOST/healthz, log-based metrics (5xx answers, upstream
#                   faults) and the alert policies of deploy/monitoring/, sent by email to ALERT_EMAIL
#     github        set the repository's `production` environment variables and secrets with `gh`
#     all           every step above, in that order
#
# Settings (environment): PROJECT_ID (required), GITHUB_REPO=owner/name (required for wif, github), ALERT_EMAIL
# (required for monitoring), REGION (europe-west9), ZONE ($REGION-a), REPOSITORY (chatbot), VM_NAME (chatbot-vm),
# MACHINE_TYPE (e2-small), NETWORK_TAG (chatbot-web), DEPLOY_USER (deploy), ENV_SECRET (chatbot-env), ENV_FILE
# (.env.production), KEY_FILE (~/.ssh/chatbot-deploy), KNOWN_HOSTS_FILE (build/deploy-known_hosts), POOL (github),
# PROVIDER (github), PUBLIC_HOST (the VM's static IP; its DNS name once it has one), LOG_NAME (chatbot-mvp, as the
# service's), UPTIME_VALIDATE_SSL (false while the certificate is self-signed), IAP_API (IAP's REST endpoint).
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
LOG_NAME=${LOG_NAME:-chatbot-mvp}
UPTIME_VALIDATE_SSL=${UPTIME_VALIDATE_SSL:-false}
IAP_API=${IAP_API:-https://iap.googleapis.com/v1}
# Google's source range for IAP TCP forwarding: the only addresses allowed to reach the VM's SSH port.
IAP_RANGE=35.235.240.0/20
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
    iamcredentials.googleapis.com sts.googleapis.com logging.googleapis.com secretmanager.googleapis.com \
    iap.googleapis.com monitoring.googleapis.com
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
  say "firewall rules: HTTP and HTTPS from anywhere, SSH from IAP only"
  local name port
  for name in allow-http:80 allow-https:443; do
    port=${name#*:} name=chatbot-${name%%:*}
    exists g compute firewall-rules describe "$name" ||
      g compute firewall-rules create "$name" --network default --direction INGRESS --action ALLOW \
        --rules "tcp:$port" --source-ranges 0.0.0.0/0 --target-tags "$NETWORK_TAG"
  done
  # The default network's default-allow-ssh opens tcp:22 to the whole internet (priority 65534). For this VM it
  # is overridden, without touching the project's other VMs: a deny from anywhere (1000) under an allow from
  # IAP's range (900: a lower number wins). The deploy and people reach SSH through an IAP tunnel, authorised by
  # IAM, with the host key still pinned.
  exists g compute firewall-rules describe chatbot-allow-ssh-iap ||
    g compute firewall-rules create chatbot-allow-ssh-iap --network default --direction INGRESS --action ALLOW \
      --rules tcp:22 --source-ranges "$IAP_RANGE" --target-tags "$NETWORK_TAG" --priority 900 \
      --description "SSH to the chatbot VM through IAP TCP forwarding only"
  exists g compute firewall-rules describe chatbot-deny-ssh ||
    g compute firewall-rules create chatbot-deny-ssh --network default --direction INGRESS --action DENY \
      --rules tcp:22 --source-ranges 0.0.0.0/0 --target-tags "$NETWORK_TAG" --priority 1000 \
      --description "no direct SSH to the chatbot VM: default-allow-ssh would open it to the internet"
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
  # This secret only: every deploy reads its latest version on the VM (deploy/deploy.sh, deploy.conf).
  retry g secrets add-iam-policy-binding "$ENV_SECRET" --member "serviceAccount:$VM_SA" \
    --role roles/secretmanager.secretAccessor >/dev/null
}

step_vm() {
  say "static IP and VM $VM_NAME"
  exists g compute addresses describe "$VM_NAME-ip" --region "$REGION" ||
    g compute addresses create "$VM_NAME-ip" --region "$REGION"
  [ -f "$KEY_FILE.pub" ] || { echo "run the ssh-key step first" >&2; exit 64; }
  if exists g compute instances describe "$VM_NAME" --zone "$ZONE"; then
    # A VM made earlier runs this checkout's startup script from its next boot on (sudo
    # google_metadata_script_runner startup applies it now).
    g compute instances add-metadata "$VM_NAME" --zone "$ZONE" \
      --metadata-from-file startup-script=deploy/vm-bootstrap.sh --metadata "env-secret=$ENV_SECRET"
  else
    g compute instances create "$VM_NAME" --zone "$ZONE" --machine-type "$MACHINE_TYPE" \
      --image-family debian-12 --image-project debian-cloud --boot-disk-size 20GB \
      --address "$VM_NAME-ip" --tags "$NETWORK_TAG" \
      --service-account "$VM_SA" --scopes cloud-platform \
      --shielded-secure-boot --shielded-vtpm --shielded-integrity-monitoring \
      --metadata-from-file "startup-script=deploy/vm-bootstrap.sh,deploy-ssh-public-key=$KEY_FILE.pub" \
      --metadata "enable-guest-attributes=TRUE,deploy-user=$DEPLOY_USER,registry-host=$REGISTRY_HOST,env-secret=$ENV_SECRET"
  fi
  # enable-guest-attributes: the guest agent publishes the SSH host keys there (the known-hosts step reads them).
  echo "the VM runs deploy/vm-bootstrap.sh at every boot; follow it with:" >&2
  echo "  gcloud compute instances get-serial-port-output $VM_NAME --zone $ZONE --project $PROJECT_ID | grep startup-script" >&2
}

iap_call() { # URL, JSON body: POST with gcloud's access token, which goes through a file descriptor, never an argument
  curl -fsS --max-time 60 -X POST -H @<(printf 'Authorization: Bearer %s\n' "$(g auth print-access-token)") \
    -H 'Content-Type: application/json' --data-binary @- "$1" <<<"$2"
}

step_iap() {
  say "IAP: $DEPLOYER_SA may tunnel to $VM_NAME, and to nothing else"
  # The tunnel's IAM resource is this VM's own, in IAP. This gcloud has no command for it, so its REST API: read
  # the policy, add the binding, write it back with the etag read (a concurrent change makes the write fail).
  local resource=$IAP_API/projects/$PROJECT_ID/iap_tunnel/zones/$ZONE/instances/$VM_NAME policy updated ip
  policy=$(iap_call "$resource:getIamPolicy" '{"options": {"requestedPolicyVersion": 3}}')
  # shellcheck disable=SC2016 # Python source
  updated=$(MEMBER="serviceAccount:$DEPLOYER_SA" python3 -c '
import json, os, sys
policy, role, member = json.load(sys.stdin), "roles/iap.tunnelResourceAccessor", os.environ["MEMBER"]
bindings = policy.setdefault("bindings", [])
if not any(b["role"] == role and member in b.get("members", []) and "condition" not in b for b in bindings):
    bindings.append({"role": role, "members": [member]})
    print(json.dumps({"policy": policy}))
' <<<"$policy")
  if [ -n "$updated" ]; then
    iap_call "$resource:setIamPolicy" "$updated" >/dev/null
  else
    echo "already granted" >&2
  fi
  ip=$(g compute addresses describe "$VM_NAME-ip" --region "$REGION" --format 'value(address)')
  cat >&2 <<EOF
SSH by hand goes through IAP as well (port 22 answers nothing else). Your account needs the same role on the VM
(project owners have it). With your own Google account:
  gcloud compute ssh $VM_NAME --zone $ZONE --project $PROJECT_ID --tunnel-through-iap
With the deploy key and the pinned host key, as the workflow connects:
  ssh -i $KEY_FILE -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=$KNOWN_HOSTS_FILE \\
    -o ProxyCommand='gcloud compute start-iap-tunnel $VM_NAME %p --listen-on-stdin --zone=$ZONE --project=$PROJECT_ID' \\
    $DEPLOY_USER@$ip
EOF
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

render() { # template, host, channel, uptime check id: the template with its @PLACEHOLDERS@ filled in
  local text
  text=$(<"$1")
  text=${text//@PROJECT_ID@/$PROJECT_ID}
  text=${text//@LOG_NAME@/$LOG_NAME}
  text=${text//@HOST@/$2}
  text=${text//@CHANNEL@/$3}
  text=${text//@UPTIME_CHECK_ID@/$4}
  if [[ $text =~ @[A-Z_]+@ ]]; then echo "$1: unknown placeholder ${BASH_REMATCH[0]}" >&2; exit 1; fi
  printf '%s\n' "$text"
}

step_monitoring() {
  : "${ALERT_EMAIL:?set ALERT_EMAIL to the address that gets the alerts}"
  [[ $LOG_NAME =~ ^[A-Za-z0-9_.-]+$ ]] || { echo "LOG_NAME: not a plain log name: $LOG_NAME" >&2; exit 64; }
  local host=${PUBLIC_HOST:-} channel check file name existing rendered
  [ -n "$host" ] || host=$(g compute addresses describe "$VM_NAME-ip" --region "$REGION" --format 'value(address)')
  say "monitoring: https://$host/healthz, 5xx answers, upstream faults; alerts to $ALERT_EMAIL"
  rendered=$(mktemp -d)
  # Notification channels are beta (and alpha) in this gcloud, alert policies alpha only.
  channel=$(g beta monitoring channels list --filter "type=\"email\" AND labels.email_address=\"$ALERT_EMAIL\"" \
    --format 'value(name)' | head -n 1)
  [ -n "$channel" ] || channel=$(g beta monitoring channels create --type email --display-name "chatbot alerts" \
    --channel-labels "email_address=$ALERT_EMAIL" --format 'value(name)')
  # Log-based metrics over the service's log: the files are the source of truth, applied again on every run.
  for file in deploy/monitoring/metrics/*.json; do
    name=$(basename "$file" .json)
    render "$file" "$host" "$channel" "" >"$rendered/$name.json"
    if exists g logging metrics describe "$name"; then
      g logging metrics update "$name" --config-from-file "$rendered/$name.json" >/dev/null
    else
      g logging metrics create "$name" --config-from-file "$rendered/$name.json" >/dev/null
    fi
  done
  # GET https://HOST/healthz every minute from every region, expecting {"status": "ok"}.
  check=$(g monitoring uptime list-configs --filter 'displayName="chatbot-healthz"' --format 'value(name)' |
    head -n 1)
  # shellcheck disable=SC2016 # $.status is a JSON path, not a shell variable
  [ -n "$check" ] || check=$(g monitoring uptime create chatbot-healthz --resource-type uptime-url \
    --resource-labels "host=$host,project_id=$PROJECT_ID" --protocol https --port 443 --path /healthz \
    --validate-ssl "$UPTIME_VALIDATE_SSL" --matcher-type matches-json-path --json-path '$.status' \
    --json-path-matcher-type exact-match --matcher-content ok --period 1 --timeout 10 --format 'value(name)')
  [ -n "$check" ] || { echo "the uptime check was not created" >&2; exit 1; }
  # Alert policies, found again by their chatbot_policy label (the file's name), updated from the files.
  for file in deploy/monitoring/policies/*.json; do
    name=$(basename "$file" .json)
    render "$file" "$host" "$channel" "${check##*/}" >"$rendered/$name.json"
    existing=$(g alpha monitoring policies list --filter "userLabels.chatbot_policy=$name" --format 'value(name)' |
      head -n 1)
    if [ -n "$existing" ]; then
      g alpha monitoring policies update "$existing" --policy-from-file "$rendered/$name.json" >/dev/null
    else
      g alpha monitoring policies create --policy-from-file "$rendered/$name.json" >/dev/null
    fi
  done
  rm -rf "$rendered"
  echo "alerts go to $ALERT_EMAIL; uptime check ${check##*/} on https://$host/healthz" >&2
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
  gh variable set VM_NAME "${env[@]}" --body "$VM_NAME"
  gh variable set GCP_ZONE "${env[@]}" --body "$ZONE"
  gh variable set VM_USER "${env[@]}" --body "$DEPLOY_USER"
  gh variable set VM_DEPLOY_DIR "${env[@]}" --body /opt/chatbot
  gh variable set PUBLIC_URL "${env[@]}" --body "https://$ip"
  gh secret set VM_SSH_PRIVATE_KEY "${env[@]}" <"$KEY_FILE"
  gh secret set VM_KNOWN_HOSTS "${env[@]}" <"$KNOWN_HOSTS_FILE"
}

[ $# -gt 0 ] || { sed -n '2,33p' "$0"; exit 64; }
for s in "$@"; do
  case $s in
    all) set -- apis registry accounts firewall ssh-key env-secret vm iap wif known-hosts monitoring github
         for t; do "step_${t//-/_}"; done ;;
    apis | registry | accounts | firewall | ssh-key | env-secret | vm | iap | wif | known-hosts | monitoring | github)
      "step_${s//-/_}" ;;
    *) echo "unknown step: $s" >&2; exit 64 ;;
  esac
done
