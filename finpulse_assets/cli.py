"""`python -m finpulse_assets.cli materialize`: what `make demo` runs.

Registers the configured tickers as dynamic partitions and materializes every
asset for every ticker x day partition of the configured window into the
Dagster instance in $DAGSTER_HOME, batched as a backfill would be (one run per
ticker covering its whole range of days), then prints a summary.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict

import pandas as pd
from dagster import DagsterInstance
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from finpulse_assets.definitions import DATA_ASSETS_JOB, build_definitions
from finpulse_assets.partitions import key_for, ticker_partitions
from finpulse_assets.settings import Settings


def register_tickers(instance: DagsterInstance, tickers) -> list[str]:
    known = set(instance.get_dynamic_partitions(ticker_partitions.name))
    new = [t for t in tickers if t not in known]
    if new:
        instance.add_dynamic_partitions(ticker_partitions.name, new)
    return new


def materialize(settings: Settings, instance: DagsterInstance) -> dict:
    defs = build_definitions(settings)
    job = defs.resolve_job_def(DATA_ASSETS_JOB)
    register_tickers(instance, settings.tickers)
    first = pd.Timestamp(settings.start).date()
    last = (pd.Timestamp(settings.end) - pd.Timedelta(days=1)).date()
    started = time.perf_counter()
    totals: dict[str, dict[str, int]] = defaultdict(lambda: {"partitions": 0, "rows": 0, "rows_rejected": 0})
    failed_checks: list[str] = []
    for ticker in settings.tickers:
        result = job.execute_in_process(instance=instance, raise_on_error=True, tags={
            ASSET_PARTITION_RANGE_START_TAG: key_for(ticker, first),
            ASSET_PARTITION_RANGE_END_TAG: key_for(ticker, last),
            "finpulse/launched_by": "cli",
        })
        for event in result.get_asset_materialization_events():
            mat = event.materialization
            stats = totals[mat.asset_key.to_user_string()]
            if mat.partition is None:
                continue
            stats["partitions"] += 1
            stats["rows"] += int(mat.metadata["rows"].value)
            stats["rows_rejected"] += int(mat.metadata["rows_rejected"].value)
        for evaluation in result.get_asset_check_evaluations():
            if not evaluation.passed:
                failed_checks.append(f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name} ({ticker})")
    return {"assets": dict(totals), "seconds": time.perf_counter() - started, "failed_checks": failed_checks}


def print_summary(summary: dict, settings: Settings) -> None:
    print(f"\nFinPulse: {len(settings.tickers)} tickers x {settings.start} .. {settings.end} (end exclusive)")
    print(f"{'asset':<18}{'partitions':>12}{'rows':>12}{'rejected':>10}")
    for name, s in summary["assets"].items():
        print(f"{name:<18}{s['partitions']:>12}{s['rows']:>12}{s['rows_rejected']:>10}")
    print(f"time taken: {summary['seconds']:.1f} s")
    if summary["failed_checks"]:
        print("FAILED checks: " + ", ".join(summary["failed_checks"]))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="finpulse")
    parser.add_argument("command", choices=["materialize"])
    parser.parse_args(argv)
    settings = Settings.from_env()
    with DagsterInstance.get() as instance:
        summary = materialize(settings, instance)
    print_summary(summary, settings)
    return 1 if summary["failed_checks"] else 0


if __name__ == "__main__":
    sys.exit(main())
