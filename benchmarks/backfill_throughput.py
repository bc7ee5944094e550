"""Partitions per minute of a CLI backfill of the four data assets on real files.

    python benchmarks/backfill_throughput.py --data ../shared/data/stocknet-dev

Registers the tickers, then runs `dagster asset materialize --partition-range`
once per ticker over 2014-01-01..2015-12-31 (the batching the backfill policy
gives a UI backfill: one run per ticker), into a fresh SQLite DAGSTER_HOME.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from finpulse_assets.runs.progress import Progress

ASSETS = "raw_tweets,vader_labels,raw_prices,price_features"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="../shared/data/stocknet-dev")
    parser.add_argument("--tickers", default="AAPL,AMZN,FB,GOOG,INTC,MSFT")
    parser.add_argument("--start", default="2014-01-01")
    parser.add_argument("--last", default="2015-12-31")
    parser.add_argument("--out", default="reports/backfill_throughput.json")
    args = parser.parse_args()
    tickers = args.tickers.split(",")
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "DAGSTER_HOME": home, "FINPULSE_DATA": str(Path(args.data).resolve()),
               "FINPULSE_TICKERS": args.tickers, "FINPULSE_START": args.start,
               "FINPULSE_END": _day_after(args.last), "FINPULSE_STORAGE_DIR": str(Path(home) / "storage")}
        Path(home, "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        subprocess.run([sys.executable, "-c", "from dagster import DagsterInstance\n"
                        "from finpulse_assets.runs.cli import register_tickers\n"
                        f"register_tickers(DagsterInstance.get(), {tickers!r})"], env=env, check=True)
        started = time.perf_counter()
        days = (_date(args.last) - _date(args.start)).days + 1
        progress = Progress()
        progress.stage("backfill", days * len(tickers) * 4, "asset partitions")
        for ticker in tickers:
            subprocess.run([sys.executable, "-m", "dagster", "asset", "materialize", "-m", "finpulse_assets.definitions",
                            "--select", ASSETS, "--partition-range", f"{args.start}|{ticker}...{args.last}|{ticker}"],
                           env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            progress.advance(days * 4)  # one run per ticker: its four assets' partitions
        progress.end()
        seconds = time.perf_counter() - started
    partitions = days * len(tickers)
    result = {"tickers": len(tickers), "days": days, "partitions_per_asset": partitions,
              "asset_partitions": partitions * 4, "runs": len(tickers), "seconds": round(seconds, 1),
              "partitions_per_minute": round(partitions / seconds * 60),
              "asset_partitions_per_minute": round(partitions * 4 / seconds * 60)}
    print(json.dumps(result, indent=2))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))


def _date(text):
    from datetime import date

    return date.fromisoformat(text)


def _day_after(text):
    from datetime import timedelta

    return (_date(text) + timedelta(days=1)).isoformat()


if __name__ == "__main__":
    main()
