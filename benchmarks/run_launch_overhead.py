"""What recording the CLI's runs with the workspace origin costs: `execute_in_process` (before) against
`run_launch.execute_job` (now), side by side, alternating, on the same job and partitions.

    python benchmarks/run_launch_overhead.py [--days 31] [--rounds 3]

Each round runs data_assets_job for one demo ticker over the same days both ways, into one persistent
instance in a temp DAGSTER_HOME (as `make demo` does); prints the median seconds of each and their ratio.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from dagster import DagsterInstance

from finpulse_assets.runs.cli import CONSOLE_LOGS, register_tickers
from finpulse_assets.definitions import DATA_ASSETS_JOB, build_definitions
from finpulse_assets.partitions import range_tags
from finpulse_assets.runs.launch import execute_job
from finpulse_assets.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=31)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    first = date(2024, 1, 1)
    last = first + timedelta(days=args.days - 1)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(tickers=("AAPL",), start=first.isoformat(), end=(last + timedelta(days=1)).isoformat(),
                            storage_dir=str(Path(tmp) / "storage"))
        job = build_definitions(settings).resolve_job_def(DATA_ASSETS_JOB)
        tags = range_tags("AAPL", first, last)
        (Path(tmp) / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        seconds = {"execute_in_process": [], "execute_job": []}
        with DagsterInstance.from_config(tmp) as instance:
            register_tickers(instance, settings.tickers)
            for _ in range(args.rounds):
                started = time.perf_counter()
                assert job.execute_in_process(instance=instance, run_config=CONSOLE_LOGS, tags=tags).success
                seconds["execute_in_process"].append(time.perf_counter() - started)
                started = time.perf_counter()
                assert execute_job(job, instance, CONSOLE_LOGS, tags).success
                seconds["execute_job"].append(time.perf_counter() - started)
    medians = {k: statistics.median(v) for k, v in seconds.items()}
    print(f"data_assets_job, 1 ticker x {args.days} days ({4 * args.days} asset partitions), {args.rounds} rounds")
    for name, value in medians.items():
        print(f"  {name}: median {value:.2f} s  ({', '.join(f'{s:.2f}' for s in seconds[name])})")
    print(f"  ratio execute_job / execute_in_process: {medians['execute_job'] / medians['execute_in_process']:.2f}")


if __name__ == "__main__":
    main()
