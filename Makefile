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
# BentoML's model and bento stores live with the project's storage, not in ~/bentoml.
export BENTOML_HOME := $(STORAGE)/bentoml
export BENTOML_DO_NOT_TRACK := True

.PHONY: install demo test ui mlflow dashboard materialize evaluate benchmark serve benchmark-serving clean

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

# Also serves storage/reports on 127.0.0.1:3001, where the drift reports' `report` links point.
# make ui EVALUATION=<dataset>: the instance and graph of `make evaluate DATA=.../<dataset>` instead.
ui: install $(DAGSTER_HOME)/dagster.yaml
	$(if $(EVALUATION),set -a; . $(CURDIR)/storage/evaluation/$(EVALUATION)/ui.env; set +a;) \
	reports=$${FINPULSE_STORAGE_DIR:-$(STORAGE)}/reports; mkdir -p $$reports; \
	$(BIN)/python -m http.server 3001 -b 127.0.0.1 -d $$reports >/dev/null 2>&1 & \
	trap "kill $$!" EXIT INT TERM; $(BIN)/dagster dev -h 127.0.0.1 -p 3000

# The MLflow UI on the store the model assets log to (runs, metrics, plots, ONNX files, registry).
mlflow: install
	mkdir -p $(STORAGE)/mlflow/artifacts
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(STORAGE)/mlflow/mlflow.db \
		--default-artifact-root $(STORAGE)/mlflow/artifacts -h 127.0.0.1 -p 5000

# The monitoring dashboard: Evidently's UI on http://127.0.0.1:8000, a project per ticker fed by the drift
# reports and prediction errors the instance recorded (synced first; a rerun adds only what is new).
dashboard: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/python -m finpulse_assets.monitoring.dashboard sync --workspace $(STORAGE)/evidently_workspace
	$(BIN)/evidently ui --workspace $(STORAGE)/evidently_workspace --host 127.0.0.1 --port 8000

# Forecast skill on the StockNet protocol (report in reports/evaluation.{json,md}); its own storage and
# Dagster instance in storage/evaluation/<dataset>/: make evaluate DATA=../shared/data/stocknet-dev [TICKERS=AAPL,MSFT]
evaluate: install
	$(if $(DATA),,$(error DATA=<dataset dir with tweets/ and prices/> is required))
	$(BIN)/python -m finpulse_assets.evaluation.cli --data $(DATA) $(if $(TICKERS),--tickers $(TICKERS))

benchmark: install
	$(BIN)/python benchmarks/vader_throughput.py --data $(or $(DATA),../shared/data/stocknet-dev)

# The latest `finpulse` bento (built by `make demo`, asset `bento`) on http://127.0.0.1:3030 (3000 is `make ui`).
serve: install
	$(BIN)/bentoml serve finpulse:latest --host 127.0.0.1 --port $(or $(PORT),3030)

# Load test of the built bento: /predict (batching on and off) and /sentiment, served on loopback.
benchmark-serving: install
	$(BIN)/python benchmarks/serving_load.py

clean:
	rm -rf storage .dagster_home
