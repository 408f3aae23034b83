# Certificates from Let's Encrypt (certbot service, profile `acme`): what its tests need, and its lint.
# Included by the root Makefile (-include mk/*.mk); docs/certificates.md.

.PHONY: deps-certs lint-certs

deps: deps-certs
lint: lint-certs

deps-certs: deps-stack ## what the certificate tests need: Pebble (Let's Encrypt's test CA, apt) and the certbot image
	@command -v pebble >/dev/null || { \
		echo "apt-get install pebble"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			pebble >/dev/null; }
	@# Here (no Docker Hub) the stand-in local/certbot:latest; elsewhere the tests use certbot/certbot.
	@if [ -x $(DOCKER_SANDBOX) ]; then $(DOCKER_SANDBOX) base-images certbot; fi

lint-certs: install ## shellcheck the certificate scripts; ruff and mypy over certbot/; the test's compose file
	shellcheck nginx/follow-certificate.sh
	$(VENV)/bin/ruff check certbot
	$(VENV)/bin/ruff format --check certbot
	$(VENV)/bin/mypy --strict certbot/certificates.py
	@if docker compose version >/dev/null 2>&1; then \
		API_KEY=x docker compose -f compose.yaml -f tests/e2e/compose.certs.yaml --profile acme config --quiet \
			--no-interpolate && echo "compose files (acme) ok"; fi
