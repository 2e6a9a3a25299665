# AI Lounge — everyday commands. `make run` starts the platform, `make test` checks it. Both
# create .venv and install what they need first, skipped while the requirements are unchanged
# (scripts/install.sh keeps one stamp per set): `make run` installs requirements/base.txt (plus
# the ML stack of requirements/worker.txt with ENGINES=diffusers or a diffusion engine configured),
# `make test` and the tool targets install requirements/dev.txt.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
ENGINES ?=
export VENV ENGINES
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
export PYTEST_ARGS

.PHONY: help install install-run install-dev run test lint format bench clean distclean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 12

install-run: ## what `make run` installs: base.txt, plus worker.txt for ENGINES=diffusers
	@set=$$(scripts/install.sh --wanted) && PYTHON=$(PYTHON) scripts/install.sh "$$set"

install-dev:
	@PYTHON=$(PYTHON) scripts/install.sh dev

install: install-dev ## create .venv and install requirements/dev.txt (everything)

run: install-run ## start web, worker, beat and a private Redis on http://127.0.0.1:8000/ (PORT=...)
	@scripts/run.sh

test: install-dev ## ruff check, ruff format --check, pytest (extra args: PYTEST_ARGS='-k x')
	@scripts/test.sh

lint: install-dev ## ruff check, format check and the import contracts (lint-imports)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

format: install-dev ## ruff format and autofix
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: install-dev ## run every bench/*.py script
	@shopt -s nullglob; scripts=(bench/*.py); \
	[ $${#scripts[@]} -gt 0 ] || { echo "no bench/*.py scripts"; exit 0; }; \
	for s in "$${scripts[@]}"; do echo "==> $$s"; $(PY) "$$s" || exit 1; done

clean: ## remove caches, collected static files, test databases and artifacts (keeps var/db.sqlite3, var/media, var/redis)
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +
	rm -rf .pytest_cache .ruff_cache test-artifacts
	rm -rf var/staticfiles var/test-media var/test.sqlite3* var/Procfile.run var/redis-*.log var/celerybeat-schedule*

distclean: clean ## also remove .venv and var/ (the local database and media!)
	rm -rf $(VENV) var
