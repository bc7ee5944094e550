"""Storage chosen by configuration (instance_storage), the synthetic universe and the partition ceiling."""

import pytest

from finpulse_assets.storage.instance import (
    POSTGRES_INSTANCE_YAML,
    SQLITE_INSTANCE_YAML,
    StorageConfigError,
    check_driver,
    configured_mlflow_uri,
    mlflow_tracking_uri,
    prepare_home,
)
from finpulse_assets.partitions import PartitionCeilingError, check_partition_ceiling, ticker_day_partitions
from finpulse_assets.settings import DEMO_TICKERS, Settings
from finpulse_assets.sources.demo import DemoPriceSource, generate_ticker
from finpulse_assets.sources.universe import synthetic_tickers

PG = "postgresql+psycopg2://postgres@127.0.0.1:5432/finpulse"


def test_sqlite_is_the_default_and_a_postgres_home_is_never_switched_back_silently(tmp_path, monkeypatch):
    monkeypatch.delenv("FINPULSE_PG_URL", raising=False)
    monkeypatch.delenv("FINPULSE_MLFLOW_URI", raising=False)
    assert "SQLite" in prepare_home(tmp_path / "sqlite")
    written = (tmp_path / "sqlite" / "dagster.yaml").read_text()
    assert written == SQLITE_INSTANCE_YAML and "postgres" not in written
    assert written.startswith("telemetry:\n  enabled: false\n") and "run_monitoring:\n  enabled: true" in written
    assert configured_mlflow_uri() == ""
    pg_home = tmp_path / "pg"
    pg_home.mkdir()
    (pg_home / "dagster.yaml").write_text(POSTGRES_INSTANCE_YAML.read_text())
    with pytest.raises(StorageConfigError, match="configured for Postgres"):
        prepare_home(pg_home)


def test_a_home_holding_sqlite_runs_is_not_pointed_at_postgres(tmp_path):
    (tmp_path / "history").mkdir()
    (tmp_path / "history" / "runs.db").write_bytes(b"")
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with pytest.raises(StorageConfigError, match="SQLite instance"):
        prepare_home(tmp_path, PG)
    assert (tmp_path / "dagster.yaml").read_text() == "telemetry:\n  enabled: false\n"


def test_urls_name_a_driver_that_is_installed():
    assert check_driver(PG) == PG
    with pytest.raises(StorageConfigError, match=r"postgresql\+psycopg2://postgres@127.0.0.1:5432/finpulse"):
        check_driver("postgresql://postgres@127.0.0.1:5432/finpulse")
    with pytest.raises(StorageConfigError, match="not a Postgres URL"):
        check_driver("sqlite:///x.db")


def test_mlflow_follows_postgres_into_its_own_database_unless_told_otherwise(tmp_path, monkeypatch):
    monkeypatch.delenv("FINPULSE_MLFLOW_URI", raising=False)
    monkeypatch.setenv("FINPULSE_PG_URL", PG)
    assert mlflow_tracking_uri(tmp_path) == PG + "_mlflow" == configured_mlflow_uri()
    monkeypatch.setenv("FINPULSE_MLFLOW_URI", "http://mlflow.internal:5000")
    assert mlflow_tracking_uri(tmp_path) == "http://mlflow.internal:5000"
    monkeypatch.delenv("FINPULSE_PG_URL")
    monkeypatch.delenv("FINPULSE_MLFLOW_URI")
    assert mlflow_tracking_uri(tmp_path) == f"sqlite:///{tmp_path.resolve()}/mlflow/mlflow.db"


def test_a_number_of_tickers_is_a_stable_synthetic_universe_that_starts_with_the_demo_tickers(monkeypatch):
    monkeypatch.setenv("FINPULSE_TICKERS", "87")
    tickers = Settings.from_env().tickers
    assert len(tickers) == len(set(tickers)) == 87 and tickers[:3] == DEMO_TICKERS
    assert tickers[:10] == tuple(synthetic_tickers(10))  # a larger universe extends a smaller one
    assert all(t.isalpha() and t.isupper() for t in tickers)
    monkeypatch.setenv("FINPULSE_TICKERS", "3")
    assert Settings.from_env().tickers == DEMO_TICKERS
    monkeypatch.setenv("FINPULSE_DATA", "/data")
    with pytest.raises(ValueError, match="only the demo sources"):
        Settings.from_env()


def test_generated_tickers_have_the_demo_markets_properties():
    start, end = "2023-01-01", "2025-01-01"
    for ticker in synthetic_tickers(8)[4:]:
        market = generate_ticker(7, ticker, start, end)
        latent, prices, tweets = market.latent, market.prices, market.tweets
        shifted = latent["shifted"].to_numpy()
        assert 0.1 < shifted.mean() < 0.2  # the regime shift in the last ~15 % of trading days
        assert len(tweets) > 20 * len(prices)
        assert (prices["high"] >= prices[["open", "close"]].max(axis=1)).all()
        assert latent["sentiment"].iloc[:-1].corr(latent["shock"].iloc[1:].reset_index(drop=True)) > 0.2, ticker
    source = DemoPriceSource(tickers=synthetic_tickers(87), start=start, end=end)
    aapl_alone = DemoPriceSource(tickers=["AAPL"], start=start, end=end)
    bounds = (pd_date(start), pd_date("2024-12-31"))
    assert source.load_prices(["AAPL"], *bounds).equals(aapl_alone.load_prices(["AAPL"], *bounds))


def pd_date(text):
    from datetime import date

    return date.fromisoformat(text)


def test_the_partition_ceiling_refuses_a_universe_past_it_and_says_what_to_do():
    assert check_partition_ceiling(87, 731) == 63_597
    with pytest.raises(PartitionCeilingError, match=r"137 tickers x 731 days = 100,147 .* at most 729 days .* "
                                                    r"at most 136 tickers"):
        check_partition_ceiling(137, 731)
    with pytest.raises(PartitionCeilingError):
        ticker_day_partitions(Settings(tickers=tuple(synthetic_tickers(300)), start="2023-01-01", end="2025-01-01"))
