# Community Workbench — `make help` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
KERNEL := community-workbench
STAMP := $(VENV)/.installed
SPARK_STAMP := $(VENV)/.installed-spark
PYTEST_ARGS ?=
# the suite runs on two pytest-xdist workers, one test file per worker at a time (each worker
# builds its own session fixtures: the demo, the Spark session); TEST_WORKERS=0 runs serially
TEST_WORKERS ?= 2

.PHONY: help setup setup-spark setup-browser demo test test-fast lab lint format clean

help: ## Show this help
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | \
	  awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@echo "==> creating $(VENV) with $(PYTHON) and installing the project"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@echo "==> registering the Jupyter kernel '$(KERNEL)'"
	$(BIN)/python -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Community Workbench"
	@touch $@

setup: $(STAMP) ## Create .venv, install the project (editable) and register its kernel

$(SPARK_STAMP): $(STAMP)
	@echo "==> installing the Spark extra (PySpark) for the engine parity tests"
	$(BIN)/python -m pip install --quiet -e '.[dev,spark]'
	@command -v java >/dev/null 2>&1 || { \
	  echo "==> Java not found: installing OpenJDK 17 (headless) for PySpark"; \
	  apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless; }
	@touch $@

setup-spark: $(SPARK_STAMP) ## Also install PySpark (and Java if missing)

CHROMIUM := /usr/bin/chromium

setup-browser: ## Install Debian's chromium for the headless browser test (if missing)
	@test -x $(CHROMIUM) || { \
	  echo "==> $(CHROMIUM) not found: installing Debian's chromium for tests/e2e/test_browser.py"; \
	  apt-get update -qq && apt-get install -y -qq chromium; }

demo: setup ## Generate the demo community, ingest it, run the notebooks, export reports/demo/
	$(BIN)/workbench demo

test: setup-spark setup-browser ## Run the whole test suite (unit, validation, e2e, browser, Spark)
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

test-fast: setup ## Unit tests only
	$(BIN)/pytest tests/unit -m "not spark" $(PYTEST_ARGS)

lab: setup ## Open JupyterLab on notebooks/ with the project kernel
	$(BIN)/jupyter lab --notebook-dir=notebooks

lint: setup ## ruff check + format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup ## Apply ruff fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean: ## Remove generated data and reports (keeps .venv)
	rm -rf data/raw/demo data/processed/demo reports/demo reports/_artefacts
