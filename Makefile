# FinPulse: `make demo`, `make test`, `make ui`, `make mlflow`. Everything runs from .venv, a
# project-local Dagster instance (SQLite) in .dagster_home and an MLflow store (SQLite) in storage/mlflow.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
export DAGSTER_HOME := $(CURDIR)/.dagster_home
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export MLFLOW_DISABLE_TELEMETRY := true
STORAGE := $(or $(FINPULSE_STORAGE_DIR),$(CURDIR)/storage)

.PHONY: install demo test ui mlflow materialize benchmark clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/python pyproject.toml requirements.lock
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c requirements.lock -e '.[test]'
	touch $@

install: $(VENV)/.installed

$(DAGSTER_HOME)/dagster.yaml:
	mkdir -p $(DAGSTER_HOME)
	printf 'telemetry:\n  enabled: false\n' > $@

demo: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/python -m finpulse_assets.cli materialize

# Real data: make materialize DATA=../shared/data/stocknet-dev TICKERS=AAPL,... START=2015-01-01 END=2016-01-01
materialize: install $(DAGSTER_HOME)/dagster.yaml
	FINPULSE_DATA=$(DATA) FINPULSE_TICKERS=$(TICKERS) FINPULSE_START=$(START) FINPULSE_END=$(END) \
		$(BIN)/python -m finpulse_assets.cli materialize

test: install
	$(BIN)/python -m pytest -q

ui: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster dev -h 127.0.0.1 -p 3000

# The MLflow UI on the store the model assets log to (runs, metrics, plots, ONNX files, registry).
mlflow: install
	mkdir -p $(STORAGE)/mlflow/artifacts
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(STORAGE)/mlflow/mlflow.db \
		--default-artifact-root $(STORAGE)/mlflow/artifacts -h 127.0.0.1 -p 5000

benchmark: install
	$(BIN)/python benchmarks/vader_throughput.py --data $(or $(DATA),../shared/data/stocknet-dev)

clean:
	rm -rf storage .dagster_home
