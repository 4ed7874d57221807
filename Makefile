# Every command a developer types. Targets create the virtual environment themselves.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
RUN_STAMP  := $(VENV)/.run-installed
TEST_STAMP := $(VENV)/.test-installed

.PHONY: run test bench lint format install browser containers clean

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

## containers: podman, runc and mmdebstrap (apt-get) for the tests that build and run the image
containers:
	@command -v podman >/dev/null && command -v runc >/dev/null && command -v mmdebstrap >/dev/null \
		&& /usr/bin/python3 -m pip --version >/dev/null 2>&1 || { \
		if command -v apt-get >/dev/null; then \
			echo "installing podman, runc, mmdebstrap, python3-pip (apt-get) for the image tests"; \
			SUDO=$$(command -v sudo >/dev/null && [ "$$(id -u)" != 0 ] && echo sudo); \
			$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
				podman runc mmdebstrap python3-pip >/dev/null; \
		else echo "no apt-get here: the image tests will be skipped"; fi; }

## test: install everything and run every test (connected tests need PostgreSQL and Redis)
test: $(TEST_STAMP) browser containers
	$(PY) -m pytest -q

## bench: the benchmarks; each prints a table and, last, one JSON line
bench: $(RUN_STAMP)
	bash bench/run.sh

## lint: ruff and mypy --strict on the package
lint: $(TEST_STAMP)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/mypy src/sentiflow

format: $(TEST_STAMP)
	$(VENV)/bin/ruff check --fix src tests bench
	$(VENV)/bin/ruff format src tests bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
