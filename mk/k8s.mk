# GKE: render deploy/k8s into one manifest, apply it with kubectl, and the offline checks of tests/deploy/test_k8s.py
# (kubernetes-validate, checkov). No cluster runs here: docs/k8s.md says what is checked and what is not.

K8S_TOOLS := build/k8s-tools
K8S_VALIDATE := $(K8S_TOOLS)/bin/kubernetes-validate
CHECKOV := $(K8S_TOOLS)/bin/checkov
# Your cluster's settings (PROJECT_ID, DOMAIN, ...): a git-ignored file, see deploy/k8s/env.k8s.example.
K8S_ENV ?= .env.k8s
K8S_MANIFEST := build/k8s/chatbot.yaml

.PHONY: deps-k8s lint-k8s test-k8s k8s-manifest k8s-apply lock-k8s-tools

deps: deps-k8s
lint: lint-k8s

$(K8S_VALIDATE): deploy/k8s/tools-requirements.txt
	python3 -m venv $(K8S_TOOLS)
	$(K8S_TOOLS)/bin/pip install -q --disable-pip-version-check --require-hashes -r deploy/k8s/tools-requirements.txt
	@touch $(K8S_VALIDATE) $(CHECKOV)

deps-k8s: $(K8S_VALIDATE) ## what the manifest checks need: kubernetes-validate and checkov (PyPI, hash-pinned) in build/k8s-tools

lock-k8s-tools: install ## re-pin deploy/k8s/tools-requirements.txt from tools-requirements.in
	$(PY) -m uv --version >/dev/null 2>&1 || $(PIP) install -q uv
	$(VENV)/bin/uv pip compile deploy/k8s/tools-requirements.in --universal --python-version 3.11 --generate-hashes -q \
		-o deploy/k8s/tools-requirements.txt

lint-k8s: install ## ruff and mypy over deploy/k8s/render.py
	$(VENV)/bin/ruff check deploy/k8s
	$(VENV)/bin/ruff format --check deploy/k8s
	$(VENV)/bin/mypy --strict deploy/k8s/render.py

test-k8s: install deps-k8s ## the manifest checks only (render, kubernetes-validate --strict, checkov, CRD shapes)
	$(PY) -m pytest -q tests/deploy/test_k8s.py

k8s-manifest: ## render build/k8s/chatbot.yaml from deploy/k8s and $(K8S_ENV) (TAG=<sha> to pick the image)
	python3 deploy/k8s/render.py --env-file $(K8S_ENV) -o $(K8S_MANIFEST)
	@echo "rendered $(K8S_MANIFEST)"

k8s-apply: k8s-manifest ## apply it to the current kubectl context and wait for the rollout (TAG=<sha>)
	kubectl apply -f $(K8S_MANIFEST)
	kubectl -n chatbot rollout status deployment/chatbot --timeout=15m
