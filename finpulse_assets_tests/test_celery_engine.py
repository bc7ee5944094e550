"""The Celery executor: its selection and settings, what it refuses, and the data assets of 3 tickers x 5 days
through it over two workers.

The last test touches: the RabbitMQ broker at FINPULSE_CELERY_BROKER (default guest@127.0.0.1:5672) with a queue of this
test's own (deleted at the end); a throwaway Postgres database (FINPULSE_TEST_PG_URL's server) as the shared
Dagster instance; a moto S3 server subprocess as the shared object store; two `dagster-celery worker start`
process groups, each with its own working directory, DAGSTER_HOME and storage folder under tmp_path (stopped
even when the test fails). The CLI's `materialize` orchestrates in this process.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from datetime import date

import pytest
from dagster import DagsterInstance, RunsFilter

from finpulse_assets.definitions import DATA_ASSETS_JOB
from finpulse_assets.engine.celery_worker import running_workers
from finpulse_assets.definitions import build_definitions
from finpulse_assets.engine.executor import BROKER_ENV, CELERY, DEFAULT, DEFAULT_BACKEND, CelerySettings, executor_name
from finpulse_assets.runs.celery_runs import check_shared_storage
from finpulse_assets.engine.step_workers import partition_writers
from finpulse_assets.storage.record_window import LOCK_FOLDER
from finpulse_assets.partitions import TICKER_RUN_TAG, key_for
from finpulse_assets.runs.cli import materialize
from finpulse_assets.settings import Settings
from finpulse_assets.storage.ticker_day_table import RUN_ID_KEY, TICKERS_KEY, TickerDayTable
from finpulse_assets.storage.instance import prepare_home
from finpulse_assets_tests.postgres_support import temporary_database
from finpulse_assets_tests.s3_server import create_bucket, s3_endpoint  # noqa: F401 (fixture)

TICKERS = ("AAA", "BBB", "CCC")
START, END = "2024-03-04", "2024-03-09"  # 5 days
DAYS = [date(2024, 3, d) for d in range(4, 9)]
DATA_ASSETS = ("raw_tweets", "vader_labels", "raw_prices", "price_features")


def test_the_jobs_use_the_executor_the_settings_name(monkeypatch):
    settings = Settings(tickers=TICKERS, start=START, end=END)
    assert build_definitions(settings, executor=CELERY).resolve_job_def(DATA_ASSETS_JOB).executor_def.name == \
        "finpulse_celery"
    assert build_definitions(settings, executor=DEFAULT).resolve_job_def(DATA_ASSETS_JOB).executor_def.name != \
        "finpulse_celery"
    monkeypatch.setenv("FINPULSE_EXECUTOR", "dask")
    with pytest.raises(ValueError, match="FINPULSE_EXECUTOR='dask'"):
        executor_name()


def test_a_broker_from_the_environment_reaches_the_executor_as_a_reference_not_its_value(monkeypatch):
    monkeypatch.setenv(BROKER_ENV, "pyamqp://finpulse:secret@rabbit:5672//")
    monkeypatch.delenv("FINPULSE_CELERY_BACKEND", raising=False)
    config = CelerySettings.from_env().executor_config()
    assert config["broker"] == {"env": BROKER_ENV} and config["backend"] == DEFAULT_BACKEND


def test_celery_runs_are_refused_without_a_shared_instance_and_object_store(tmp_path, monkeypatch):
    settings = Settings(tickers=TICKERS, start=START, end=END, storage_dir=str(tmp_path / "storage"))
    with DagsterInstance.ephemeral() as instance, pytest.raises(ValueError, match="persistent instance"):
        materialize(settings, instance, [DATA_ASSETS_JOB], executor=CELERY)
    monkeypatch.delenv("FINPULSE_S3_BUCKET", raising=False)
    (tmp_path / "sqlite_home").mkdir()
    with DagsterInstance.local_temp(str(tmp_path / "sqlite_home")) as instance, \
            pytest.raises(ValueError, match="on Postgres"):
        check_shared_storage(instance)


@pytest.fixture
def shared_env(s3_endpoint, tmp_path, monkeypatch):
    """What the orchestrating process and every worker share: the instance's database, the bucket, the queue."""
    with temporary_database("celery") as url:
        tag = uuid.uuid4().hex[:8]
        env = {**s3_endpoint.env(create_bucket(s3_endpoint, f"celery-{tag}")), "FINPULSE_PG_URL": url,
               "FINPULSE_CELERY_QUEUE": f"finpulse-test-{tag}", "FINPULSE_EXECUTOR": CELERY,
               # Set: prepare_home creates no MLflow database on the server.
               "FINPULSE_MLFLOW_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        yield env


@pytest.mark.slow
def test_each_partition_is_written_once_by_one_of_two_workers(shared_env, s3_endpoint, tmp_path, monkeypatch):
    home = tmp_path / "orchestrator" / "dagster_home"
    prepare_home(home, shared_env["FINPULSE_PG_URL"])
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    settings = Settings(tickers=TICKERS, start=START, end=END, storage_dir=str(tmp_path / "orchestrator" / "storage"))
    celery = CelerySettings.from_env()
    with running_workers(tmp_path / "workers", 2, celery, dict(os.environ)) as workers, \
            DagsterInstance.get() as instance:
        summary = materialize(settings, instance, [DATA_ASSETS_JOB])
        runs = instance.get_runs(RunsFilter(job_name=DATA_ASSETS_JOB))
        writers = partition_writers(instance, [run.run_id for run in runs])
    assert summary["failure"] is None and summary["failed_checks"] == []
    assert len(runs) == len(TICKERS) and all(run.is_success for run in runs)
    expected = {(asset, key_for(ticker, day)) for asset in DATA_ASSETS for ticker in TICKERS for day in DAYS}
    assert set(writers) == expected
    assert {key: len(nodes) for key, nodes in writers.items() if len(nodes) != 1} == {}
    nodes = {w.node for w in workers}
    by_worker = Counter(nodes_[0] for nodes_ in writers.values())
    assert set(by_worker) == nodes, by_worker  # both workers wrote partitions, nothing else did
    # The workers' step logs went to the object store, not under the orchestrator's DAGSTER_HOME (which holds
    # only its config and the record locks of storage/record_window.py).
    assert {p.name for p in home.iterdir()} <= {"dagster.yaml", LOCK_FOLDER}
    logs = s3_endpoint.client().list_objects_v2(Bucket=shared_env["FINPULSE_S3_BUCKET"],
                                                Prefix="finpulse/compute_logs/")
    assert logs.get("KeyCount", 0) > 0
    # The tables in the object store: one commit per ticker's run, each naming that run and ticker alone.
    run_of = {run.tags[TICKER_RUN_TAG]: run.run_id for run in runs}
    options = s3_endpoint.storage_options()
    for asset in DATA_ASSETS:
        table = TickerDayTable(f"s3://{shared_env['FINPULSE_S3_BUCKET']}/finpulse/assets/{asset}", options)
        commits = [c for c in table.commits_since(-1) if RUN_ID_KEY in c]
        assert sorted((c[TICKERS_KEY], c[RUN_ID_KEY]) for c in commits) == sorted(run_of.items()), asset
