# FinPulse: `make demo`, `make test`, `make ui`, `make mlflow`. Everything runs from .venv, a
# project-local Dagster instance (SQLite) in .dagster_home and an MLflow store (SQLite) in storage/mlflow.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# FINPULSE_PG_URL=postgresql://user@host:port/db puts runs, events and schedules in Postgres
# (deployments/dagster-postgres.yaml) and MLflow in <db>_mlflow, with their own DAGSTER_HOME so the
# embedded SQLite instance in .dagster_home is never switched over (docs/scale.md).
# ?=: an exported DAGSTER_HOME (another instance, a test's) wins over the project default.
export DAGSTER_HOME ?= $(CURDIR)/$(if $(FINPULSE_PG_URL),.dagster_home_postgres,.dagster_home)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export MLFLOW_DISABLE_TELEMETRY := true
# One "planned" event per asset and run instead of one per partition: 1.6x (SQLite) to 3.1x (Postgres, batched)
# the partitions per minute (docs/scale.md). The cost: a failed run's partitions show as missing, not failed
# (the run itself shows failed). DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS=0 make ... restores the default.
export DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS ?= 1
# On Postgres a run's materializations of one asset are written as one INSERT per 1000 (SQLite has no batch write).
export DAGSTER_EVENT_BATCH_SIZE ?= $(if $(FINPULSE_PG_URL),1000,0)
# A run still STARTED after this long is marked FAILED by run monitoring (a killed worker never reports).
RUN_MAX_SECONDS ?= 7200
STORAGE := $(or $(FINPULSE_STORAGE_DIR),$(CURDIR)/storage)
# One variable per server's port; the links stored in asset metadata (drift reports, MLflow runs) follow them,
# so set them for `make demo` as for the server: make demo ui REPORTS_PORT=3101 UI_PORT=3100.
UI_PORT ?= 3000
REPORTS_PORT ?= 3001
MLFLOW_PORT ?= 5000
DASHBOARD_PORT ?= 8000
export FINPULSE_REPORTS_URL ?= http://127.0.0.1:$(REPORTS_PORT)
export FINPULSE_MLFLOW_URL ?= http://127.0.0.1:$(MLFLOW_PORT)
export FINPULSE_UI_URL ?= http://127.0.0.1:$(UI_PORT)
# BentoML's model and bento stores live with the project's storage, not in ~/bentoml.
export BENTOML_HOME := $(STORAGE)/bentoml
export BENTOML_DO_NOT_TRACK := True

.PHONY: install instance project-env demo test test-fast ui mlflow materialize evaluate benchmark serve benchmark-serving clean benchmark-serving-wrk images dashboard deploy-local deploy-local-stop

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/python pyproject.toml requirements.lock
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c requirements.lock -e '.[test]'
	touch $@

install: $(VENV)/.installed

# Writes $(DAGSTER_HOME)/dagster.yaml for SQLite or Postgres and creates missing Postgres databases.
instance: install project-env
	$(BIN)/python -m finpulse_assets.storage.instance prepare

# .env, which Dagster's CLI (dagster dev, dagster-daemon) reads in the folder it starts in, before it picks an
# instance: plain `dagster dev` here then gets the project's instance (not a temporary .tmp_dagster_home_*) and
# the environment `make ui` exports. Each value yields to one already set (${VAR:-...}): make ui's, a test's and
# a deployment's own DAGSTER_HOME win. Written with this checkout's absolute path (DAGSTER_HOME must be one).
ENV_FILE ?= .env
project-env:
	@printf '%s\n' '# Written by `make instance`; values already set in the environment win.' \
		'DAGSTER_HOME=$${DAGSTER_HOME:-$(DAGSTER_HOME)}' \
		'HF_HUB_OFFLINE=$${HF_HUB_OFFLINE:-1}' 'TRANSFORMERS_OFFLINE=$${TRANSFORMERS_OFFLINE:-1}' \
		'MLFLOW_DISABLE_TELEMETRY=$${MLFLOW_DISABLE_TELEMETRY:-true}' 'BENTOML_DO_NOT_TRACK=$${BENTOML_DO_NOT_TRACK:-True}' \
		'DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS=$${DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS:-1}' \
		> $(ENV_FILE)

demo: instance
	$(BIN)/python -m finpulse_assets.runs.cli materialize

# Real data: make materialize DATA=../shared/data/stocknet-dev TICKERS=AAPL,... START=2015-01-01 END=2016-01-01
materialize: instance
	FINPULSE_DATA=$(DATA) FINPULSE_TICKERS=$(TICKERS) FINPULSE_START=$(START) FINPULSE_END=$(END) \
		$(BIN)/python -m finpulse_assets.runs.cli materialize

# Parallel workers (pytest-xdist); each test module runs whole on one worker (its module fixtures are built once),
# the longest modules first (finpulse_assets_tests/conftest.py). Tests that share a server use free ports, and
# throwaway Postgres databases, queues and BentoML homes of their own. TEST_WORKERS=0: one process.
TEST_WORKERS ?= 3
PYTEST_PARALLEL := -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

# Every test (what CI runs), then the ten slowest.
test: install
	$(BIN)/python -m pytest -q --durations=10 $(PYTEST_PARALLEL)

# The inner loop: unit and asset tests; no end-to-end topology, container image or browser test, nothing
# marked slow (a minute or more each). `make test` still runs all of them.
test-fast: install
	$(BIN)/python -m pytest -q --durations=10 $(PYTEST_PARALLEL) -m "not slow" \
		--ignore=finpulse_assets_tests/test_deployment_e2e.py --ignore=finpulse_assets_tests/test_serving_image.py \
		--ignore=finpulse_assets_tests/test_ui_browser.py

# Also serves storage/reports on 127.0.0.1:$(REPORTS_PORT), where the drift reports' `report` links point.
# make ui EVALUATION=<dataset>: the instance and graph of `make evaluate DATA=.../<dataset>` instead.
ui: instance
	$(if $(EVALUATION),set -a; . $(CURDIR)/storage/evaluation/$(EVALUATION)/ui.env; set +a;) \
	reports=$${FINPULSE_STORAGE_DIR:-$(STORAGE)}/reports; mkdir -p $$reports; \
	$(BIN)/python -m http.server $(REPORTS_PORT) -b 127.0.0.1 -d $$reports >/dev/null 2>&1 & \
	trap "kill $$!" EXIT INT TERM; $(BIN)/dagster dev -h 127.0.0.1 -p $(UI_PORT)

# The MLflow UI on the store the model assets log to (runs, metrics, plots, ONNX files, registry).
mlflow: install
	mkdir -p $(STORAGE)/mlflow/artifacts
	$(BIN)/mlflow ui --backend-store-uri "$$(FINPULSE_STORAGE_DIR=$(STORAGE) $(BIN)/python -m finpulse_assets.storage.instance mlflow-uri)" \
		--default-artifact-root $(STORAGE)/mlflow/artifacts -h 127.0.0.1 -p $(MLFLOW_PORT)

# The monitoring dashboard: Evidently's UI on http://127.0.0.1:$(DASHBOARD_PORT), a project per ticker fed by the drift
# reports and prediction errors the instance recorded (synced first; a rerun adds only what is new).
dashboard: instance
	$(BIN)/python -m finpulse_assets.monitoring.dashboard sync --workspace $(STORAGE)/evidently_workspace
	$(BIN)/evidently ui --workspace $(STORAGE)/evidently_workspace --host 127.0.0.1 --port $(DASHBOARD_PORT)

# Forecast skill on the StockNet protocol (report in reports/evaluation.{json,md}); its own storage and
# Dagster instance in storage/evaluation/<dataset>/: make evaluate DATA=../shared/data/stocknet-dev [TICKERS=AAPL,MSFT]
evaluate: install
	$(if $(DATA),,$(error DATA=<dataset dir with tweets/ and prices/> is required))
	$(BIN)/python -m finpulse_assets.evaluation.cli --data $(DATA) $(if $(TICKERS),--tickers $(TICKERS)) \
		$(if $(N_TRIALS),--n-trials $(N_TRIALS)) $(if $(SEEDS),--seeds $(SEEDS)) \
		$(if $(WF_STEP_MONTHS),--wf-step-months $(WF_STEP_MONTHS)) $(if $(WF_N_TRIALS),--wf-n-trials $(WF_N_TRIALS)) \
		$(if $(VARIANTS),--variants $(VARIANTS)) $(if $(WF_VARIANTS),--wf-variants $(WF_VARIANTS)) \
		$(if $(WF_WORKERS),--wf-workers $(WF_WORKERS))

benchmark: install
	$(BIN)/python benchmarks/vader_throughput.py --data $(or $(DATA),../shared/data/stocknet-dev)

# The latest `finpulse` bento (built by `make demo`, asset `bento`) on http://127.0.0.1:3030 (3000 is `make ui`).
serve: install
	$(BIN)/bentoml serve finpulse:latest --host 127.0.0.1 --port $(or $(PORT),3030)

# Load test of the built bento: /predict (batching on and off) and /sentiment, served on loopback.
benchmark-serving: install
	$(BIN)/python benchmarks/serving_load.py

# wrk against the bento and a bare ASGI app side by side (needs the Debian package wrk).
benchmark-serving-wrk: install
	$(BIN)/python benchmarks/serving_wrk.py $(if $(TINY),--tiny,)
# Container images with buildah as root (no Docker engine needed; docs/images.md): the Debian base
# localhost/finpulse-base, the serving image of a bento (BENTO, default the latest; `make demo` builds
# one) and the code-location image localhost/finpulse-code (deployments/Containerfile), whose code server is
# then started and loaded over gRPC. `make test` builds and runs a serving image of its own.
images: install
	deployments/images/build_base.sh
	$(BIN)/python -m finpulse_assets.deploy.images $(or $(BENTO),finpulse:latest) buildah
	deployments/images/build_code_image.sh
	deployments/images/check_code_image.sh

clean:
	rm -rf storage .dagster_home .dagster_home_postgres

# The Dagster services on one machine (docs/deployment.md): gRPC code server, webserver, daemon on a
# Postgres instance (FINPULSE_PG_URL, default database finpulse_topology, created if missing) with queued
# runs, and an S3 endpoint (moto server unless FINPULSE_S3_ENDPOINT_URL is set). Logs and pids in
# .deploy_local/ (FINPULSE_DEPLOY_DIR); ports FINPULSE_DEPLOY_{WEBSERVER,CODE_SERVER,S3}_PORT (3000, 4000, 9000).
deploy-local: install
	$(BIN)/python -m finpulse_assets.deploy.local_topology start

deploy-local-stop:
	$(BIN)/python -m finpulse_assets.deploy.local_topology stop
