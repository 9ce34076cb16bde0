# Two entry points for a fresh machine with Python 3.11+: `make run` and `make test`.
# Each creates .venv and installs what it needs the first time (and again when pyproject.toml changes).

VENV := .venv
BIN := $(VENV)/bin

.PHONY: help run worker test lint mutation sabotage

help:
	@echo "make run       run the bot and its worker (Ctrl-C stops both); settings from .env"
	@echo "make test      run the whole test suite (about 10 minutes on 2 cores)"
	@echo "make worker    run only the worker (when 'incident-bot run --without-worker' serves Slack)"
	@echo "make lint      ruff, ruff format --check, mypy --strict, the layers (import-linter), the playbooks"
	@echo "make sabotage  the named sabotages of the safety code the suite must catch"
	@echo "make mutation  mutation testing of the safety code (hours; see docs/reliability.md)"

$(BIN)/python:
	python3 -m venv $(VENV)

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@ $(VENV)/.installed-run

run: $(VENV)/.installed-run
	$(BIN)/incident-bot run

worker: $(VENV)/.installed-run
	$(BIN)/incident-bot worker

test: $(VENV)/.installed-test
	$(BIN)/pytest

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache
	$(BIN)/incident-bot playbooks check playbooks

# Which sabotages of the safety code (approvals, executions, mechanisms, audit, the click guard) the suite lets
# through: mutmut over the modules [tool.mutmut] names in pyproject.toml, then the survivors (docs/reliability.md).
mutation: $(VENV)/.installed-test
	$(BIN)/pip install --quiet --disable-pip-version-check "mutmut>=3.8,<4" "pytest-timeout>=2.3"
	PATH="$(BIN):$$PATH" $(BIN)/mutmut run --max-children 2
	$(BIN)/mutmut results

# The named sabotages the suite must catch, each on a copy of the project.
sabotage: $(VENV)/.installed-test
	$(BIN)/python -m tests.sabotage
