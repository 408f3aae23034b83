# Docker Swarm: deploy/swarm/stack.yaml, and its test on a one-node swarm of a test engine (tests/swarm).
# docs/swarm.md. Variables of the stack (TAG, NGINX_TAG, REGISTRY, CHATBOT_REPLICAS, ...) come from the shell.

SWARM_STACK ?= chatbot

.PHONY: lint-swarm test-swarm swarm-deploy

lint: lint-swarm

lint-swarm: ## shellcheck the Swarm entrypoint; check the stack file as `docker stack` reads it
	shellcheck -s sh deploy/swarm/entrypoint.sh
	@if docker stack config --help >/dev/null 2>&1; then \
		CHATBOT_SETTINGS=/dev/null docker stack config -c deploy/swarm/stack.yaml >/dev/null && echo "swarm stack ok"; fi

test-swarm: install ## the stack on a one-node swarm of the tests' own dockerd, removed after (~2 min)
	$(PY) -m pytest -q tests/swarm

swarm-deploy: ## deploy or update the stack on the swarm this Docker CLI manages (SWARM_STACK, variables: docs/swarm.md)
	docker stack deploy --with-registry-auth -c deploy/swarm/stack.yaml $(SWARM_STACK)
