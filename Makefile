# Set-up and everyday commands. `make demo` and `make test` each build .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install demo test test-unit bench sandbox doctor clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## The main job on embedded defaults: sandbox + SQLite + a local Prefect, end to end.
demo: install
	$(BIN)/triage demo

## The whole test suite (SQLite always; PostgreSQL too when 127.0.0.1:5432 answers).
test: install
	$(BIN)/python -m pytest -q -p no:cacheprovider

test-unit: install
	$(BIN)/python -m pytest -q tests/unit

bench: install
	$(BIN)/python bench/client_overhead.py
	$(BIN)/python bench/runbook_matching.py
	$(BIN)/python bench/investigate.py
	$(BIN)/python bench/metrics_aggregation.py
	$(BIN)/python bench/webhook_latency.py
	$(BIN)/python bench/webhook_load.py
	$(BIN)/python bench/suspects_eval.py
	$(BIN)/python bench/alert_latency.py
	$(BIN)/python bench/telemetry_ingest.py
	$(BIN)/python bench/cost_at_scale.py
	$(BIN)/python bench/watcher.py

sandbox: install
	$(BIN)/triage sandbox

clean:
	rm -rf $(VENV) .triageflow
