#!/usr/bin/env bash
# The compose stack's commands, called by `make up|down|logs|ps` (mk/stack.mk).
#   up    creates .env from .env.example with a fresh API_KEY when there is none, creates the certificate,
#         builds and starts the stack, waits until it is healthy, prints the URL and a curl call to paste
#   certs               the self-signed certificate alone (DOMAIN, CERT_HOSTS from the environment or .env)
#   down | logs | ps    the same on the running stack
# Env: COMPOSE_FILES (default "compose.yaml"), COMPOSE_PROJECT_NAME, PYTHON_IMAGE / NGINX_IMAGE / REDIS_IMAGE /
# CERTBOT_IMAGE (else .env, else the official images, or the local/ stand-ins when those exist and Docker Hub is
# unreachable). With DOMAIN (environment or .env), the certbot service runs too (compose profile `acme`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf 'stack: %s\n' "$*" >&2; }

# A value from .env (the last assignment wins, as in compose); empty when unset.
env_value() { [[ -f .env ]] && sed -n "s/^$1=//p" .env | tail -n 1 | sed -e 's/^"\(.*\)"$/\1/' -e "s/^'\(.*\)'$/\1/"; }

compose() {
  local files=() f
  for f in ${COMPOSE_FILES:-compose.yaml}; do files+=(-f "$f"); done
  # A DOMAIN gets its certificate from Let's Encrypt: the certbot service (docs/certificates.md).
  if [[ -n $(domain) ]]; then files+=(--profile acme); fi
  docker compose "${files[@]}" "$@"
}

domain() { echo "${DOMAIN:-$(env_value DOMAIN)}"; }

# The self-signed certificate, unless certs/ has one: also the placeholder served until certbot has DOMAIN's.
make_certs() {
  CERT_HOSTS=${CERT_HOSTS:-$(env_value CERT_HOSTS)} DOMAIN=$(domain) scripts/certs.sh
}

# The stack's own HTTPS origin: the first CERT_HOSTS entry (the VM's address or name), else localhost.
own_origin() {
  local hosts host port
  hosts=${CERT_HOSTS:-$(env_value CERT_HOSTS)}
  hosts="${DOMAIN:-$(env_value DOMAIN)} ${hosts//,/ }"
  read -r host _ <<<"$hosts" || true
  host=${host:-localhost}
  [[ $host == *:* ]] && host="[$host]"
  port=${HTTPS_PORT:-$(env_value HTTPS_PORT)}
  port=${port:-443}
  echo "https://$host$([[ $port == 443 ]] || echo ":$port")"
}

# Sets NAME=VALUE in .env when NAME is unset or empty there (keeps the owner's own choices).
default_in_env() {
  local name=$1 value=$2
  [[ -n $(env_value "$name") ]] && return 1
  if grep -q "^$name=" .env; then sed -i "s|^$name=.*|$name=$value|" .env; else echo "$name=$value" >>.env; fi
}

ensure_env() {
  if [[ -f .env ]]; then
    if grep -q '^API_KEY=.*!!!' .env; then
      say ".env still holds the API_KEY placeholder: set a key, or delete .env to get a generated one"; exit 1
    fi
  else
    # umask: .env holds secrets, so only its owner may read it.
    (umask 077 && sed "s/^API_KEY=.*/API_KEY=$(openssl rand -hex 32)/" .env.example >.env)
    say "created .env from .env.example with a freshly generated API_KEY (edit .env to add OPENAI_API_KEY;"
    say "without one the chatbot answers from faq/faq.md alone)"
  fi
  # The widget's keys, generated beside API_KEY (also into an older .env that has none yet).
  if default_in_env WIDGET_KEY "pk_$(openssl rand -hex 16)"; then say "generated WIDGET_KEY (publishable: it goes in web pages)"; fi
  default_in_env WIDGET_SECRET "$(openssl rand -hex 32)" || true
  if default_in_env WIDGET_ORIGINS "$(own_origin)"; then say "WIDGET_ORIGINS=$(own_origin) (add your sites' origins there)"; fi
}

# Picks a base image: the caller's or .env's choice; else the official one when it is here or Docker Hub answers;
# else the local stand-in built by ../shared/tools/docker-sandbox (machines without Docker Hub).
choose_image() {
  local var=$1 official=$2 standin=$3 chosen
  chosen=${!var:-$(env_value "$var")}
  if [[ -z $chosen ]]; then
    chosen=$official
    if ! docker image inspect "$official" >/dev/null 2>&1 \
      && ! curl -sS -o /dev/null --max-time 3 https://registry-1.docker.io/v2/ 2>/dev/null; then
      if docker image inspect "$standin" >/dev/null 2>&1; then
        say "Docker Hub is unreachable: building on the local stand-in $standin instead of $official"
        chosen=$standin
      else
        say "Docker Hub is unreachable and neither $official nor $standin is here: the build will fail."
        say "Set $var to an image you have, or build the stand-ins: ../shared/tools/docker-sandbox base-images"
      fi
    fi
  fi
  export "$var=$chosen"
}

acme_server() { local s=${ACME_SERVER:-$(env_value ACME_SERVER)}; echo "${s:-production} (ACME_SERVER)"; }

cmd_up() {
  command -v docker >/dev/null || { say "docker is not installed (see the README: 'The compose stack')"; exit 1; }
  docker info >/dev/null 2>&1 || { say "no Docker engine answers (here: eval \"\$(../shared/tools/docker-sandbox start)\")"; exit 1; }
  ensure_env
  mkdir -p faq
  make_certs
  choose_image PYTHON_IMAGE python:3.13-slim local/python:3.13-slim
  choose_image NGINX_IMAGE nginx:stable local/nginx:stable
  choose_image REDIS_IMAGE redis:7-alpine local/redis:7
  # The optional Prometheus (docs/metrics.md), only when its profile is on (COMPOSE_PROFILES here or in .env).
  if [[ ,${COMPOSE_PROFILES:-$(env_value COMPOSE_PROFILES)}, == *,monitoring,* ]]; then
    choose_image PROMETHEUS_IMAGE prom/prometheus:v2.53.3 local/prometheus:latest
  fi
  if [[ -n $(domain) ]]; then choose_image CERTBOT_IMAGE certbot/certbot:latest local/certbot:latest; fi
  # --build: never a plain pull of our own images; --wait: return once both healthchecks pass.
  compose up -d --build --wait --wait-timeout "${WAIT_TIMEOUT:-180}"
  # DOMAIN gone since the last `make up`: the certbot it started stops (its profile is off now).
  if [[ -z $(domain) ]]; then compose --profile acme rm --stop --force certbot >/dev/null 2>&1 || true; fi
  # A running Nginx keeps the certificate it started with: a graceful reload picks up a renewed one. The
  # signal returns at once; the old workers stop accepting within moments, hence the pause.
  if compose exec -T nginx nginx -s reload >/dev/null 2>&1; then sleep 1
  else say "could not reload nginx (certificate changes need: docker compose restart nginx)"; fi
  local key url
  # The first CERT_HOSTS entry (the VM's address) when there is one: the URL others will use.
  url=$(own_origin)
  key=$(env_value API_KEY)
  key=${key%%,*}
  local note tls
  if [[ -n $(domain) ]]; then
    note="certbot is asking $(acme_server) for a certificate for $(domain): port 80 must reach this machine.
Until it arrives (usually within a minute; make logs shows it), the self-signed placeholder is served."
    tls=
  else
    note="The certificate is self-signed: curl needs --cacert certs/fullchain.pem (or -k), browsers a one-time exception."
    tls="--cacert certs/fullchain.pem "
  fi
  cat <<MSG

The chatbot is up at $url  (Swagger: $url/api-docs, the widget on a demo page: $url/demo)
$note
Try it:

  curl ${tls}-H 'x-api-key: $key' -H 'Content-Type: application/json' \\
    -d '{"message": "Comment modifier la FAQ ?"}' $url/chat

MSG
}

case ${1:-} in
  up) cmd_up ;;
  certs) make_certs ;;
  down) compose --profile acme down --remove-orphans ;;
  logs) compose logs --follow --tail "${TAIL:-200}" ;;
  ps) compose ps ;;
  *) sed -n '2,8p' "$0" >&2; exit 2 ;;
esac
