# The two commands: `make run` (the system with a demo) and `make test` (checks and tests).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STACK_ENV := .devstack/env
WITH_STACK := set -a && source $(STACK_ENV) && set +a &&

.PHONY: venv run test lint typecheck stack-up stack-down stack-status migrate demo-catalogue bench clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade "pip>=25.1"
	$(PY) -m pip install -q -e . --group dev
	touch $@

stack-up: venv
	$(PY) -m devstack up

stack-down:
	@if [ -x $(PY) ]; then $(PY) -m devstack down; else echo "stack: nothing to stop"; fi

stack-status: venv
	$(PY) -m devstack status

migrate: stack-up
	$(WITH_STACK) $(PY) -m db migrate

demo-catalogue: migrate
	$(WITH_STACK) $(PY) -m db load-demo-catalogue

run: demo-catalogue
	$(WITH_STACK) $(PY) -m devstack.run

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

test: lint stack-up
	$(WITH_STACK) $(PY) -m pytest $(PYTEST_ARGS)

bench: stack-up
	$(WITH_STACK) $(PY) -m bench $(if $(QUICK),--quick)

clean: stack-down
	rm -rf .devstack $(VENV) .mypy_cache .ruff_cache .pytest_cache
