# ClickHouse Product Analytics: local stack and tests.
#   make up      install what is missing, start Kafka, loader, worker and gateway; return when healthy
#   make down    stop them, keep data/
#   make test    lint, type-check, unit, integration and end-to-end tests (starts its own broker)

SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PA := $(VENV)/bin/product-analytics
WORKERS ?= 1

.PHONY: up down status test lint unit integration e2e deps venv kafka bench clean

deps:
	@bash deploy/system-deps.sh

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -x $(VENV)/bin/pip || python3 -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip
	@$(PY) -m pip install -q -e '.[dev]'
	@touch $@

kafka: deps
	@bash deploy/kafka/kafka.sh start

up: deps venv kafka sdk-build
	@$(PA) topics
	@$(PA) stack up --workers $(WORKERS)

down:
	@if [ -x $(PA) ]; then $(PA) stack down; fi
	@bash deploy/kafka/kafka.sh stop

status:
	@$(PA) stack status

lint: venv
	@$(VENV)/bin/ruff check ingest_gateway identity_worker schemas product_analytics tests bench
	@$(VENV)/bin/mypy

unit: venv
	@$(PY) -m pytest tests/unit -q

test: deps venv sdk-build sdk-test chromium clickhouse-server-deps posthog-js-compat-deps lint
	@bash deploy/kafka/kafka.sh install
	@$(PY) -m pytest -q -p no:cacheprovider

bench: deps venv
	@bash deploy/kafka/kafka.sh install
	@$(PY) -m bench.run

clean:
	rm -rf .cache $(VENV)

include sdk/browser/browser.mk
include deploy/clickhouse-server.mk
include tests/compat/posthog-js/compat.mk
