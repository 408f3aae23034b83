# The compose stack: the chatbot behind Nginx (TLS), and its end-to-end tests' needs.
# Included by the root Makefile (-include mk/*.mk); the logic lives in scripts/stack.sh and scripts/certs.sh.

STACK_ROOT := $(patsubst %/,%,$(dir $(abspath $(firstword $(MAKEFILE_LIST)))))
# CI clones the repository with ../shared beside it.
DOCKER_SANDBOX ?= $(abspath $(STACK_ROOT)/../shared/tools/docker-sandbox)
# Extra compose files, e.g. COMPOSE_FILES="compose.yaml compose.gcp-key.yaml" for Cloud Logging with a key file.
COMPOSE_FILES ?= compose.yaml
export COMPOSE_FILES

.PHONY: up down logs ps certs faq-gaps deps-stack lint-stack

deps: deps-stack
lint: lint-stack

up: ## start chatbot + Nginx over HTTPS (creates .env with a fresh API_KEY and a self-signed cert when missing)
	@scripts/stack.sh up

down: ## stop and remove the stack's containers (images, .env and certs stay)
	@scripts/stack.sh down

logs: ## follow the stack's logs (JSON lines from Nginx and the chatbot)
	@scripts/stack.sh logs

ps: ## show the stack's containers and their health
	@scripts/stack.sh ps

faq-gaps: ## the questions the FAQ did not answer (FAQ_GAPS=true), from the running stack, as a table
	@python3 scripts/faq_gaps.py

certs: ## create a self-signed certificate in certs/ if none exists (SAN: localhost, 127.0.0.1, CERT_HOSTS)
	@scripts/stack.sh certs

deps-stack: ## what the stack's tests need: Docker engine, Compose, buildx and base images (docker-sandbox), openssl, shellcheck
	@command -v openssl >/dev/null && command -v shellcheck >/dev/null && command -v curl >/dev/null || { \
		echo "apt-get install openssl shellcheck curl"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			openssl shellcheck curl >/dev/null; }
	@# Here (no Docker Hub) docker-sandbox provides the engine and stand-in base images; a machine that already
	@# has an engine and reaches Docker Hub (a GitHub runner, a laptop) needs neither.
	@if [ -x $(DOCKER_SANDBOX) ]; then \
		$(DOCKER_SANDBOX) start >/dev/null && $(DOCKER_SANDBOX) base-images; \
	elif docker info >/dev/null 2>&1; then \
		echo "deps-stack: no $(DOCKER_SANDBOX); using the running Docker engine and the official base images"; \
	elif [ -n "$$CI" ]; then \
		echo "deps-stack: no Docker engine and no $(DOCKER_SANDBOX) (CI clones ../shared beside the repo)"; exit 1; \
	else \
		echo "deps-stack: no Docker engine: the end-to-end tests will be skipped"; \
	fi

lint-stack: ## shellcheck the stack's scripts, check compose files
	shellcheck scripts/certs.sh scripts/stack.sh scripts/test.sh nginx/healthcheck.sh nginx/follow-upstream.sh nginx/derive-settings.sh \
		nginx/rotate-logs.sh
	@if docker compose version >/dev/null 2>&1; then \
		API_KEY=x docker compose -f compose.yaml -f tests/e2e/compose.test.yaml config --quiet --no-interpolate \
		&& echo "compose files ok"; fi
