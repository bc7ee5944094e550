"""Ticker x day Delta tables on S3 (moto's server on loopback) next to the local disk, one ticker-year.

    nice python benchmarks/s3_storage.py --days 366 --rows 1 --repeat 3

Per store: seconds to write one ticker-year in one run (one Delta commit, what a
backfill run of one ticker does), to read the whole year back, and to load one
partition (what a single-day run's upstream load does); then the same year
materialized end to end from the S3 landing prefix (raw_prices + price_features,
the Dagster run included) with FINPULSE_S3_BUCKET set. moto runs in one process on
this machine: the figures show FinPulse's own overhead on the S3 path, not a real
store's network latency.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from finpulse_assets.partitions import TickerDay
from finpulse_assets.storage.ticker_day_table import TickerDayTable
from finpulse_assets.deploy.moto_s3 import create_bucket, s3_server

BUCKET = "finpulse-bench"


def year_frames(days: int, rows: int) -> dict[TickerDay, pd.DataFrame]:
    rng = np.random.default_rng(0)
    first = date(2024, 1, 1)
    return {TickerDay("AAA", first + timedelta(days=i)): pd.DataFrame(
        {"ticker": ["AAA"] * rows, "date": [pd.Timestamp(first + timedelta(days=i))] * rows,
         **{f"f{j}": rng.normal(size=rows) for j in range(18)}}) for i in range(days)}


def time_table(table: TickerDayTable, frames, repeat: int) -> dict[str, float]:
    parts = sorted(frames, key=lambda p: p.day)
    middle = [parts[len(parts) // 2]]
    out = {"write_year_s": [], "read_year_s": [], "load_one_partition_s": []}
    for _ in range(repeat):
        started = time.perf_counter()
        table.write_run(frames, uuid.uuid4().hex)
        out["write_year_s"].append(time.perf_counter() - started)
        started = time.perf_counter()
        year, _ = table.read(parts)
        out["read_year_s"].append(time.perf_counter() - started)
        started = time.perf_counter()
        one, _ = table.read(middle)
        out["load_one_partition_s"].append(time.perf_counter() - started)
        assert len(year) == sum(len(f) for f in frames.values()) and len(one) == len(frames[middle[0]])
    return {k: round(statistics.median(v), 3) for k, v in out.items()}


def price_csv(days: int) -> str:
    rows = [f"{d.date()},{100 + i:.2f},{101 + i:.2f},{99 + i:.2f},{100.5 + i:.2f},{100.5 + i:.2f},{1000 + i}"
            for i, d in enumerate(pd.bdate_range("2024-01-01", periods=days * 5 // 7))]
    return "\n".join(["Date,Open,High,Low,Close,Adj Close,Volume", *rows]) + "\n"


def time_materialization(endpoint, days: int, storage_dir: Path) -> float:
    """Seconds to materialize the year: from the landing prefix onto S3 (`endpoint`), or from a local
    yahoo_csv folder onto the local disk (`endpoint` None)."""
    from dagster import DagsterInstance, materialize

    from finpulse_assets.definitions import build_definitions
    from finpulse_assets.partitions import key_for
    from finpulse_assets.settings import Settings

    end = date(2024, 1, 1) + timedelta(days=days)
    if endpoint is not None:
        os.environ.update(endpoint.env(BUCKET, prefix="e2e"))
        endpoint.client().put_object(Bucket=BUCKET, Key="e2e/landing/prices/AAA.csv", Body=price_csv(days).encode())
        source = {"tweet_source": "s3_landing", "price_source": "s3_landing"}
    else:
        os.environ.pop("FINPULSE_S3_BUCKET", None)
        (storage_dir / "prices").mkdir(parents=True)
        (storage_dir / "prices" / "AAA.csv").write_text(price_csv(days))
        source = {"price_source": "yahoo_csv", "prices_dir": str(storage_dir / "prices")}
    settings = Settings(**source, tickers=("AAA",), start="2024-01-01", end=str(end), storage_dir=str(storage_dir))
    defs = build_definitions(settings)
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("tickers", ["AAA"])
    tags = {"dagster/asset_partition_range_start": key_for("AAA", date(2024, 1, 1)),
            "dagster/asset_partition_range_end": key_for("AAA", end - timedelta(days=1))}
    started = time.perf_counter()
    assert materialize(list(defs.assets), selection=["raw_prices", "price_features"], instance=instance,
                       resources=dict(defs.resources), tags=tags).success
    return round(time.perf_counter() - started, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=366)
    parser.add_argument("--rows", type=int, default=1, help="rows per partition (a price bar is 1)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    frames = year_frames(args.days, args.rows)
    results = {"days": args.days, "rows_per_partition": args.rows}
    with tempfile.TemporaryDirectory(prefix="finpulse-s3-bench-") as tmp, s3_server() as endpoint:
        create_bucket(endpoint, BUCKET)
        results["local"] = time_table(TickerDayTable(str(Path(tmp) / "local" / "t")), frames, args.repeat)
        results["moto_s3"] = time_table(TickerDayTable(f"s3://{BUCKET}/bench/t", endpoint.storage_options()),
                                        frames, args.repeat)
        key = "materialize_raw_prices_and_price_features_s"
        results["local"][key] = time_materialization(None, args.days, Path(tmp) / "local_storage")
        results["moto_s3"][key] = time_materialization(endpoint, args.days, Path(tmp) / "storage")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
