"""The four ticker x day data assets materialized together with fake sources into a temp dir."""

from datetime import date

import pandas as pd
import pytest
from dagster import DagsterInstance, materialize

from finpulse_assets.assets.partitioned import SCHEMA_CHECK, schema_check
from finpulse_assets.assets.prices import build_price_assets
from finpulse_assets.assets.tweets import build_tweet_assets
from finpulse_assets.features.price import FEATURE_COLUMNS
from finpulse_assets.io_managers.delta import PartitionedDeltaIOManager
from finpulse_assets.partitions import key_for, range_tags, ticker_day_partitions, ticker_partitions
from finpulse_assets.assets.schemas import RawPrices
from finpulse_assets.settings import Settings
from finpulse_assets_tests.fakes import FakePriceSource, FakeTweetSource, price_rows, tweet_rows
from finpulse_assets_tests.stored import last_commit_partitions, stored_partition, stored_ticker

SETTINGS = Settings(start="2024-01-01", end="2024-04-01", tickers=("AAA", "BBB"))
PARTS = ticker_day_partitions(SETTINGS)
ASSETS = [*build_tweet_assets(PARTS), *build_price_assets(PARTS)]


@pytest.fixture
def instance():
    with DagsterInstance.ephemeral() as inst:
        inst.add_dynamic_partitions(ticker_partitions.name, ["AAA", "BBB"])
        yield inst


def _run(instance, tmp_path, ticker, first, last, prices=None, tweets=None, raise_on_error=True):
    return materialize(
        ASSETS, instance=instance, raise_on_error=raise_on_error,
        resources={"io_manager": PartitionedDeltaIOManager(base_dir=str(tmp_path)),
                   "price_source": prices or FakePriceSource(rows=price_rows()),
                   "tweet_source": tweets or FakeTweetSource(rows=tweet_rows())},
        tags=range_tags(ticker, first, last))


def _metadata(result, asset, partition):
    for event in result.get_asset_materialization_events():
        mat = event.materialization
        if mat.asset_key.to_user_string() == asset and mat.partition == partition:
            return {k: v.value for k, v in mat.metadata.items()}
    raise KeyError((asset, partition))


def test_a_range_of_partitions_materializes_in_one_run(instance, tmp_path):
    result = _run(instance, tmp_path, "AAA", date(2024, 1, 1), date(2024, 3, 31))
    assert result.success
    mats = result.get_asset_materialization_events()
    assert len(mats) == 4 * 91
    assert all(e.passed for e in result.get_asset_check_evaluations())
    assert last_commit_partitions(tmp_path, "raw_prices") == "AAA:2024-01-01..2024-03-31"  # all 91 in one commit
    assert stored_ticker(tmp_path, "raw_prices", "BBB").empty


def test_weekend_and_holiday_partitions_are_empty_with_a_reason(instance, tmp_path):
    result = _run(instance, tmp_path, "AAA", date(2024, 1, 1), date(2024, 1, 31))
    saturday = _metadata(result, "raw_prices", key_for("AAA", date(2024, 1, 6)))
    assert saturday["rows"] == 0 and saturday["status"] == "market closed: weekend (Saturday)"
    new_year = _metadata(result, "raw_tweets", key_for("AAA", date(2024, 1, 1)))
    assert new_year["rows"] == 0 and new_year["status"] == "market closed: NYSE holiday"
    # Weekend tweets count toward Monday: 4 posts a day, Monday 8 Jan gets Fri evening..Mon close.
    monday = stored_partition(tmp_path, "raw_tweets", "AAA", "2024-01-08")
    assert len(monday) == 1 + 4 + 4 + 3
    labels = stored_partition(tmp_path, "vader_labels", "AAA", "2024-01-08")
    assert set(labels["label"]) == {"positive", "negative", "neutral"}
    assert (labels.loc[labels.text.str.startswith("Great"), "label"] == "positive").all()


def test_bad_rows_are_dropped_and_counted_in_their_partition(instance, tmp_path):
    rows = price_rows()
    rows.append({**rows[5], "close": "-3"})  # a second, negative row for the same day
    rows.append({**rows[6], "date": "2024-13-45"})
    rows[7] = {**rows[7], "volume": "lots"}
    result = _run(instance, tmp_path, "AAA", date(2024, 1, 1), date(2024, 1, 31),
                  prices=FakePriceSource(rows=rows))
    meta = _metadata(result, "raw_prices", key_for("AAA", pd.Timestamp(rows[5]["date"]).date()))
    assert meta["rows"] == 1 and meta["rejected_by_reason"] == {"non_positive_price": 1}
    volume_day = _metadata(result, "raw_prices", key_for("AAA", pd.Timestamp(rows[7]["date"]).date()))
    assert volume_day["rows"] == 0 and volume_day["rejected_by_reason"] == {"non_numeric_volume": 1}
    assert volume_day["status"] == "no bar in the source for this trading day"


def test_price_features_of_t_ignore_everything_after_t(instance, tmp_path):
    t = date(2024, 2, 15)
    _run(instance, tmp_path, "AAA", date(2024, 1, 1), date(2024, 3, 31))
    before = stored_partition(tmp_path, "price_features", "AAA", t)
    changed = [dict(r, close=r["close"] * 3, high=r["high"] * 3, adj_close=r["adj_close"] * 3, open=r["open"] * 3,
                    low=r["low"] * 3, volume=r["volume"] * 7) if pd.Timestamp(r["date"]).date() > t else r
               for r in price_rows()]
    _run(instance, tmp_path, "AAA", date(2024, 1, 1), date(2024, 3, 31), prices=FakePriceSource(rows=changed))
    after = stored_partition(tmp_path, "price_features", "AAA", t)
    assert before["history_complete"].item()
    pd.testing.assert_frame_equal(before[FEATURE_COLUMNS], after[FEATURE_COLUMNS])
    assert after["target_close"].item() == pytest.approx(3 * before["target_close"].item())


def test_a_file_level_error_fails_the_run_and_keeps_stored_partitions(instance, tmp_path):
    _run(instance, tmp_path, "AAA", date(2024, 1, 1), date(2024, 1, 31))
    before = stored_ticker(tmp_path, "raw_prices", "AAA")
    result = _run(instance, tmp_path, "AAA", date(2024, 1, 1), date(2024, 1, 31),
                  prices=FakePriceSource(rows=[], fail=True), raise_on_error=False)
    assert not result.success
    failure = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"][0]
    assert "prices/AAA.csv" in str(failure.event_specific_data.error) and "Adj Close" in str(failure.event_specific_data.error)
    pd.testing.assert_frame_equal(stored_ticker(tmp_path, "raw_prices", "AAA"), before)


def test_schema_check_fails_on_impossible_bars():
    bad = RawPrices.empty()
    bad.loc[0] = ["AAA", pd.Timestamp("2024-01-02"), 10.0, 9.0, 8.0, 9.5, 9.4, 100.0]
    result = schema_check(bad, RawPrices)
    assert result.check_name == SCHEMA_CHECK and not result.passed
    assert "high < max(open, close)" in result.metadata["failure_cases"].value


def test_a_tweet_preview_shows_links_images_and_html_as_text(instance, tmp_path):
    from markdown_it import MarkdownIt

    rows = tweet_rows(("AAA",), "2024-01-02", "2024-01-02")
    rows[0]["body"] = "$AAA ![pixel](http://tracker.example/p.png) <img src=x onerror=alert(1)> a|b ``x`` http://t.co/"
    result = _run(instance, tmp_path, "AAA", date(2024, 1, 2), date(2024, 1, 2), tweets=FakeTweetSource(rows=rows))
    preview = _metadata(result, "raw_tweets", key_for("AAA", date(2024, 1, 2)))["preview"]
    html = MarkdownIt("commonmark").enable("table").render(preview)
    assert "<img" not in html and "<a " not in html and "&lt;img src=x" in html, html
    assert "$AAA ![pixel](http://tracker.example/p.png)" in html  # one cell, shown as written
