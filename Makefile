# chatbot-mvp task runner: every target is a thin wrapper; `make` alone lists them.
# Each area keeps its targets in mk/<area>.mk so that they stay small and separate.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip

.PHONY: help install lock run lint fmt test test-unit test-integration deps deps-service deps-bench bench bench-replicas clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(VENV)/.installed: requirements-dev.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --disable-pip-version-check --require-hashes -r requirements-dev.lock
	$(PIP) install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

install: $(VENV)/.installed ## create .venv from the lock file (dev tools included)

lock: ## re-resolve requirements.lock and requirements-dev.lock from pyproject.toml
	$(PY) -m uv --version >/dev/null 2>&1 || $(PIP) install -q uv
	$(VENV)/bin/uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes -q -o requirements.lock
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 --generate-hashes -q -o requirements-dev.lock

run: install ## run the service on this machine (python -m chatbot; reads .env)
	$(PY) -m chatbot

lint: install ## ruff and mypy
	$(VENV)/bin/ruff check chatbot tests bench scripts
	$(VENV)/bin/ruff format --check chatbot tests bench scripts
	$(VENV)/bin/mypy chatbot tests bench scripts

fmt: install ## format and autofix with ruff
	$(VENV)/bin/ruff format chatbot tests bench scripts
	$(VENV)/bin/ruff check --fix chatbot tests bench scripts

test-unit: install ## unit tests only
	$(PY) -m pytest tests/unit -q

test-integration: install ## the real service over HTTP against local fakes
	$(PY) -m pytest tests/integration -q

test: install deps ## every test: unit, integration, end-to-end stack, clients, deploy rehearsal (groups side by side: TEST_JOBS=2)
	@PY=$(PY) scripts/test.sh

# QUICK=1: a smoke run of every benchmark (short runs, small levels), to check that they work.
BENCH_FLAGS := $(if $(QUICK),--quick)

bench: install deps-service deps-bench ## benchmarks (wrk, Redis, the compose stack); prints Markdown tables; QUICK=1: smoke run
	$(PY) bench/chat.py $(BENCH_FLAGS)
	$(PY) bench/state.py $(BENCH_FLAGS)
	$(PY) bench/metrics_cost.py $(BENCH_FLAGS)
	$(PY) bench/streams.py $(BENCH_FLAGS)
	$(PY) bench/faq.py $(if $(QUICK),--sizes 1000 --queries 500)

deps-bench: ## what the benchmarks drive the service with: wrk (Debian); not in `deps`, CI runs no benchmark
	@command -v wrk >/dev/null || { \
		echo "apt-get install wrk"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			wrk >/dev/null; }

bench-replicas: install ## /chat through Nginx with 1, 2 and 4 chatbot replicas (Docker, wrk); prints a table
	$(PY) bench/replicas.py

clean: ## remove the virtualenv and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info

# Areas: the compose stack, deploy, clients (Postman, WordPress). Each may add a `deps-<area>` prerequisite to
# `deps`, which .ci/run calls to install what the tests need on a fresh machine.
deps: install deps-service ## install what the whole test suite needs (CI calls this)

deps-service: ## what the service's integration tests run for real: Redis (Debian's redis-server)
	@command -v redis-server >/dev/null && command -v redis-cli >/dev/null || { \
		echo "apt-get install redis-server"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			redis-server redis-tools >/dev/null; }

-include mk/*.mk
