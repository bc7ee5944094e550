"""Data-asset throughput (asset-partitions per minute) through the Celery executor with 1, 2 and 4 workers.

    python benchmarks/celery_engine_throughput.py --tickers 8 --days 30 --workers 1,2,4 --baseline

Side by side in one invocation; each configuration gets a fresh Postgres database (on --pg-url's server),
a fresh bucket on one moto S3 server and fresh working directories:

  celery/w<N>   N `dagster-celery worker start` processes (concurrency 1 each, own working directory),
                the CLI's `materialize` orchestrating FINPULSE_CELERY_RUNS runs at a time (runs/celery_runs.py)
  pool/w2       --baseline: the CLI's own pool of 2 worker processes with the in-process executor, same
                instance and object store (what `make demo` does with FINPULSE_PG_URL and FINPULSE_S3_BUCKET)

Timed: the `data_assets_job` stage (raw_tweets, vader_labels, raw_prices, price_features), one run per ticker over
all its days, from the first run's creation to the last run's end (the summary's stage time); worker start-up
is timed apart. The load average before and after each configuration is recorded (the machine is shared).
Writes reports/celery_engine_throughput.json and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ASSETS = 4
JOB = "data_assets_job"


def measure(config: str, workers: int, args, endpoint, scratch: Path) -> dict:
    from dagster import DagsterInstance

    from finpulse_assets.deploy.moto_s3 import create_bucket
    from finpulse_assets.engine.celery_worker import running_workers
    from finpulse_assets.engine.executor import CELERY, DEFAULT, CelerySettings
    from finpulse_assets.runs.cli import materialize
    from finpulse_assets.settings import Settings
    from finpulse_assets.sources.universe import parse_tickers
    from finpulse_assets.storage.instance import prepare_home
    from finpulse_assets.storage.postgres_admin import temporary_database

    tag = uuid.uuid4().hex[:8]
    executor = CELERY if config == "celery" else DEFAULT
    with temporary_database("celery_bench") as url, ExitStack() as stack:
        os.environ.update({**endpoint.env(create_bucket(endpoint, f"bench-{tag}")), "FINPULSE_PG_URL": url,
                           "FINPULSE_CELERY_QUEUE": f"finpulse-bench-{tag}", "FINPULSE_EXECUTOR": executor,
                           "FINPULSE_MLFLOW_URI": f"sqlite:///{scratch / 'mlflow.db'}"})
        home = scratch / f"{config}-{workers}" / "dagster_home"
        prepare_home(home, url)
        os.environ["DAGSTER_HOME"] = str(home)
        load_before = os.getloadavg()[0]
        started = time.perf_counter()
        if executor == CELERY:
            stack.enter_context(running_workers(scratch / f"{config}-{workers}" / "workers", workers,
                                                CelerySettings.from_env(), dict(os.environ)))
        startup = time.perf_counter() - started
        end = date.fromisoformat(args.start) + timedelta(days=args.days)
        settings = Settings(tickers=parse_tickers(str(args.tickers)), start=args.start, end=str(end),
                            storage_dir=str(scratch / f"{config}-{workers}" / "storage"))
        with DagsterInstance.get() as instance:
            summary = materialize(settings, instance, [JOB], workers=workers, executor=executor)
        if summary["failure"]:
            raise RuntimeError(f"{config}/w{workers}: {summary['failure']}")
        seconds = summary["stage_seconds"][JOB]
        partitions = sum(s["partitions"] for s in summary["assets"].values())
        return {"config": f"{config}/w{workers}", "asset_partitions": partitions, "seconds": round(seconds, 1),
                "per_min": round(partitions / seconds * 60), "startup_seconds": round(startup, 1),
                "runs_in_flight": int(os.environ.get("FINPULSE_CELERY_RUNS", "4")) if executor == CELERY else None,
                "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickers", type=int, default=8, help="synthetic demo tickers")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--start", default="2024-01-01")
    parser.add_argument("--workers", default="1,2,4", help="comma-separated Celery worker counts")
    parser.add_argument("--baseline", action="store_true", help="also the CLI's own 2-process pool")
    parser.add_argument("--out", default=str(ROOT / "reports" / "celery_engine_throughput.json"))
    args = parser.parse_args()
    os.environ.setdefault("FINPULSE_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
    from finpulse_assets.deploy.moto_s3 import s3_server

    plan = [("celery", int(n)) for n in args.workers.split(",")] + ([("pool", 2)] if args.baseline else [])
    rows = []
    with s3_server() as endpoint, tempfile.TemporaryDirectory(prefix="celery_bench_") as scratch:
        for config, workers in plan:
            rows.append(measure(config, workers, args, endpoint, Path(scratch)))
            print(json.dumps(rows[-1]), flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"tickers": args.tickers, "days": args.days, "rows": rows}, indent=2))
    print("\n| configuration | asset-partitions | seconds | asset-partitions/min | worker start s | load before / after |")
    print("|---|---:|---:|---:|---:|---|")
    for r in rows:
        print(f"| {r['config']} | {r['asset_partitions']} | {r['seconds']} | {r['per_min']} | {r['startup_seconds']} "
              f"| {r['load_before']} / {r['load_after']} |")


if __name__ == "__main__":
    main()
