"""Cost of the completeness guard's read of stored row counts (assets/completeness.stored_rows).

Materializes raw_prices for one ticker over `--days` day partitions `--runs` times
into an ephemeral instance (SQLite in a temp dir), then times stored_rows over
the run's keys: the latest materialization per partition, then their metadata.

    python benchmarks/completeness_guard.py --days 365 --runs 3
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import date, timedelta
from types import SimpleNamespace

from dagster import DagsterInstance, materialize

from finpulse_assets.assets.completeness import recorded_rows, stored_rows
from finpulse_assets.partitions import parse_keys
from finpulse_assets.definitions import build_definitions
from finpulse_assets.partitions import key_for, range_tags, ticker_partitions
from finpulse_assets.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    first = date(2023, 1, 1)
    last = first + timedelta(days=args.days - 1)
    with tempfile.TemporaryDirectory() as tmp, DagsterInstance.ephemeral(tempdir=tmp) as instance:
        settings = Settings(tickers=("AAA",), start=str(first), end=str(last + timedelta(days=1)), storage_dir=tmp)
        defs = build_definitions(settings)
        instance.add_dynamic_partitions(ticker_partitions.name, ["AAA"])
        for _ in range(args.runs):
            assert materialize(list(defs.assets), selection=["raw_prices"], instance=instance,
                               resources=dict(defs.resources),
                               tags=range_tags("AAA", first, last)).success
        raw_prices = defs.get_assets_def("raw_prices")
        context = SimpleNamespace(instance=instance, assets_def=raw_prices)
        keys = [key_for("AAA", first + timedelta(days=n)) for n in range(args.days)]
        for name, read in [("from the Delta table (stored_rows)", lambda: stored_rows(context, defs.resources["io_manager"], parse_keys(keys))),
                           ("from the instance (recorded_rows)", lambda: recorded_rows(context, keys))]:
            timings = []
            for _ in range(5):
                started = time.perf_counter()
                rows = read()
                timings.append(time.perf_counter() - started)
            print(f"{name} over {len(keys)} partitions with {args.runs} materializations each: "
                  f"{len(rows)} found, {sum(rows.values())} rows; best of 5 {min(timings) * 1000:.0f} ms, "
                  f"median {sorted(timings)[2] * 1000:.0f} ms")


if __name__ == "__main__":
    main()
