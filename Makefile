# Every command a developer types. Targets create the virtual environment themselves.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
RUN_STAMP  := $(VENV)/.run-installed
TEST_STAMP := $(VENV)/.test-installed

.PHONY: run test bench lint format install browser clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(RUN_STAMP): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install -q -e .
	touch $@

# torch is pinned to the CPU build (see pyproject); transformers tests need it.
$(TEST_STAMP): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install -q -e '.[dev,transformers]'
	touch $@ $(RUN_STAMP)

install: $(TEST_STAMP)

## run: start the embedded system (API, dashboard, worker, demo stream) on http://127.0.0.1:8000/
run: $(RUN_STAMP)
	$(VENV)/bin/sentiflow run

## browser: Debian's chromium for the dashboard tests (Playwright drives it)
browser:
	@command -v chromium >/dev/null || { \
		echo "installing chromium (apt-get) for the browser tests"; \
		SUDO=$$(command -v sudo >/dev/null && [ "$$(id -u)" != 0 ] && echo sudo); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

## test: install everything and run every test (connected tests need PostgreSQL and Redis)
test: $(TEST_STAMP) browser
	$(PY) -m pytest -q

## bench: the benchmarks; each prints a table and, last, one JSON line
bench: $(RUN_STAMP)
	bash bench/run.sh

## lint: ruff, mypy --strict on the package, and the import contracts (no cycles, layers)
lint: $(TEST_STAMP)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/mypy src/sentiflow
	$(VENV)/bin/lint-imports

format: $(TEST_STAMP)
	$(VENV)/bin/ruff check --fix src tests bench
	$(VENV)/bin/ruff format src tests bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
