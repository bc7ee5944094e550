"""The synthetic S&P-500-sized universe written as CSV files (sources/universe_files.py), 5 tickers x 30 trading
days: deterministic, sliceable, heavy-tailed, the sources' file schema, and loaded by raw_prices / raw_tweets."""

from datetime import date

import pandas as pd
import pytest
from dagster import DagsterInstance, materialize

from finpulse_assets.assets.prices import build_price_assets
from finpulse_assets.assets.tweets import build_tweet_assets
from finpulse_assets.features.market_calendar import assign_trading_day, trading_days
from finpulse_assets.io_managers.delta import PartitionedDeltaIOManager
from finpulse_assets.partitions import (
    range_tags,
    ticker_day_partitions,
    ticker_partitions,
)
from finpulse_assets.resources import price_source, tweet_source
from finpulse_assets.settings import Settings
from finpulse_assets.sources import kaggle_csv
from finpulse_assets.sources.base import RAW_PRICE_COLUMNS, RAW_TWEET_COLUMNS
from finpulse_assets.sources.cleaning import clean_tweets
from finpulse_assets.sources.kaggle_csv import KaggleCsvTweetSource
from finpulse_assets.sources.universe import synthetic_tickers
from finpulse_assets.sources.universe_files import generate, holds_universe
from finpulse_assets.sources.yahoo_csv import YahooCsvPriceSource
from finpulse_assets_tests.stored import stored_ticker

START, END = "2024-01-01", "2024-02-14"  # 30 NYSE trading days
TICKERS = 5


@pytest.fixture(scope="module")
def universe(tmp_path_factory):
    directory = tmp_path_factory.mktemp("universe")
    return generate(directory, TICKERS, START, END, seed=7), directory


@pytest.fixture(autouse=True)
def _fresh_cache():
    kaggle_csv._CACHE.clear()
    yield
    kaggle_csv._CACHE.clear()


def _tweets(directory) -> pd.DataFrame:
    return KaggleCsvTweetSource(directory=str(directory / "tweets")).load_tweets(
        synthetic_tickers(TICKERS), pd.Timestamp("2023-12-01", tz="UTC"), pd.Timestamp("2024-03-01", tz="UTC"))


def _daily_counts(tweets: pd.DataFrame) -> pd.Series:
    day = assign_trading_day(pd.to_datetime(tweets["post_date"].astype("int64"), unit="s", utc=True))
    return tweets.assign(day=day).groupby(["ticker", "day"]).size()


def test_the_same_seed_writes_the_same_bytes_and_a_slice_holds_the_whole_windows_rows(universe, tmp_path):
    manifest, directory = universe
    again = generate(tmp_path / "again", TICKERS, START, END, seed=7)
    for name in ["tweets/Tweet.csv", "tweets/Company_Tweet.csv", *(f"prices/{t}.csv" for t in synthetic_tickers(5))]:
        assert (tmp_path / "again" / name).read_bytes() == (directory / name).read_bytes(), name
    assert again["tweet_rows"] == manifest["tweet_rows"] > 0
    other = generate(tmp_path / "other", TICKERS, START, END, seed=8)
    assert other["tweet_rows"] != manifest["tweet_rows"]

    # Tweets of one mid-window week only: exactly the whole window's rows of those trading days.
    generate(tmp_path / "slice", TICKERS, START, END, tweets_from="2024-01-22", tweets_to="2024-01-27", seed=7)
    whole, part = _tweets(directory), _tweets(tmp_path / "slice")
    day = assign_trading_day(pd.to_datetime(whole["post_date"].astype("int64"), unit="s", utc=True))
    expected = whole[((day >= pd.Timestamp("2024-01-22")) & (day < pd.Timestamp("2024-01-27"))).to_numpy()]
    assert len(part) > 0
    pd.testing.assert_frame_equal(part.reset_index(drop=True), expected.reset_index(drop=True))
    assert holds_universe(directory, TICKERS) and not holds_universe(directory, TICKERS + 1)


def test_files_have_the_sources_schema_and_prices_fall_on_trading_days_only(universe):
    _, directory = universe
    tickers = synthetic_tickers(TICKERS)
    prices = YahooCsvPriceSource(directory=str(directory / "prices")).load_prices(tickers, date(2024, 1, 1),
                                                                                  date(2024, 2, 13))
    assert list(prices.columns) == RAW_PRICE_COLUMNS
    expected_days = trading_days(date(2024, 1, 1), date(2024, 2, 13))
    assert len(expected_days) == 30
    for ticker in tickers:
        days = pd.DatetimeIndex(prices.loc[prices["ticker"] == ticker, "date"])
        assert list(days) == list(expected_days), ticker

    tweets = _tweets(directory)
    assert list(tweets.columns[:len(RAW_TWEET_COLUMNS)]) == RAW_TWEET_COLUMNS
    assert set(tweets["ticker"]) == set(tickers)
    clean, rejected = clean_tweets(tweets)
    # Nothing but the re-crawled copies (~1 %) is rejected: every generated row passes the row rules.
    assert set(rejected["reason"]) == {"duplicate_tweet_id"}, rejected["reason"].value_counts()
    assert 0.005 * len(tweets) < len(rejected) < 0.02 * len(tweets)
    assert len(clean) + len(rejected) == len(tweets)


def test_tweet_counts_are_heavy_tailed_per_day_and_per_ticker(universe):
    _, directory = universe
    counts = _daily_counts(_tweets(directory))
    assert counts.groupby(level="ticker").size().eq(30).all()  # every trading day has tweets
    per_ticker = counts.groupby(level="ticker").agg(lambda c: c.max() / c.median())
    # The demo's day factor (lognormal sd 0.25) gives about 1.7-3.5 here; the universe's (sd 1.0) more.
    assert per_ticker.median() > 5, per_ticker
    means = counts.groupby(level="ticker").mean()
    assert means.max() / means.min() > 3, means  # attention differs between tickers
    assert 100 < counts.mean() < 600  # about 200 a ticker-day (1.6x after the regime shift), ticker draws aside


def test_the_universe_loads_through_the_raw_assets(universe, tmp_path, monkeypatch):
    _, directory = universe
    monkeypatch.setenv("FINPULSE_DATA", str(directory))
    monkeypatch.setenv("FINPULSE_TICKERS", str(TICKERS))
    monkeypatch.setenv("FINPULSE_START", START)
    monkeypatch.setenv("FINPULSE_END", END)
    settings = Settings.from_env()
    assert settings.tickers == tuple(synthetic_tickers(TICKERS))
    partitions = ticker_day_partitions(settings)
    ticker = settings.tickers[1]
    with DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions(ticker_partitions.name, list(settings.tickers))
        result = materialize(
            [*build_tweet_assets(partitions), *build_price_assets(partitions)], instance=instance,
            selection=["raw_tweets", "raw_prices"],
            resources={"io_manager": PartitionedDeltaIOManager(base_dir=str(tmp_path / "assets")),
                       "price_source": price_source(settings), "tweet_source": tweet_source(settings)},
            tags=range_tags(ticker, date(2024, 1, 1), date(2024, 2, 13)))
    assert result.success
    assert all(check.passed for check in result.get_asset_check_evaluations())
    prices, tweets = stored_ticker(tmp_path / "assets", "raw_prices", ticker), \
        stored_ticker(tmp_path / "assets", "raw_tweets", ticker)
    assert len(prices) == 30
    assert len(tweets) == _daily_counts(_tweets(directory)).loc[ticker].sum() - _duplicates(directory, ticker)


def _duplicates(directory, ticker) -> int:
    tweets = _tweets(directory)
    return int(tweets.loc[tweets["ticker"] == ticker, "tweet_id"].duplicated().sum())
