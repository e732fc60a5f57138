# The two commands a newcomer runs: `make demo` and `make test`.
PYTHON ?= $(shell bash scripts/pick-python.sh)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DJANGO ?=
PROMETHEUS_CLIENT ?=
PYTEST_ARGS ?=

.PHONY: setup system-deps services lint typecheck test test-suite test-unit test-matrix compat demo clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=25.1"
	$(BIN)/python -m pip install --quiet -e . --group dev $(if $(DJANGO),"Django==$(DJANGO).*") $(if $(PROMETHEUS_CLIENT),"prometheus-client==$(PROMETHEUS_CLIENT)")
	@touch $(STAMP)

# Debian packages the test dependencies build against, and the services the tests use.
system-deps:
	@bash scripts/system-deps.sh

services: system-deps
	@bash scripts/services.sh || { [ "$${REQUIRE_SERVICES:-0}" != 1 ] && echo "services: continuing; service-backed tests will be skipped loudly" >&2; }

setup: system-deps $(STAMP)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy django_prometheus tests $(wildcard benchmarks/*.py) $(shell find examples -name '*.py' 2>/dev/null)

test: setup services lint typecheck
	$(BIN)/pytest

# The tests alone (used by the matrix for the other Django lines).
test-suite: setup services
	$(BIN)/pytest $(PYTEST_ARGS)

test-unit: setup
	$(BIN)/pytest tests/unit

test-matrix:
	@bash scripts/test-matrix.sh

# django-prometheus 2.5.0's own unit tests against this package (downloaded at run time).
compat: setup
	$(BIN)/python scripts/compat.py

# The demo needs only the package itself (SQLite and the local-memory cache).
DEMO_VENV ?= .venv-demo
$(DEMO_VENV)/.installed: pyproject.toml
	@test -x $(DEMO_VENV)/bin/python || $(PYTHON) -m venv $(DEMO_VENV)
	$(DEMO_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(DEMO_VENV)/bin/python -m pip install --quiet -e .
	@touch $@

demo: $(DEMO_VENV)/.installed
	$(DEMO_VENV)/bin/python examples/demo/run_demo.py

clean:
	rm -rf $(VENV) .venv-* .mypy_cache .ruff_cache .pytest_cache .hypothesis build dist
