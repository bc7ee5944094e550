"""Which tickers a run writes, as the deployment's run queue reads them (runs/ticker_queue.py), and run tags
that say why a run covers more days than asked (sensors/widening.py). The queue with a real daemon:
test_deployment_one_writer.py."""

from __future__ import annotations

import threading
from datetime import date

from dagster import DagsterRunStatus, Definitions, asset, define_asset_job, instance_for_test

from finpulse_assets.dagster_private import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    PARTITION_NAME_TAG,
)
from finpulse_assets.partitions import TICKER_RUN_TAG, ticker_partitions
from finpulse_assets.runs.launch import execute_job
from finpulse_assets.runs.ticker_queue import TickerRunCoordinator, writer_tags, written_tickers
from finpulse_assets.sensors.widening import MAX_LISTED_RANGES, WIDENED_BECAUSE_TAG, WIDENED_FROM_TAG, widening_tags

KNOWN = ["MSFT", "AAPL", "TSLA", "GOOG"]  # Dagster's order is the order tickers were registered in


def _range(first: str, last: str) -> dict[str, str]:
    return {ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last}


def test_a_run_writes_the_tickers_of_its_partition_tags():
    assert written_tickers({PARTITION_NAME_TAG: "2024-01-02|AAPL"}, KNOWN) == {"AAPL"}
    assert written_tickers(_range("2024-01-01|TSLA", "2024-03-01|TSLA"), KNOWN) == {"TSLA"}
    # A backfill with fewer days than tickers: one day, the tickers between the ends in registration order.
    assert written_tickers(_range("2024-01-01|AAPL", "2024-01-01|GOOG"), KNOWN) == {"AAPL", "TSLA", "GOOG"}
    assert written_tickers(_range("2024-01-01|GOOG", "2024-01-01|AAPL"), KNOWN) == set(KNOWN)  # unplaceable: all
    assert written_tickers({TICKER_RUN_TAG: "MSFT"}, KNOWN) == {"MSFT"}
    assert written_tickers({"dagster/backfill": "x"}, KNOWN) == set()  # unpartitioned models write no ticker


def test_the_queue_limits_each_registered_ticker_to_one_run():
    overrides = {"run_coordinator": {"module": TickerRunCoordinator.__module__, "class": TickerRunCoordinator.__name__,
                                     "config": {"max_concurrent_runs": 4,
                                                "tag_concurrency_limits": [{"key": "dagster/backfill", "limit": 3}]}}}
    with instance_for_test(overrides=overrides) as instance:
        instance.add_dynamic_partitions(ticker_partitions.name, KNOWN)
        limits = instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
        assert limits == [{"key": "dagster/backfill", "limit": 3}, *[{"key": k, "limit": 1} for k in writer_tags(KNOWN)]]
        instance.add_dynamic_partitions(ticker_partitions.name, ["NVDA"])  # a ticker a sensor adds is limited at once
        assert {"key": "finpulse/writes/NVDA", "limit": 1} in (
            instance.get_concurrency_config().run_queue_config.tag_concurrency_limits)


def test_a_run_over_more_days_than_asked_says_which_and_why():
    jan = lambda d: date(2024, 1, d)  # noqa: E731
    assert widening_tags({jan(d) for d in range(1, 6)}, jan(1), jan(5), "why") == {}
    tags = widening_tags({jan(1), jan(2), jan(5)}, jan(1), jan(5), "closed days")
    assert tags == {WIDENED_FROM_TAG: "2024-01-01..2024-01-02,2024-01-05",
                    WIDENED_BECAUSE_TAG: "2 of the run's 5 days were not asked for: closed days"}
    every_other = {jan(d) for d in range(1, 31, 2)}
    listed = widening_tags(every_other, jan(1), jan(29), "gaps")[WIDENED_FROM_TAG].split(",")
    assert len(listed) == MAX_LISTED_RANGES + 1 and listed[-1] == f"+{15 - MAX_LISTED_RANGES} more ranges"


def test_a_cli_run_starts_once_the_run_in_progress_on_its_ticker_has_ended(tmp_path, capsys):
    @asset
    def anything():
        return 1

    job = Definitions(assets=[anything], jobs=[define_asset_job("j")]).resolve_job_def("j")
    with instance_for_test(temp_dir=str(tmp_path)) as instance:
        other = instance.create_run_for_job(job, tags=writer_tags(["AAPL"]), status=DagsterRunStatus.STARTED)
        unrelated = instance.create_run_for_job(job, tags=writer_tags(["MSFT"]), status=DagsterRunStatus.STARTED)
        ender = threading.Timer(1.0, lambda: instance.report_run_failed(instance.get_run_by_id(other.run_id)))
        ender.start()
        try:
            result = execute_job(job, instance, {}, tags=writer_tags(["AAPL"]))
        finally:
            ender.join()
        assert result.success
        assert f"waiting for run(s) {other.run_id} writing the same ticker" in capsys.readouterr().err
        mine = instance.get_run_record_by_id(result.run_id)
        assert mine.start_time >= instance.get_run_record_by_id(other.run_id).end_time
        assert instance.get_run_by_id(unrelated.run_id).status == DagsterRunStatus.STARTED  # another ticker: no wait
