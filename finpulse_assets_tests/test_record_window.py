"""The per-asset record lock (finpulse_assets/storage/record_window.py): held from a data asset's Output to its
last check, and released when the write fails, so the next run of the asset (in this process or another) goes on
(a lock left held would stall every later run of the asset for LOCK_TIMEOUT_S)."""

from datetime import date

from dagster import DagsterInstance, materialize
from filelock import FileLock, Timeout

from finpulse_assets.assets.tweets import build_tweet_assets
from finpulse_assets.io_managers.delta import PartitionedDeltaIOManager
from finpulse_assets.partitions import range_tags, ticker_day_partitions, ticker_partitions
from finpulse_assets.settings import Settings
from finpulse_assets.storage.record_window import record_lock_path
from finpulse_assets_tests.fakes import FakeTweetSource, tweet_rows

SETTINGS = Settings(start="2024-01-01", end="2024-02-01", tickers=("AAA",))
ASSETS = build_tweet_assets(ticker_day_partitions(SETTINGS))


class FailingWrites(PartitionedDeltaIOManager):
    def handle_output(self, context, obj):
        raise OSError("disk full")


def _free(instance, asset: str) -> bool:
    """Whether another holder (a new descriptor: flock locks conflict even within one process) gets it at once."""
    try:
        with FileLock(str(record_lock_path(instance, asset)), timeout=0):
            return True
    except Timeout:
        return False


def test_a_failed_write_releases_the_lock_at_once_and_the_next_run_s_check_targets_its_own_write(tmp_path):
    rows = tweet_rows(tickers=("AAA",), start="2024-01-01", end="2024-01-07")
    with DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions(ticker_partitions.name, ["AAA"])
        tags = range_tags("AAA", date(2024, 1, 1), date(2024, 1, 7))
        failed = materialize(ASSETS, instance=instance, raise_on_error=False, tags=tags, selection=["raw_tweets"],
                             resources={"io_manager": FailingWrites(base_dir=str(tmp_path)),
                                        "tweet_source": FakeTweetSource(rows=rows)})
        assert not failed.success and "disk full" in str(failed.all_events)
        assert _free(instance, "raw_tweets")
        done = materialize(ASSETS, instance=instance, tags=tags, selection=["raw_tweets"],
                           resources={"io_manager": PartitionedDeltaIOManager(base_dir=str(tmp_path)),
                                      "tweet_source": FakeTweetSource(rows=rows)})
        assert done.success and _free(instance, "raw_tweets")
        (check,) = done.get_asset_check_evaluations()
        assert check.target_materialization_data.run_id == done.run_id
