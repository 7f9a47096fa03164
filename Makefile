# B2B lead and customer scoring warehouse. `make help` lists the targets.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.8

# Demo: 18 months of exports ending DEMO_END; history before the demo runs is loaded in bulk, then
# the DAG runs for three logical dates (the run for logical date D scores day D-1).
DEMO_END ?= 2026-11-20
DEMO_FIRST_SCORED_DAY ?= 2026-11-18
DEMO_RUNS ?= 2026-11-19 2026-11-20 2026-11-21
SCALE ?= 1
# email and web events per contact, × the demo's (SCALE=100 EVENT_RATE=2.7: 1M contacts, 100M events)
EVENT_RATE ?= 1
# Monthly cut-offs scored before the daily runs, so model_validation has outcomes to compare with.
BACKTEST_MONTHS ?= 12
# Test files run in parallel processes (pytest-xdist), one file per process at a time, the longest
# first (tests/conftest.py LONGEST_FIRST); the small world and the demo year are built once per run
# and shared by the processes. 2 to 4 processes pay off.
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 2); \
  if [ $$n -gt 4 ]; then n=4; elif [ $$n -lt 2 ]; then n=2; fi; echo $$n)

# `make serve`: the docker-compose.yml deployment as local processes (deploy/serve.py): its folder
# (logs, pid files, AIRFLOW_HOME), the env file with the secrets (written if missing), the ports on
# 127.0.0.1 and the PostgreSQL cluster folder.
SERVE_DIR ?= $(CURDIR)/data/serve
SERVE_ENV_FILE ?= $(CURDIR)/.env
SERVE_API_PORT ?= 8080
SERVE_PG_PORT ?= 5433
SERVE_PG_DIR ?= $(SERVE_DIR)/postgres

export LEADSCORE_HOME := $(CURDIR)
export LEADSCORE_WAREHOUSE ?= $(CURDIR)/data/warehouse.duckdb
export LEADSCORE_LANDING_DIR ?= $(CURDIR)/data/landing
export AIRFLOW_HOME := $(CURDIR)/airflow_home
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER := $(CURDIR)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__COSMOS__ENABLE_TELEMETRY := False
export AIRFLOW__COSMOS__ENABLE_CACHE := True
export AIRFLOW__LOGGING__LOGGING_LEVEL := WARNING
export SCARF_ANALYTICS := false
export DO_NOT_TRACK := 1
export GX_ANALYTICS_ENABLED := False
export DBT_SEND_ANONYMOUS_USAGE_STATS := False
export PYTHONWARNINGS := ignore

.PHONY: help install lock data airflow-init dbt-parse demo history backtest runs summary test test-fast lint format bench bench-table expectations example-bank clean postgres browser serve stop test-deploy

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'

$(BIN)/.installed: requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv==$(UV_VERSION)
	$(BIN)/uv pip sync --quiet --python $(BIN)/python requirements.txt
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $@

install: $(BIN)/.installed ## create .venv and install the locked dependencies

lock: ## re-resolve requirements.in into requirements.txt (every package pinned), the same pins as pylock.toml (PEP 751) and uv.lock (pyproject's dependencies constrained to them)
	$(BIN)/uv pip compile --quiet requirements.in --python-version 3.11 -o requirements.txt
	$(BIN)/uv pip compile --quiet requirements.txt --python-version 3.11 -o pylock.toml
	$(BIN)/uv lock --quiet --python 3.11

data: install ## generate the demo exports under data/landing (SCALE=1: 10k contacts, ~500k events)
	$(BIN)/leadscore generate --scale $(SCALE) --event-rate $(EVENT_RATE) --end-date $(DEMO_END)

$(AIRFLOW_HOME)/airflow.db: $(BIN)/.installed
	mkdir -p $(AIRFLOW_HOME)
	$(BIN)/airflow db migrate > $(AIRFLOW_HOME)/migrate.log 2>&1 || (cat $(AIRFLOW_HOME)/migrate.log; exit 1)
	$(BIN)/airflow pools set duckdb_writer 1 "One writer at a time on the DuckDB warehouse" > /dev/null

airflow-init: $(AIRFLOW_HOME)/airflow.db ## create the local Airflow metadata DB and the writer pool

dbt-parse: install ## parse the dbt project (manifest for Cosmos)
	cd dbt_project && ../$(BIN)/dbt parse --profiles-dir . --quiet

history: install ## load all exports before the demo runs into the warehouse (initial load)
	rm -f $(LEADSCORE_WAREHOUSE) $(LEADSCORE_WAREHOUSE).wal
	$(BIN)/leadscore extract --end $(DEMO_FIRST_SCORED_DAY)

backtest: install ## score the 1st of each of the last BACKTEST_MONTHS months (history for validation)
	$(BIN)/leadscore history --months $(BACKTEST_MONTHS)

runs: airflow-init dbt-parse ## run the daily DAG for DEMO_RUNS with `airflow dags test`
	@for d in $(DEMO_RUNS); do \
	  echo "== airflow dags test scoring_daily $$d"; \
	  start=$$(date +%s); \
	  $(BIN)/airflow dags test scoring_daily $$d > $(AIRFLOW_HOME)/dags_test_$$d.log 2>&1 \
	    || { tail -40 $(AIRFLOW_HOME)/dags_test_$$d.log; echo "run $$d failed: log $(AIRFLOW_HOME)/dags_test_$$d.log"; exit 1; }; \
	  grep -E "DagRun Finished|state=" $(AIRFLOW_HOME)/dags_test_$$d.log | tail -1 || true; \
	  echo "   took $$(( $$(date +%s) - start )) s (log $(AIRFLOW_HOME)/dags_test_$$d.log)"; \
	done

summary: install ## print the scores summary
	$(BIN)/leadscore summary

demo: ## set everything up, generate data, backtest 12 months, run the DAG for 3 days, print a summary
	@for stage in install data history backtest runs summary; do \
	  start=$$(date +%s); \
	  $(MAKE) --no-print-directory $$stage; \
	  echo "-- stage $$stage took $$(( $$(date +%s) - start )) s"; \
	done

test: install lint dbt-parse ## lint, then run the whole test suite (TEST_WORKERS processes)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

test-fast: install ## run the fast tests only (no dbt, no Airflow runs)
	$(BIN)/python -m pytest -m "not slow" -n $(TEST_WORKERS) --dist loadfile

lint: install ## ruff (Python) and sqlfluff (dbt SQL)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	cd dbt_project && ../$(BIN)/sqlfluff lint models macros tests
	$(BIN)/sqlfluff lint --config dbt_project/.sqlfluff --templater placeholder plugins/leadscore/reference_engagement.sql

format: install ## fix what ruff and sqlfluff can fix
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
	cd dbt_project && ../$(BIN)/sqlfluff fix models

expectations: install ## rewrite the Great Expectations suites from plugins/leadscore/quality_suites.py
	$(BIN)/leadscore expectations

example-bank: install ## real data end to end: bank-marketing landed, back-tested, calibrated, compared with gradient boosting
	$(BIN)/leadscore example bank-marketing

bench: install ## time every stage at SCALE=… (generate, load, build, daily run and DAG run, publish, report, engagement reference, BI query, memory); writes bench/results/
	$(BIN)/python -m leadscore.bench --scale $(SCALE) --event-rate $(EVENT_RATE)

bench-table: install ## render docs/performance.md's growth table from bench/results/scale-*.json
	$(BIN)/python -m leadscore.bench --table

postgres: ## install PostgreSQL from the OS packages if it is missing (for `make serve`; needs root)
	@ls /usr/lib/postgresql/*/bin/initdb > /dev/null 2>&1 || { \
	  echo "installing PostgreSQL (apt-get)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql > /dev/null; }

browser: ## install Chromium from the OS packages if it is missing (the report's headless-browser test; needs root)
	@command -v chromium > /dev/null 2>&1 || command -v chromium-browser > /dev/null 2>&1 || { \
	  echo "installing Chromium (apt-get)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium > /dev/null; }

serve: install postgres ## run docker-compose.yml's Airflow (api-server, scheduler, dag-processor, triggerer, PostgreSQL) as local processes
	$(BIN)/python deploy/serve.py start --dir "$(SERVE_DIR)" --env-file "$(SERVE_ENV_FILE)" \
	  --api-port $(SERVE_API_PORT) --pg-port $(SERVE_PG_PORT) --pg-dir "$(SERVE_PG_DIR)"

stop: ## stop everything `make serve` started
	$(BIN)/python deploy/serve.py stop --dir "$(SERVE_DIR)"

test-deploy: install browser ## the deployment test (`make serve`, the scheduler runs the DAG for two days, `make stop`), a 30-day backfill and the report in a headless browser
	LEADSCORE_TEST_DEPLOY=1 $(BIN)/python -m pytest tests/test_deploy.py \
	  "tests/test_reruns_and_readers.py::test_a_backfill_equals_the_daily_runs_it_replaces[30_days]" \
	  tests/test_report_playbook.py::test_the_page_in_a_headless_browser \
	  --durations 5

clean: ## remove generated data, Airflow home and dbt artifacts (keeps .venv)
	rm -rf data airflow_home dbt_project/target dbt_project/logs expectations/gx/uncommitted
