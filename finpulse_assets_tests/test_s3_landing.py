"""The s3_landing sources, new_data_sensor on the landing prefix, and the asset tables on S3, against moto's server."""

import time
from datetime import date

import pandas as pd
import pytest
from dagster import AssetKey, DagsterInstance, build_resources, instance_for_test, materialize
from deltalake import DeltaTable

from finpulse_assets.sources.cleaning import REPEAT_COLUMN
from finpulse_assets.definitions import build_definitions
from finpulse_assets.storage.object_storage import ObjectStorage
from finpulse_assets.partitions import TICKER_RUN_TAG, key_for
from finpulse_assets.resources import price_source, tweet_source
from finpulse_assets.sensors.new_data import NEW_DATA_SENSOR
from finpulse_assets.settings import Settings
from finpulse_assets.sources.base import SourceFileError
from finpulse_assets.sources.kaggle_csv import KaggleCsvTweetSource
from finpulse_assets.sources.yahoo_csv import YahooCsvPriceSource
from finpulse_assets_tests.s3_server import create_bucket, s3_endpoint  # noqa: F401 (fixture)
from finpulse_assets.sensors.widening import WIDENED_BECAUSE_TAG, WIDENED_FROM_TAG
from finpulse_assets_tests.test_sensors import ranges, tick

BUCKET = "finpulse-landing"
LANDING = "finpulse/landing"


def price_csv(start: str, end: str, base: float = 100.0) -> str:
    days = pd.bdate_range(start, end)
    rows = [f"{d.date()},{base + i:.2f},{base + i + 1:.2f},{base + i - 1:.2f},{base + i + 0.5:.2f},"
            f"{base + i + 0.5:.2f},{1000 + i}" for i, d in enumerate(days)]
    return "\n".join(["Date,Open,High,Low,Close,Adj Close,Volume", *rows]) + "\n"


def tweet_csvs(ticker: str, start: str, end: str, first_id: int) -> tuple[str, str]:
    # One tweet a day at 15:00 UTC (before the New York close): it counts toward that day.
    days = pd.date_range(start, end)
    tweets = ["tweet_id,writer,post_date,body,comment_num,retweet_num,like_num"]
    company = ["tweet_id,ticker_symbol"]
    for i, day in enumerate(days):
        seconds = int((day + pd.Timedelta(hours=15)).tz_localize("UTC").timestamp())
        tweets.append(f"{first_id + i},writer{i},{seconds},${ticker} looks strong today {i},0,1,2")
        company.append(f"{first_id + i},{ticker}")
    return "\n".join(tweets) + "\n", "\n".join(company) + "\n"


def put(endpoint, key: str, text: str) -> None:
    endpoint.client().put_object(Bucket=BUCKET, Key=f"{LANDING}/{key}", Body=text.encode())


def drop_tweets(endpoint, drop: str, ticker: str, start: str, end: str, first_id: int) -> tuple[str, str]:
    tweets, company = tweet_csvs(ticker, start, end, first_id)
    put(endpoint, f"tweets/{drop}/Tweet.csv", tweets)
    put(endpoint, f"tweets/{drop}/Company_Tweet.csv", company)
    return tweets, company


@pytest.fixture
def landing(s3_endpoint, monkeypatch, tmp_path):
    create_bucket(s3_endpoint, BUCKET)
    for name, value in s3_endpoint.env(BUCKET).items():
        monkeypatch.setenv(name, value)
    return s3_endpoint


def landing_settings(tmp_path) -> Settings:
    return Settings(tweet_source="s3_landing", price_source="s3_landing", tickers=("AAA", "BBB"),
                    start="2024-01-01", end="2024-03-01", storage_dir=str(tmp_path))


def test_landing_sources_read_a_drop_as_the_local_sources_read_the_same_files(landing, tmp_path):
    prices = price_csv("2024-01-01", "2024-01-31")
    tweets, company = drop_tweets(landing, "2024-01-31", "AAA", "2024-01-01", "2024-01-31", 1000)
    put(landing, "prices/AAA.csv", prices)
    (tmp_path / "prices").mkdir()
    (tmp_path / "prices" / "AAA.csv").write_text(prices)
    (tmp_path / "tweets").mkdir()
    (tmp_path / "tweets" / "Tweet.csv").write_text(tweets)
    (tmp_path / "tweets" / "Company_Tweet.csv").write_text(company)
    settings = landing_settings(tmp_path)
    # Initialized as Dagster hands them to an asset (EnvVar credentials resolved).
    with build_resources({"prices": price_source(settings), "tweets": tweet_source(settings)}) as resources:
        check_landing_sources(landing, tmp_path, resources.prices, resources.tweets)


def check_landing_sources(landing, tmp_path, s3_prices, s3_tweets):

    assert s3_prices.available_tickers() == ["AAA"] and s3_tweets.available_tickers() == ["AAA"]
    got = s3_prices.load_prices(["AAA"], date(2024, 1, 8), date(2024, 1, 12))
    assert got["date"].tolist() == [f"2024-01-{d:02d}" for d in range(8, 13)]
    pd.testing.assert_frame_equal(got, YahooCsvPriceSource(directory=str(tmp_path / "prices")).load_prices(
        ["AAA"], date(2024, 1, 8), date(2024, 1, 12)))
    window = pd.Timestamp("2024-01-05", tz="UTC"), pd.Timestamp("2024-01-10", tz="UTC")
    got = s3_tweets.load_tweets(["AAA"], *window)
    assert len(got) == 5
    pd.testing.assert_frame_equal(got, KaggleCsvTweetSource(directory=str(tmp_path / "tweets")).load_tweets(
        ["AAA"], *window))
    # A second drop repeating a tweet_id: the later copy is flagged as a repeat, as within one Tweet.csv.
    drop_tweets(landing, "2024-02-01", "AAA", "2024-01-09", "2024-01-09", 1008)
    again = s3_tweets.load_tweets(["AAA"], *window)
    assert len(again) == 6 and again[REPEAT_COLUMN].tolist() == [False] * 5 + [True]


def landed(data) -> list[tuple[str, str]]:
    """Requests triggered by landing objects (their run key carries the digest of the changed objects)."""
    return sorted((r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"])
                  for r in data.run_requests if len(r.run_key.split(":")) == 5)


def test_sensor_cursor_sees_new_and_overwritten_keys_exactly_once(landing, tmp_path):
    put(landing, "prices/AAA.csv", price_csv("2024-01-01", "2024-01-12"))
    put(landing, "prices/BBB.csv", price_csv("2024-01-01", "2024-01-12", base=50))
    drop_tweets(landing, "d1", "AAA", "2024-01-02", "2024-01-12", 1)
    drop_tweets(landing, "d1b", "BBB", "2024-01-02", "2024-01-12", 100)
    defs = build_definitions(landing_settings(tmp_path))
    with instance_for_test() as instance:
        first = tick(defs, instance, NEW_DATA_SENSOR)
        span = lambda t, a, b: (key_for(t, date(2024, 1, a)), key_for(t, date(2024, 1, b)))  # noqa: E731
        assert landed(first) == [span("AAA", 1, 12), span("BBB", 1, 12)]
        assert not [r.tags for r in first.run_requests if WIDENED_FROM_TAG in r.tags]  # every day was missing
        assert [r.partition_keys for r in first.dynamic_partitions_requests] == [["AAA", "BBB"]]
        instance.add_dynamic_partitions("tickers", ["AAA", "BBB"])
        for request in first.run_requests:
            assert materialize(list(defs.assets), selection=request.asset_selection, instance=instance,
                               resources=dict(defs.resources), tags=request.tags).success

        # Nothing new: the cursor has seen every key.
        quiet = tick(defs, instance, NEW_DATA_SENSOR, cursor=first.cursor)
        assert quiet.run_requests == [] and quiet.cursor == first.cursor

        # AAA's file overwritten with two more days; a new tweet drop for BBB: each asks once.
        put(landing, "prices/AAA.csv", price_csv("2024-01-01", "2024-01-16"))
        drop_tweets(landing, "d2", "BBB", "2024-01-10", "2024-01-11", 500)
        second = tick(defs, instance, NEW_DATA_SENSOR, cursor=quiet.cursor)
        assert landed(second) == [span("AAA", 1, 16), span("BBB", 10, 11)]
        # AAA's file holds trading days; the weekend of the 6th and 7th, stored already, comes along and is named.
        widened = {r.tags[TICKER_RUN_TAG]: r.tags for r in second.run_requests if WIDENED_FROM_TAG in r.tags}
        assert set(widened) == {"AAA"}
        assert widened["AAA"][WIDENED_FROM_TAG] == "2024-01-01..2024-01-05,2024-01-08..2024-01-16"
        assert widened["AAA"][WIDENED_BECAUSE_TAG].startswith("2 of the run's 16 days were not asked for: ")
        after = tick(defs, instance, NEW_DATA_SENSOR, cursor=second.cursor)
        # Seen once: only AAA's still unmaterialized days remain, as any source's missing days do.
        assert landed(after) == [] and ranges(after) == [span("AAA", 13, 16)]

        # The same bytes written again (same ETag, newer LastModified) still count as a new drop.
        time.sleep(1.1)
        put(landing, "prices/BBB.csv", price_csv("2024-01-01", "2024-01-12", base=50))
        third = tick(defs, instance, NEW_DATA_SENSOR, cursor=second.cursor)
        assert landed(third) == [span("BBB", 1, 12)]
        assert third.run_requests[0].run_key != first.run_requests[1].run_key

        # A key that is no price file or tweet drop asks for nothing (with a warning) and is seen once.
        put(landing, "README.txt", "how to drop files")
        fourth = tick(defs, instance, NEW_DATA_SENSOR, cursor=third.cursor)
        assert landed(fourth) == [] and f"{LANDING}/README.txt" in fourth.cursor
        assert tick(defs, instance, NEW_DATA_SENSOR, cursor=fourth.cursor).cursor == fourth.cursor


def test_a_bad_landing_file_names_its_key_and_stores_nothing(landing, tmp_path):
    put(landing, "prices/AAA.csv", price_csv("2024-01-01", "2024-01-12").replace("Adj Close", "Adjusted"))
    drop_tweets(landing, "d1", "AAA", "2024-01-02", "2024-01-12", 1)
    defs = build_definitions(landing_settings(tmp_path))
    key = f"s3://{BUCKET}/{LANDING}/prices/AAA.csv"
    with instance_for_test() as instance:
        with pytest.raises(SourceFileError, match=f"{key}: missing required column; column 'Adj Close'"):
            tick(defs, instance, NEW_DATA_SENSOR)
        instance.add_dynamic_partitions("tickers", ["AAA"])
        result = materialize(list(defs.assets), selection=["raw_prices"], instance=instance, raise_on_error=False,
                             resources=dict(defs.resources), partition_key=key_for("AAA", date(2024, 1, 2)))
        assert not result.success
        assert key in str(result.get_step_failure_events()[0].event_specific_data.error)
    listed = landing.client().list_objects_v2(Bucket=BUCKET, Prefix="finpulse/assets/")
    assert listed.get("KeyCount", 0) == 0


def test_a_ticker_day_range_materializes_onto_s3_and_a_single_partition_loads_back(landing, tmp_path):
    put(landing, "prices/AAA.csv", price_csv("2024-01-01", "2024-01-31"))
    drop_tweets(landing, "d1", "AAA", "2024-01-01", "2024-01-31", 1)
    settings = Settings(tweet_source="s3_landing", price_source="s3_landing", tickers=("AAA",),
                        start="2024-01-01", end="2024-03-01", storage_dir=str(tmp_path))
    defs = build_definitions(settings)
    storage = ObjectStorage.from_env()
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("tickers", ["AAA"])
    request = tick(defs, instance, NEW_DATA_SENSOR).run_requests[0]
    assert materialize(list(defs.assets), selection=request.asset_selection, instance=instance,
                       resources=dict(defs.resources), tags=request.tags).success
    table = DeltaTable(storage.uri("assets", "raw_prices"), storage_options=storage.storage_options())
    assert len(table.to_pandas()) == len(pd.bdate_range("2024-01-01", "2024-01-31"))
    assert not (tmp_path / "assets" / "raw_prices").exists()
    one = defs.load_asset_value(AssetKey("raw_prices"), partition_key=key_for("AAA", date(2024, 1, 10)),
                                instance=instance)
    assert len(one) == 1 and float(one["close"].iloc[0]) == pytest.approx(100.0 + 7 + 0.5)
