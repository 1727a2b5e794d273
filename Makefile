# coldtier — two commands: `make demo` and `make test` (both set up everything they need).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.coldtier-installed
# Debian packages the full test suite needs: PostgreSQL server binaries, Java + JDBC drivers for
# Spark's JdbcCatalog, Chromium for the UI tests, promtool for the alert-rule tests.
TEST_DEBS := postgresql-15 openjdk-17-jre-headless libpostgresql-jdbc-java libxerial-sqlite-jdbc-java chromium prometheus

.PHONY: help setup setup-test demo dev test lint format unit integration bench soak clean lock

help:
	@echo "make demo   - set up and run the embedded demo (no servers)"
	@echo "make test   - set up and run lint + the whole test suite"
	@echo "make dev    - open the Dagster UI on the demo data"
	@echo "make lint   - ruff (lint + format check) and pyright"
	@echo "make soak   - 30 minutes of random faults on the real stack, then verify every window"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# requirements.lock pins every dependency (pip constraints), so two installs a month apart agree.
$(STAMP): pyproject.toml requirements.lock | $(BIN)/python
	$(BIN)/pip install -q -c requirements.lock -e '.[spark,dev]'
	# Spark's S3A jars (hadoop-aws 3.3.1 + AWS SDK bundle) for an s3:// warehouse: the only registry
	# package that ships them; --no-deps because it pins pyspark 3.3 (see resources/spark_s3.py).
	$(BIN)/pip install -q --no-deps sagemaker_pyspark==1.4.5
	touch $(STAMP)

# Re-pin after changing dependencies in pyproject.toml: a fresh venv resolves them, then freezes.
lock:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install -q -e '.[spark,dev]'
	{ echo "# Pinned versions of every dependency, installed by 'make' as pip constraints (pip install -c)."; \
	  echo "# Regenerate after changing pyproject.toml: make lock"; \
	  .venv-lock/bin/pip freeze --exclude-editable | grep -v '^coldtier'; } > requirements.lock
	rm -rf .venv-lock

setup: $(STAMP)

setup-test: setup
	scripts/ensure-debian-packages.sh $(TEST_DEBS)

demo: setup
	$(BIN)/coldtier demo

dev: setup
	$(BIN)/coldtier dev --live

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pyright

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The pure tests (no services), in seconds.
unit: setup
	$(BIN)/pytest -q -m "not integration"

# Integration files run one pytest process each, two at a time (see the script for why).
test: setup-test lint
	@status=0; \
	$(BIN)/pytest -q -rs -m "not integration" || status=1; \
	$(BIN)/pytest -q -rs -m integration coldtier_assets_tests/unit || status=1; \
	scripts/run-integration-files.sh $(BIN)/pytest || status=1; \
	exit $$status

bench: setup
	$(BIN)/python benchmarks/offload_throughput.py

# Fault-injection soak of the real stack (PostgreSQL, Dagster webserver + daemon, live feed): seeded
# random faults for SOAK_MINUTES, then every closed window verified; report in soak-report.json.
SOAK_MINUTES ?= 30
SOAK_SEED ?= 1
soak: setup-test
	$(BIN)/python benchmarks/soak.py --minutes $(SOAK_MINUTES) --seed $(SOAK_SEED) --report soak-report.json

clean:
	rm -rf .coldtier .pytest_cache .ruff_cache
