# Every command a developer types. Targets create the virtual environment themselves, from the
# locked environments in requirements/ (`make lock` writes them; CONTRIBUTING.md says when).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
RUN_STAMP  := $(VENV)/.run-installed
TEST_STAMP := $(VENV)/.test-installed
RUN_LOCK   := requirements/run.txt
DEV_LOCK   := requirements/dev.txt
BUILD_LOCK := requirements/build.txt
UV := $(VENV)/bin/uv
# Two test processes (pytest-xdist; TEST_PROCESSES=0: one): most tests wait on servers, so two
# overlap well even on two cores. A module's tests stay together (their servers, browser and
# image are module fixtures).
TEST_PROCESSES ?= 2
PYTEST_PARALLEL := -n $(TEST_PROCESSES) --dist loadscope
# What the linters and the type checker read.
CODE := src tests bench docs/hooks
# torch's CPU build is not on PyPI: uv finds it in a wheel directory (PIP_FIND_LINKS, as this
# machine's pip configuration sets it; elsewhere, point it at a directory holding the wheel).
FIND_LINKS ?= $(or $(PIP_FIND_LINKS),/opt/wheels)
UV_FIND_LINKS := $(if $(wildcard $(FIND_LINKS)),--find-links $(FIND_LINKS))
# Material for MkDocs prints a notice about its successor on every build; the site is fine.
export NO_MKDOCS_2_WARNING := 1

.PHONY: models run test check lint imports docs docs-serve bench lock lock-upgrade format install \
	browser containers pgbouncer clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

# pip installs the installer (uv) and the build backend from their own small lock; uv installs
# the rest in seconds. --require-hashes: every file installed is the one locked. The project
# goes in last, editable, without touching what the lock installed.
$(UV): $(BUILD_LOCK) | $(VENV)/bin/python
	$(PY) -m pip install -q --require-hashes -r $(BUILD_LOCK)
	touch $@

define install_locked
	$(UV) pip install -q --python $(PY) --require-hashes $(UV_FIND_LINKS) -r $(1)
	$(UV) pip install -q --python $(PY) --no-deps --no-build-isolation -e .
endef

$(RUN_STAMP): pyproject.toml $(RUN_LOCK) | $(UV)
	$(call install_locked,$(RUN_LOCK))
	touch $@

# torch is pinned to the CPU build (see pyproject); transformers tests need it.
$(TEST_STAMP): pyproject.toml $(DEV_LOCK) | $(UV)
	$(call install_locked,$(DEV_LOCK))
	touch $@ $(RUN_STAMP)

install: $(TEST_STAMP)

## models: rebuild the shipped weights from data/train, seed 13 (docs/models.md): builtin-accurate
## (fine-tuned MiniLM, int8 ONNX), then builtin-fast distilled from it
models: $(TEST_STAMP)
	$(VENV)/bin/sentiflow train-accurate --seed 13
	$(VENV)/bin/sentiflow train --seed 13 --distil --distil-limit 20000 \
		--output src/sentiflow/analyze/artifacts/builtin-fast

## run: start the embedded system (API, dashboard, worker, demo stream) on http://127.0.0.1:8000/
run: $(RUN_STAMP)
	$(VENV)/bin/sentiflow run

## browser: Debian's chromium for the dashboard tests (Playwright drives it)
browser:
	@command -v chromium >/dev/null || { \
		echo "installing chromium (apt-get) for the browser tests"; \
		SUDO=$$(command -v sudo >/dev/null && [ "$$(id -u)" != 0 ] && echo sudo); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

## pgbouncer: Debian's pgbouncer for the test of distributed mode behind a transaction-mode pooler
pgbouncer:
	@command -v pgbouncer >/dev/null || [ -x /usr/sbin/pgbouncer ] || { \
		if command -v apt-get >/dev/null; then \
			echo "installing pgbouncer (apt-get) for the pooler test"; \
			SUDO=$$(command -v sudo >/dev/null && [ "$$(id -u)" != 0 ] && echo sudo); \
			$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
				pgbouncer >/dev/null; \
		else echo "no apt-get here: the pooler test will be skipped"; fi; }

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
test: $(TEST_STAMP) browser containers pgbouncer
	$(PY) -m pytest -q $(PYTEST_PARALLEL)

## check: what CI runs: lint, types, import contracts, the docs build, every test with coverage
check: lint imports docs browser containers pgbouncer
	$(PY) -m pytest -q $(PYTEST_PARALLEL) --cov --cov-report=term:skip-covered

## lint: ruff (McCabe limit included), the format check, mypy --strict on the package, the tests
## and the docs hooks, and the import contracts (no cycles, layers)
lint: $(TEST_STAMP) imports
	$(VENV)/bin/ruff check $(CODE)
	$(VENV)/bin/ruff format --check $(CODE)
	$(VENV)/bin/mypy src/sentiflow tests docs/hooks

## imports: the import contracts (import-linter), once pyproject.toml declares them
imports: $(TEST_STAMP)
	@if grep -q '^\[tool\.importlinter\]' pyproject.toml; then $(VENV)/bin/lint-imports; \
	else echo "imports: no contracts declared ([tool.importlinter] in pyproject.toml)"; fi

## docs: build the documentation site into site/ (warnings are errors)
docs: $(TEST_STAMP)
	$(VENV)/bin/mkdocs build --strict --quiet

## docs-serve: the documentation site on http://127.0.0.1:8001/, rebuilt on every change
docs-serve: $(TEST_STAMP)
	$(VENV)/bin/mkdocs serve --dev-addr 127.0.0.1:8001

## bench: the benchmarks; each prints a table and, last, one JSON line
bench: $(RUN_STAMP)
	bash bench/run.sh

## lock: re-resolve requirements/*.txt after a change of pyproject.toml's dependencies,
## keeping every pin that still fits; lock-upgrade moves every pin to the newest release
UV_COMPILE = $(UV) pip compile -q --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
	--generate-hashes $(UV_FIND_LINKS) --custom-compile-command "make lock" $(UV_FLAGS)
lock: $(UV)
	$(UV_COMPILE) pyproject.toml requirements/build.in --extra dev --extra transformers \
		--extra docs -o $(DEV_LOCK)
	$(UV_COMPILE) pyproject.toml requirements/build.in --constraint $(DEV_LOCK) -o $(RUN_LOCK)
	$(UV_COMPILE) requirements/build.in --constraint $(DEV_LOCK) -o $(BUILD_LOCK)

lock-upgrade:
	$(MAKE) lock UV_FLAGS=--upgrade

format: $(TEST_STAMP)
	$(VENV)/bin/ruff check --fix $(CODE)
	$(VENV)/bin/ruff format $(CODE)

clean:
	rm -rf $(VENV) site .pytest_cache .mypy_cache .ruff_cache .import_linter_cache .coverage .coverage.*
