# make run   : a first look on this machine (SQLite, an embedded redis-server, the worker and the web app)
# make test  : the whole test suite against the machine's PostgreSQL and Redis
# make bench : bench/journal.py against PostgreSQL (BENCH_ARGS="--requests 20000" for a short run);
#              BENCH=assign runs bench/assign.py (automatic assignment) instead

PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
SYSTEM := bash deploy/system.sh
UP_ARGS ?=
PYTEST_ARGS ?=
BENCH ?= journal
BENCH_ARGS ?=

.PHONY: run test bench install assets

run: install assets
	@$(SYSTEM) redis-server
	$(BIN)/hotline db upgrade
	$(BIN)/hotline seed demo
	exec $(BIN)/hotline up $(UP_ARGS)

test: install assets
	@$(SYSTEM) postgres
	@$(SYSTEM) redis
	@rc=0; $(BIN)/python -m pytest -n 2 --dist worksteal --durations=25 $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: FAILED: pytest collected no tests (exit code 5)." >&2; exit 1; fi; \
	exit $$rc

bench: install
	@$(SYSTEM) postgres
	$(BIN)/python bench/$(BENCH).py $(BENCH_ARGS)

install: $(VENV)/.installed

# The Debian packages, then each step in deploy/assets.d (prompts, speech models, ...), in name order. Each step is
# idempotent and quick when its output is already there.
assets: install
	@$(SYSTEM) packages
	@for step in deploy/assets.d/*.sh; do [ -e "$$step" ] || continue; VENV_BIN="$(abspath $(BIN))" bash "$$step" || exit 1; done

$(BIN)/python:
	@$(SYSTEM) python $(PYTHON)
	$(PYTHON) -m venv $(VENV)

# Reinstalled when the dependencies change.
$(VENV)/.installed: $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/python -m pip install --disable-pip-version-check -q -e '.[test]'
	@touch $@
