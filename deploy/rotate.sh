#!/usr/bin/env bash
# Rotates the keys kept in the VM's .env secret without an outage, from the operator's machine (gcloud logged in
# with access to the secret; the deploy settings of `make deploy`). Each command edits one line of the secret's
# latest version in memory, adds the result as a new version, then deploys the live release again
# (deploy/release.sh with TAG=current): the VM reads the new version and the containers get it through the
# deploy's own rollout, rolled back with the previous .env if it does not come up healthy.
#
#   deploy/rotate.sh COMMAND [--stdin] [--no-deploy]
#     list                  the client keys (API_KEY) by fingerprint, the widget keys (WIDGET_KEY) in full
#     add-api-key           a new client key beside the current ones: both are accepted until one is retired
#     retire-api-key ID     removes one client key. ID: its fingerprint (sha256:..., from `list`) or its first 8+
#                           characters
#     set-openai-key        replaces OPENAI_API_KEY with the key read from standard input
#     add-widget-key        a new publishable widget key (pk_...) beside the current ones
#     retire-widget-key ID  removes one widget key
#     apply                 deploys the live release again with the latest secret version, editing nothing
#   New keys come from the kernel's CSPRNG (/dev/urandom) and are printed once, alone on standard output; with
#   --stdin they are read from standard input instead. Secret values never go through arguments.
#   --no-deploy: only add the secret version; the next deploy applies it.
#
# Settings (environment, or DEPLOY_ENV=.env.deploy as for `make deploy`): ENV_SECRET (chatbot-env), PROJECT_ID
# (gcloud's current project otherwise), and release.sh's (REGISTRY, DEPLOY_HOST, DEPLOY_SSH_KEY, ...).
# One operator at a time: two rotations at once would each edit the same version, and the later one would win.
set -euo pipefail
cd "$(dirname "$0")/.."
umask 077

DEPLOY_ENV=${DEPLOY_ENV:-.env.deploy}
case $DEPLOY_ENV in /*) ;; *) DEPLOY_ENV=./$DEPLOY_ENV ;; esac
# shellcheck source=/dev/null # the operator's own settings file, as `make deploy` reads it
if [ -f "$DEPLOY_ENV" ]; then set -a; . "$DEPLOY_ENV"; set +a; fi
ENV_SECRET=${ENV_SECRET:-chatbot-env}
PROJECT_ID=${PROJECT_ID:-}

say() { printf 'rotate: %s\n' "$*" >&2; }
die() { say "$*"; exit 64; }
usage() { sed -n '8,19p' "$0" >&2; exit 64; }
g() { gcloud ${PROJECT_ID:+--project "$PROJECT_ID"} --quiet "$@"; }

COMMAND=${1:-}
[ -n "$COMMAND" ] || usage
shift
ID='' FROM_STDIN='' DEPLOY=1
while [ $# -gt 0 ]; do
  case $1 in
    --stdin) FROM_STDIN=1 ;;
    --no-deploy) DEPLOY= ;;
    -h | --help) usage ;;
    -*) die "unknown option $1" ;;
    *) [ -z "$ID" ] || usage; ID=$1 ;;
  esac
  shift
done
[[ $ENV_SECRET =~ ^[A-Za-z0-9_/-]+$ ]] || die "not a secret name: $ENV_SECRET"

LINES=()
read_secret() { # LINES <- the latest version, one line each (memory only)
  local out
  out=$(g secrets versions access latest --secret "$ENV_SECRET" && printf x) ||
    { say "cannot read the latest version of $ENV_SECRET"; exit 1; }
  mapfile -t LINES < <(printf '%s' "${out%x}")
}

line_of() { # name: index of the line that sets it (the last one: compose's .env takes the last), or -1
  local i found=-1
  for i in "${!LINES[@]}"; do
    [[ ${LINES[$i]} =~ ^[[:space:]]*(export[[:space:]]+)?$1[[:space:]]*= ]] && found=$i
  done
  printf '%s\n' "$found"
}

value_of() { # name: its value, without quotes or a trailing comment
  local i value
  i=$(line_of "$1")
  [ "$i" -ge 0 ] || return 0
  value=${LINES[$i]#*=}
  value=${value#"${value%%[![:space:]]*}"}
  if [[ $value =~ ^\"(.*)\"[[:space:]]*$ || $value =~ ^\'(.*)\'[[:space:]]*$ ]]; then
    value=${BASH_REMATCH[1]}
  else
    value=${value%%[[:space:]]#*}
    value=${value%"${value##*[![:space:]]}"}
  fi
  printf '%s' "$value"
}

set_value() { # name, value: rewrites its line in place (other lines setting it go), or appends one
  local i last kept=()
  last=$(line_of "$1")
  for i in "${!LINES[@]}"; do
    if [[ ${LINES[$i]} =~ ^[[:space:]]*(export[[:space:]]+)?$1[[:space:]]*= ]]; then
      [ "$i" = "$last" ] && kept+=("$1=$2")
    else
      kept+=("${LINES[$i]}")
    fi
  done
  [ "$last" -ge 0 ] || kept+=("$1=$2")
  LINES=("${kept[@]}")
}

KEYS=()
read_keys() { # name: KEYS <- its comma-separated list, trimmed, empty entries dropped
  local rest key
  KEYS=()
  # Split in memory: a here-string would go through a temporary file in older shells.
  rest=$(value_of "$1"),
  while [ -n "$rest" ]; do
    key=${rest%%,*}
    rest=${rest#*,}
    key=${key#"${key%%[![:space:]]*}"}
    key=${key%"${key##*[![:space:]]}"}
    [ -z "$key" ] || KEYS+=("$key")
  done
}

fingerprint() { printf 'sha256:%s' "$(printf '%s' "$1" | sha256sum | cut -c1-12)"; }
random_hex() { head -c "$1" /dev/urandom | od -An -v -tx1 | tr -d ' \n'; }

read_key() { # prompt, pattern: a key from standard input (not echoed on a terminal), checked against pattern
  local key=
  if [ -t 0 ]; then
    read -r -s -p "$1: " key || true
    echo >&2
  else
    IFS= read -r key || true
  fi
  [[ $key =~ $2 ]] || die "that is not a valid key (expected $2)"
  printf '%s' "$key"
}

write_secret() { # what changed: adds LINES as the secret's new version
  printf '%s\n' "${LINES[@]}" | g secrets versions add "$ENV_SECRET" --data-file=- ||
    { say "could not add a version to $ENV_SECRET: nothing changed"; exit 1; }
  say "$ENV_SECRET: new version added ($1)"
}

live() { if [ -n "$DEPLOY" ]; then printf 'from now on'; else printf 'after the next deploy'; fi; }

deploy() {
  if [ -z "$DEPLOY" ]; then
    say "--no-deploy: the VM applies it at the next deploy (or: deploy/rotate.sh apply)"
    return 0
  fi
  say "deploying the live release again so that the VM applies it"
  if ! TAG=current deploy/release.sh; then
    say "the deploy failed: the new version is stored, but the VM still runs the one before."
    say "Fix the cause, then run: deploy/rotate.sh apply"
    exit 1
  fi
}

add_key() { # variable, pattern of a valid key, prefix of a generated one, bytes of randomness
  local key
  read_secret
  read_keys "$1"
  if [ -n "$FROM_STDIN" ]; then key=$(read_key "new $1 key" "$2"); else key=$3$(random_hex "$4"); fi
  local k
  for k in "${KEYS[@]}"; do [ "$k" != "$key" ] || die "that key is already in $1"; done
  KEYS+=("$key")
  set_value "$1" "$(IFS=,; printf '%s' "${KEYS[*]}")"
  write_secret "$1: added $(fingerprint "$key"); keys: ${#KEYS[@]}"
  [ -n "$FROM_STDIN" ] || printf '%s\n' "$key"
  deploy
  say "$1: $(fingerprint "$key") is accepted $(live), beside the others; retire an old one once no client uses it"
}

retire_key() { # variable
  [ -n "$ID" ] || die "which key? give its fingerprint (deploy/rotate.sh list) or its first 8+ characters"
  local k match=() kept=() hex=
  if [[ $ID =~ ^sha256:([0-9a-f]{8,64})$ ]]; then
    hex=${BASH_REMATCH[1]}
  elif [ ${#ID} -lt 8 ]; then
    die "give at least 8 characters of the key, or its fingerprint"
  fi
  read_secret
  read_keys "$1"
  for k in "${KEYS[@]}"; do
    if { [ -n "$hex" ] && [[ $(printf '%s' "$k" | sha256sum) == "$hex"* ]]; } ||
      { [ -z "$hex" ] && [[ $k == "$ID"* ]]; }; then
      match+=("$k")
    else
      kept+=("$k")
    fi
  done
  [ ${#match[@]} -gt 0 ] || die "no key of $1 matches $ID"
  [ ${#match[@]} -eq 1 ] || die "${#match[@]} keys of $1 match $ID: give more of it"
  [ ${#kept[@]} -gt 0 ] || die "$(fingerprint "${match[0]}") is the only key of $1: add its successor first"
  set_value "$1" "$(IFS=,; printf '%s' "${kept[*]}")"
  write_secret "$1: retired $(fingerprint "${match[0]}"); keys: ${#kept[@]}"
  deploy
  say "$1: $(fingerprint "${match[0]}") is refused $(live)"
}

list() {
  local k
  read_secret
  read_keys API_KEY
  echo "API_KEY (client keys, by fingerprint):"
  for k in "${KEYS[@]}"; do echo "  $(fingerprint "$k")"; done
  read_keys WIDGET_KEY
  echo "WIDGET_KEY (publishable widget keys):"
  for k in "${KEYS[@]}"; do echo "  $k"; done
  k=$(value_of OPENAI_API_KEY)
  if [ -n "$k" ]; then echo "OPENAI_API_KEY: $(fingerprint "$k")"; else echo "OPENAI_API_KEY: empty (FAQ only)"; fi
}

case $COMMAND in
  list) list ;;
  add-api-key) add_key API_KEY '^[A-Za-z0-9._~+/=-]{16,256}$' '' 32 ;;
  retire-api-key) retire_key API_KEY ;;
  add-widget-key) add_key WIDGET_KEY '^pk_[A-Za-z0-9_-]{16,128}$' pk_ 16 ;;
  retire-widget-key) retire_key WIDGET_KEY ;;
  set-openai-key)
    key=$(read_key "new OPENAI_API_KEY" '^[A-Za-z0-9._~+/=:-]{8,1024}$')
    read_secret
    [ "$(value_of OPENAI_API_KEY)" != "$key" ] || die "OPENAI_API_KEY already holds that key"
    set_value OPENAI_API_KEY "$key"
    write_secret "OPENAI_API_KEY: now $(fingerprint "$key")"
    deploy
    say "OPENAI_API_KEY: $(fingerprint "$key") is used $(live); then revoke the old key at the provider"
    ;;
  apply) deploy ;;
  *) usage ;;
esac
