"""`python -m finpulse_assets.evaluation.cli --data DIR`: what `make evaluate DATA=DIR` runs.

Runs the graph's stages the evaluation needs on a dataset in the Kaggle tweet +
Yahoo price layout, in its own storage and Dagster instance
(`storage/evaluation/<dataset>/`, never the demo's), then `evaluation_job`, and
prints the table and the runtime. Tickers are the dataset's price files unless
given. The day partitions start 45 days before the protocol's train start, so
the first training windows have the 21 trading days of price history their
features need; FinBERT is fine-tuned on VADER labels of the train split only.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import pandas as pd

from finpulse_assets.evaluation.protocol import Protocol
from finpulse_assets.storage.instance import pg_url, prepare_home
from finpulse_assets.settings import PROJECT_ROOT, Settings

GRAPH_JOBS = ["data_assets_job", "sentiment_model_job", "sentiment_features_job", "text_model_job",
              "text_features_job", "forecast_model_job"]
# FinBERT on real tweets (measured on stocknet-dev): with 800 training tweets (the demo default) MiniLM
# agreed with VADER on 47.8 % of held-out tweets, under the majority class's 52.1 %; with 3,000, 61.9 %.
# That model's int8 export agreed with torch on 97.4 % (first layer fp32), 98.2 % (2), 98.8 % (3) and
# 99.7 % (4 fp32 layers) of the labels; the parity check needs 99 %. Fine-tuned on the train split only.
FINBERT_CONFIG = {"max_train_tweets": 3000}
FINBERT_ONNX_CONFIG = {"fp32_layers": 4}
HISTORY_CALENDAR_DAYS = 45  # > price_features' 40-day lookback: full features from the first train day


def dataset_tickers(data_dir: Path) -> list[str]:
    prices = data_dir / "prices"
    tickers = sorted(p.stem.upper() for p in prices.glob("*.csv")) if prices.is_dir() else []
    if not tickers:
        raise SystemExit(f"no <TICKER>.csv files in {prices}: expected the Yahoo price layout (prices/AAPL.csv, ...)")
    return tickers


def evaluation_settings(data_dir: Path, tickers: list[str], storage: Path, protocol: Protocol) -> Settings:
    for sub in ("tweets", "prices"):
        if not (data_dir / sub).is_dir():
            raise SystemExit(f"{data_dir / sub} is not a directory: expected DATA with tweets/ and prices/")
    start = (pd.Timestamp(protocol.train_start) - pd.Timedelta(days=HISTORY_CALENDAR_DAYS)).date().isoformat()
    return Settings(tweet_source="kaggle_csv", price_source="yahoo_csv", tweets_dir=str(data_dir / "tweets"),
                    prices_dir=str(data_dir / "prices"), tickers=tuple(tickers), start=start,
                    end=protocol.test_end, storage_dir=str(storage))


def evaluation_home(storage: Path) -> Path:
    """The evaluation's own DAGSTER_HOME: SQLite by default, a separate one on Postgres when FINPULSE_PG_URL is set
    (as `make` does with .dagster_home_postgres), so neither instance is ever switched over."""
    return storage / ("dagster_home_postgres" if pg_url() else "dagster_home")


def instance_for(home: Path):
    from dagster import DagsterInstance

    print(prepare_home(home, pg_url()), flush=True)
    os.environ["DAGSTER_HOME"] = str(home)
    return DagsterInstance.get()


def write_ui_env(storage: Path, settings: Settings) -> Path:
    """`storage/ui.env`: what `make ui EVALUATION=<dataset>` exports so the UI loads this evaluation's
    graph (sources, tickers, days, storage) against its Dagster instance."""
    values = {"DAGSTER_HOME": evaluation_home(storage), "FINPULSE_STORAGE_DIR": storage,
              "FINPULSE_TWEET_SOURCE": settings.tweet_source, "FINPULSE_PRICE_SOURCE": settings.price_source,
              "FINPULSE_TWEETS_DIR": settings.tweets_dir, "FINPULSE_PRICES_DIR": settings.prices_dir,
              "FINPULSE_TICKERS": ",".join(settings.tickers), "FINPULSE_START": settings.start,
              "FINPULSE_END": settings.end}
    storage.mkdir(parents=True, exist_ok=True)
    path = storage / "ui.env"
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return path


def main(argv=None) -> int:
    from finpulse_assets.runs.cli import stopped_status
    from finpulse_assets.runs.launch import stop_on_signals

    try:
        with stop_on_signals():
            return evaluate(argv)
    except KeyboardInterrupt as stop:
        return stopped_status(stop)


def evaluate(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="finpulse-evaluate")
    parser.add_argument("--data", required=True, help="dataset folder with tweets/ and prices/")
    parser.add_argument("--tickers", default="", help="comma-separated; default: every prices/<TICKER>.csv")
    parser.add_argument("--storage", default="", help="default: storage/evaluation/<dataset folder name>")
    parser.add_argument("--report-dir", default=str(PROJECT_ROOT / "reports"))
    parser.add_argument("--stages", default=",".join(GRAPH_JOBS),
                        help="graph jobs to run before evaluation_job (empty: reuse what the storage holds)")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch and ONNX Runtime intra-op threads of the FinBERT stages; 0: all cores")
    parser.add_argument("--n-trials", type=int, default=0,
                        help="Optuna trials per variant on the dev split (default: the evaluation asset's, 12)")
    parser.add_argument("--seeds", type=int, default=0, help="networks averaged per head (default: the asset's, 3)")
    parser.add_argument("--wf-step-months", type=int, default=0,
                        help="months per walk-forward fold (default: the asset's, 1)")
    parser.add_argument("--wf-n-trials", type=int, default=0,
                        help="Optuna trials per variant and walk-forward fold (default: the asset's, 3)")
    parser.add_argument("--no-walk-forward", action="store_true", help="only StockNet's fixed split")
    parser.add_argument("--batch-size", type=int, default=0,
                        help="samples per optimizer step of every network (default: the asset's, 64)")
    parser.add_argument("--wf-workers", type=int, default=0,
                        help="processes running the walk-forward's (fold, variant) jobs (default: the asset's, 1)")
    parser.add_argument("--variants", default="",
                        help="comma-separated variants of StockNet's split (default: the asset's, every one)")
    parser.add_argument("--wf-variants", default="",
                        help="comma-separated variants of the walk-forward (default: the asset's)")
    parser.add_argument("--no-fit-cache", action="store_true",
                        help="refit every head (default: reuse the outputs kept in <storage>/fit_cache for inputs "
                             "that did not change)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="keep the libraries' own output (transformers' load reports, progress bars)")
    args = parser.parse_args(argv)
    from finpulse_assets.runs.cli import quiet_libraries

    quiet_libraries(args.verbose)
    if min(args.n_trials, args.seeds, args.wf_step_months, args.wf_n_trials, args.wf_workers, args.batch_size) < 0:
        parser.error("--n-trials, --seeds, --wf-step-months, --wf-n-trials, --wf-workers and --batch-size take a positive number "
                     "(0: the evaluation asset's default)")
    search = {k: v for k, v in (("n_trials", args.n_trials), ("seeds", args.seeds),
                                ("wf_step_months", args.wf_step_months), ("wf_n_trials", args.wf_n_trials),
                                ("wf_workers", args.wf_workers), ("batch_size", args.batch_size)) if v}
    if args.no_walk_forward:
        search["walk_forward"] = False
    for field in ("variants", "wf_variants"):
        names = [v.strip() for v in getattr(args, field).split(",") if v.strip()]
        if names:
            search[field] = names
    data_dir = Path(args.data).resolve()
    tickers = [t.strip().upper() for t in args.tickers.split(",") if t.strip()] or dataset_tickers(data_dir)
    storage = Path(args.storage or PROJECT_ROOT / "storage" / "evaluation" / data_dir.name).resolve()
    protocol = Protocol()
    settings = evaluation_settings(data_dir, tickers, storage, protocol)
    if not args.no_fit_cache:
        search["fit_cache_dir"] = str(storage / "fit_cache")
    os.environ["FINPULSE_STORAGE_DIR"] = str(storage)  # the code location `make ui` loads sees the same files
    write_ui_env(storage, settings)

    from finpulse_assets.runs.cli import materialize, print_summary
    from finpulse_assets.evaluation.run_job import run_evaluation_job
    from finpulse_assets.runs.ticker_runs import default_workers

    started = time.perf_counter()
    stage_seconds = {}
    with instance_for(evaluation_home(storage)) as instance:
        stages = [j.strip() for j in args.stages.split(",") if j.strip()]
        unknown = sorted(set(stages) - set(GRAPH_JOBS))
        if unknown:
            parser.error(f"unknown stages {unknown}; expected some of {GRAPH_JOBS}")
        if stages:
            finbert = FINBERT_CONFIG | {"train_end": (pd.Timestamp(protocol.dev_start)
                                                      - pd.Timedelta(days=1)).date().isoformat()}
            threads = {"torch_threads": args.threads}
            summary = materialize(settings, instance, stages, run_config={
                "finbert_model": finbert | threads, "finbert_onnx": FINBERT_ONNX_CONFIG | threads,
                "finbert_sentiment": {"intra_op_num_threads": args.threads},
                "tweet_embeddings": {"intra_op_num_threads": args.threads}}, workers=default_workers())
            print_summary(summary, settings)
            if summary["failure"] or summary["failed_checks"]:
                return 1
            stage_seconds = summary["stage_seconds"]
        report = run_evaluation_job(settings, instance, data_dir.name, Path(args.report_dir), protocol,
                                    stage_seconds, started, search=search)
    print(report["markdown"])
    print(f"\nreport: {report['json_path']} and {report['md_path']}")
    print(f"runtime: {time.perf_counter() - started:.1f} s ({json.dumps(report['runtime'])})")
    return 0


if __name__ == "__main__":
    from finpulse_assets.runs.launch import exit_process

    exit_process(main())
