"""Dagster run, event and schedule storage on the real Postgres server (deployments/dagster-postgres.yaml),
with batched and unbatched event writes, a partition-range backfill and a rerun read back from the instance;
MLflow's tracking store and registry on Postgres."""

from datetime import date

import pytest
from dagster import AssetKey, DagsterInstance, DagsterRunStatus, RunsFilter
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

from finpulse_assets.runs.cli import materialize, register_tickers
from finpulse_assets.definitions import DATA_ASSETS_JOB, build_definitions
from finpulse_assets.models.mlflow_tracking import CHAMPION_ALIAS, MlflowTracking
from finpulse_assets.partitions import key_for, range_tags
from finpulse_assets.settings import Settings
from finpulse_assets_tests.stored import stored_ticker
from finpulse_assets_tests.postgres_support import postgres_home, temporary_database

TICKERS = ("AAPL", "MSFT")
START, END = "2024-03-04", "2024-03-14"  # 10 days
DATA_ASSETS = ("raw_tweets", "vader_labels", "raw_prices", "price_features")


@pytest.fixture(scope="module")
def pg_url():
    with temporary_database("instance") as url:
        yield url


@pytest.fixture(scope="module")
def home(pg_url, tmp_path_factory):
    return postgres_home(tmp_path_factory.mktemp("pg_home"))


@pytest.fixture
def instance(pg_url, home, monkeypatch):
    monkeypatch.setenv("FINPULSE_PG_URL", pg_url)
    with DagsterInstance.from_config(str(home)) as inst:
        yield inst


def _keys(ticker):
    days = [f"2024-03-{d:02d}" for d in range(4, 14)]
    return {f"{day}|{ticker}" for day in days}


def test_the_deployment_config_puts_runs_events_and_schedules_in_postgres(instance):
    assert isinstance(instance.run_storage, PostgresRunStorage)
    assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
    assert isinstance(instance.schedule_storage, PostgresScheduleStorage)


def test_a_ticker_day_range_materializes_with_batched_events_and_reads_back(instance, tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", "1000")  # materializations of a step go in as one insert
    settings = Settings(tickers=TICKERS[:1], start=START, end=END, storage_dir=str(tmp_path / "storage"))
    summary = materialize(settings, instance, jobs=[DATA_ASSETS_JOB])
    assert summary["failure"] is None and summary["failed_checks"] == []
    for name in DATA_ASSETS:
        assert instance.get_materialized_partitions(AssetKey(name)) >= _keys("AAPL"), name
        records = instance.fetch_materializations(AssetKey(name), limit=100).records
        by_partition = {r.partition_key: r.asset_materialization.metadata for r in records}
        assert set(by_partition) == _keys("AAPL"), name
        assert all(m["rows"].value >= 0 for m in by_partition.values())
    prices = instance.fetch_materializations(AssetKey("raw_prices"), limit=100).records
    rows = {r.partition_key: r.asset_materialization.metadata["rows"].value for r in prices}
    assert rows["2024-03-08|AAPL"] == 1 and rows["2024-03-09|AAPL"] == 0  # a Friday and a Saturday
    runs = instance.get_runs(RunsFilter(job_name=DATA_ASSETS_JOB))
    assert [r.status for r in runs] == [DagsterRunStatus.SUCCESS]


def test_a_backfill_over_a_partition_range_then_one_partition_again_reads_back(instance, tmp_path, monkeypatch):
    """Unbatched this time: every event its own insert, as Dagster writes them by default."""
    monkeypatch.delenv("DAGSTER_EVENT_BATCH_SIZE", raising=False)
    settings = Settings(tickers=TICKERS, start=START, end=END, storage_dir=str(tmp_path / "storage"))
    register_tickers(instance, TICKERS)
    job = build_definitions(settings).resolve_job_def(DATA_ASSETS_JOB)
    first, last = date(2024, 3, 4), date(2024, 3, 13)
    backfill = job.execute_in_process(instance=instance, tags=range_tags("MSFT", first, last))
    assert backfill.success
    again = job.execute_in_process(instance=instance, partition_key=key_for("MSFT", date(2024, 3, 8)))
    assert again.success
    for name in DATA_ASSETS:
        assert instance.get_materialized_partitions(AssetKey(name)) >= _keys("MSFT"), name
    latest = {}
    for record in instance.fetch_materializations(AssetKey("raw_prices"), limit=100).records:  # newest first
        if record.partition_key.endswith("MSFT"):
            latest.setdefault(record.partition_key, record.run_id)
    assert latest.pop("2024-03-08|MSFT") == again.run_id
    assert set(latest.values()) == {backfill.run_id} and len(latest) == 9
    stored = stored_ticker(tmp_path / "storage" / "assets", "raw_prices", "MSFT")
    assert len(stored) == 8  # 10 days, 8 of them trading days


def test_mlflow_tracks_runs_and_the_registry_on_postgres(tmp_path):
    with temporary_database("mlflow") as url:
        tracking = MlflowTracking(storage_dir=str(tmp_path), tracking_uri=url, experiment_name="pg-test")
        with tracking.start_run("lstm_model", tags={"dagster_run_id": "r1"}) as run:
            run.log_params({"window": 5})
            run.log_metrics({"val_mae": 0.5})
            (tmp_path / "model.json").write_text("{}")
            run.log_artifact(tmp_path / "model.json", "model")
            registered = tracking.register_champion("finpulse-lstm", run, "model")
        client = tracking.client()
        stored = client.get_run(run.run_id)
        assert stored.info.status == "FINISHED" and stored.data.metrics["val_mae"] == 0.5
        assert stored.info.artifact_uri.startswith((tmp_path / "mlflow" / "artifacts").as_uri())
        assert tracking.champion_version("finpulse-lstm") == registered["version"] == "1"
        assert registered["alias"] == CHAMPION_ALIAS
        client._tracking_client.store.engine.dispose()  # let the database be dropped
