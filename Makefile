# AI Lounge — everyday commands. `make run` starts the platform, `make test` checks it; both
# create .venv and install requirements/dev.txt first (skipped while the requirements are unchanged).

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
export VENV
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
export PYTEST_ARGS

# The stamp's name carries a hash of every requirements file: change one and the next run installs.
REQ_FILES := $(sort $(wildcard requirements/*.txt))
REQ_HASH := $(shell cat $(REQ_FILES) /dev/null | sha256sum | cut -c1-16)
STAMP := $(VENV)/.installed-$(REQ_HASH)

.PHONY: help install run test lint format bench clean distclean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 12

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "AI Lounge needs Python 3.11+; $(PYTHON) is $$($(PYTHON) --version 2>&1). Try: make PYTHON=/path/to/python3.11 ..."; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): | $(PY)
	@test -f requirements/dev.txt || { echo "requirements/dev.txt is missing"; exit 1; }
	$(PY) -m pip install -r requirements/dev.txt
	@rm -f $(VENV)/.installed-*
	@touch $@

install: $(STAMP) ## create .venv and install requirements/dev.txt

run: $(STAMP) ## start web, worker, beat (and Redis if needed) on http://127.0.0.1:8000/ (PORT=...)
	@scripts/run.sh

test: $(STAMP) ## ruff check, ruff format --check, pytest (extra args: PYTEST_ARGS='-k x')
	@scripts/test.sh

lint: $(STAMP) ## ruff check and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP) ## ruff format and autofix
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(STAMP) ## run every bench/*.py script
	@shopt -s nullglob; scripts=(bench/*.py); \
	[ $${#scripts[@]} -gt 0 ] || { echo "no bench/*.py scripts"; exit 0; }; \
	for s in "$${scripts[@]}"; do echo "==> $$s"; $(PY) "$$s" || exit 1; done

clean: ## remove caches, collected static files, test databases and artifacts (keeps var/db.sqlite3 and var/media)
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +
	rm -rf .pytest_cache .ruff_cache test-artifacts
	rm -rf var/staticfiles var/test-media var/test.sqlite3* var/Procfile.run var/redis var/redis-*.log var/celerybeat-schedule*

distclean: clean ## also remove .venv and var/ (the local database and media!)
	rm -rf $(VENV) var
