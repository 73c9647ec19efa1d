# tap-ocpi developer tasks. Every target creates what it needs, and re-runs are no-ops:
# each setup step leaves a stamp file, remade only when its inputs change.
#
#   make venv      .venv: the tap (editable) + dev tools
#   make meltano   .venv-meltano: Meltano 4.4.1 (own venv: it pins SQLAlchemy<2.1), then
#                  `meltano install` of the plugins declared in meltano.yml into .meltano/
#   make lint      ruff + mypy
#   make test      lint + the whole pytest suite, end-to-end tests included (needs PostgreSQL:
#                  scripts/ensure_postgres.sh starts it, or installs it with apt-get)
#   make test-fast the suite without the end-to-end tests (no Meltano, no PostgreSQL)
#   make e2e       only the end-to-end tests (Meltano + CSV, JSONL and PostgreSQL loaders)
#   make demo      the test platform + `meltano run tap-ocpi target-csv`; run it twice
#   make bench     tests/benchmarks/bench.py
#   make readme    regenerate the generated tables (README settings, docs/privacy.md) from the code
#   make clean     remove venvs, installed plugins, caches and demo-output/ (keeps
#                  .meltano/meltano.db, your saved state, and output/, your exported data)

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules

PYTHON ?= python3
VENV := .venv
MVENV := .venv-meltano
MELTANO_VERSION := 4.4.1

# Stamps live inside what they describe, so deleting a venv or .meltano/ also resets its stamp.
VENV_STAMP := $(VENV)/.tap-ocpi-dev.stamp
MVENV_STAMP := $(MVENV)/.meltano-$(MELTANO_VERSION).stamp
PLUGINS_STAMP := .meltano/.plugins-installed.stamp

MELTANO := $(MVENV)/bin/meltano
# No usage stats, no update checks, no prompts: the same behaviour locally and in CI.
# UV_NATIVE_TLS: `meltano install` uses uv, which by default trusts only its bundled CA roots.
# Where PyPI is reached through a CA that only the system store knows (seen on this project's
# machines: from a clean environment without SSL_CERT_FILE, uv could not connect), that fails.
# The system's CA store works everywhere.
MELTANO_ENV := MELTANO_SEND_ANONYMOUS_USAGE_STATS=false MELTANO_CLI_DISABLE_VERSION_CHECK=true \
	MELTANO_DISABLE_TRACKING=true UV_NATIVE_TLS=1
PIP_ENV := PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

PYTEST_ARGS ?=

.PHONY: help venv meltano plugins lint test test-fast e2e demo bench readme clean postgres

# Pass pytest options with PYTEST_ARGS, e.g. make e2e PYTEST_ARGS='-k jsonl -x'.

help:
	@sed -n '1,/^$$/p' Makefile | sed 's/^# \{0,1\}//'

venv: $(VENV_STAMP)

$(VENV_STAMP): pyproject.toml
	@echo "== $(VENV): the tap (editable) and the dev tools (about a minute the first time)"
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(PIP_ENV) $(VENV)/bin/python -m pip install -qq -e '.[dev]'
	@touch $@

meltano: $(PLUGINS_STAMP)

$(MVENV_STAMP):
	@echo "== $(MVENV): Meltano $(MELTANO_VERSION) in its own venv"
	@test -x $(MVENV)/bin/python || $(PYTHON) -m venv $(MVENV)
	$(PIP_ENV) $(MVENV)/bin/python -m pip install -qq 'meltano==$(MELTANO_VERSION)' \
		'psycopg[binary]>=3.2,<4'
	@touch $@

# Plugins are reinstalled when their declarations or the tap's dependencies change.
$(PLUGINS_STAMP): $(MVENV_STAMP) meltano.yml pyproject.toml
	@echo "== .meltano/: meltano install (the tap, target-csv, target-jsonl, target-postgres)"
	$(MELTANO_ENV) $(MELTANO) install
	@touch $@

plugins: $(PLUGINS_STAMP)

postgres:
	bash scripts/ensure_postgres.sh

lint: $(VENV_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# The full suite: unit, platform and end-to-end (Meltano + CSV, JSONL, PostgreSQL) tests.
test: lint $(PLUGINS_STAMP) postgres
	$(MELTANO_ENV) $(VENV)/bin/python -m pytest $(PYTEST_ARGS)

# Without the end-to-end tests (no Meltano, no PostgreSQL needed).
test-fast: $(VENV_STAMP)
	$(VENV)/bin/python -m pytest -m 'not e2e' $(PYTEST_ARGS)

e2e: $(VENV_STAMP) $(PLUGINS_STAMP) postgres
	$(MELTANO_ENV) $(VENV)/bin/python -m pytest -m e2e $(PYTEST_ARGS)

demo: $(VENV_STAMP) $(PLUGINS_STAMP)
	$(MELTANO_ENV) $(VENV)/bin/python scripts/demo.py

bench: $(VENV_STAMP)
	$(VENV)/bin/python tests/benchmarks/bench.py

readme: $(VENV_STAMP)
	$(VENV)/bin/python scripts/update_readme.py

clean:
	rm -rf $(VENV) $(MVENV) .meltano/extractors .meltano/loaders .meltano/run .meltano/logs \
		$(PLUGINS_STAMP) demo-output .pytest_cache .mypy_cache .ruff_cache .hypothesis .benchmarks
	find . -name __pycache__ -type d -prune -not -path './.git/*' -exec rm -rf {} +
