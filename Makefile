# Two entry points for a fresh machine with Python 3.11+: `make run` and `make test`.
# Each creates .venv and installs what it needs the first time (and again when pyproject.toml changes).

VENV := .venv
BIN := $(VENV)/bin

.PHONY: run worker test lint

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
	$(BIN)/incident-bot playbooks check playbooks
