"""A ticker x day run whose blocking schema check fails writes nothing: stored partitions stay as they were."""

from datetime import date

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series
from dagster import DagsterInstance, materialize

import finpulse_assets.assets.tweets
from finpulse_assets.assets.partitioned import SCHEMA_CHECK
from finpulse_assets.assets.tweets import build_tweet_assets
from finpulse_assets.io_managers.delta import PartitionedDeltaIOManager
from finpulse_assets.assets.schemas import RawTweets
from finpulse_assets.partitions import range_tags, ticker_day_partitions, ticker_partitions
from finpulse_assets.settings import Settings
from finpulse_assets.storage.ticker_day_table import TickerDayTable
from finpulse_assets_tests.fakes import FakeTweetSource, tweet_rows
from finpulse_assets_tests.stored import stored_ticker

SETTINGS = Settings(start="2024-01-01", end="2024-02-01", tickers=("AAA",))
ASSETS = build_tweet_assets(ticker_day_partitions(SETTINGS))
FIRST, LAST = date(2024, 1, 1), date(2024, 1, 14)


def _run(instance, base, rows):
    return materialize(ASSETS, instance=instance, raise_on_error=False,
                       resources={"io_manager": PartitionedDeltaIOManager(base_dir=str(base)),
                                  "tweet_source": FakeTweetSource(rows=rows)},
                       tags=range_tags("AAA", FIRST, LAST))


class CappedLikes(RawTweets):
    """The asset's schema with a like count cap the test input breaks: cleaning now rejects every value the real
    schema would refuse (1e30 is a counted bad row), so the failing check needs a schema stricter than cleaning."""
    like_num: Series[int] = pa.Field(ge=0, le=1_000_000)


def test_a_failed_schema_check_fails_the_run_and_leaves_storage_unchanged(tmp_path, monkeypatch):
    rows = tweet_rows(tickers=("AAA",), start="2024-01-01", end="2024-01-14")
    with DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions(ticker_partitions.name, ["AAA"])
        assert _run(instance, tmp_path, rows).success
        before = {a: stored_ticker(tmp_path, a, "AAA") for a in ("raw_tweets", "vader_labels")}
        versions = {a: TickerDayTable(str(tmp_path / a)).version() for a in before}
        files = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())

        monkeypatch.setattr(finpulse_assets.assets.tweets, "RawTweets", CappedLikes)
        bad = [dict(r, like_num="5000000", body="Great earnings, $AAA to the moon") if i == 40 else r
               for i, r in enumerate(rows)]
        result = _run(instance, tmp_path, bad)

    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert failure.step_key == "raw_tweets" and SCHEMA_CHECK in str(failure.event_specific_data.error)
    evaluation = [e for e in result.get_asset_check_evaluations() if e.check_name == SCHEMA_CHECK]
    assert [e.passed for e in evaluation] == [False]
    assert "like_num" in evaluation[0].metadata["failure_cases"].value
    assert not [e for e in result.get_asset_materialization_events()]
    for asset, frame in before.items():
        pd.testing.assert_frame_equal(stored_ticker(tmp_path, asset, "AAA"), frame)
        assert TickerDayTable(str(tmp_path / asset)).version() == versions[asset]
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file()) == files
