# The two commands: `make run` (the system with a demo) and `make test` (checks and tests).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STACK_ENV := .devstack/env
WITH_STACK := set -a && source $(STACK_ENV) && set +a &&

.PHONY: system-deps venv lock run test lint typecheck stack-up stack-down stack-status migrate demo-catalogue bench clean

# MariaDB, Java, Maven, venv support: installed when missing (DEVSTACK_NO_INSTALL=1: only said).
system-deps:
	@PYTHON=$(PYTHON) bash tools/devstack/bootstrap.sh

venv: $(VENV)/.installed

# Exactly the versions in the lock, then the project itself, editable.
$(VENV)/.installed: pyproject.toml requirements/dev.lock | system-deps
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade "pip>=25.1"
	$(PY) -m pip install -q --require-hashes -r requirements/dev.lock
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $@

# The newest versions pyproject.toml allows, written to the locks, then the whole suite on them.
lock: venv
	$(VENV)/bin/uv pip compile pyproject.toml --extra tracing --universal --python-version 3.11 \
		--generate-hashes --custom-compile-command "make lock" --upgrade -q -o requirements/runtime.lock
	$(VENV)/bin/uv pip compile pyproject.toml --extra tracing --group dev --universal \
		--python-version 3.11 --generate-hashes --custom-compile-command "make lock" --upgrade -q \
		-o requirements/dev.lock
	$(MAKE) test

stack-up: venv
	$(PY) -m tools.devstack up

stack-down:
	@if [ -x $(PY) ]; then $(PY) -m tools.devstack down; else echo "stack: nothing to stop"; fi

stack-status: venv
	$(PY) -m tools.devstack status

migrate: stack-up
	$(WITH_STACK) $(PY) -m db migrate

demo-catalogue: migrate
	$(WITH_STACK) $(PY) -m db load-demo-catalogue

run: demo-catalogue
	$(WITH_STACK) $(PY) -m tools.devstack.run

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

test: lint stack-up
	$(WITH_STACK) $(PY) -m pytest $(PYTEST_ARGS)

bench: stack-up
	$(WITH_STACK) $(PY) -m tools.bench $(if $(QUICK),--quick)

clean: stack-down
	rm -rf .devstack $(VENV) .mypy_cache .ruff_cache .pytest_cache
