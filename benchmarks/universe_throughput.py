"""The synthetic S&P-500 universe (sources/universe_files.py) through the data assets, FinBERT and sentiment features.

    nice .venv/bin/python benchmarks/universe_throughput.py --new-day-tickers 500 --backfill-tickers 2

Two parts, each in a fresh process, a fresh Postgres instance (batched events, one planned event per asset: the
fastest configuration of docs/scale.md, `partition_throughput._prepare_instance`) and fresh storage; the CLI's
run path (`runs/cli.materialize`, one run per ticker, `default_workers()` worker processes):

(a) new day     the universe's last trading day (2024-12-31) for --new-day-tickers tickers, end to end through
                data_assets_job (raw_tweets, vader_labels, raw_prices, price_features) and sentiment_features_job
                (finbert_sentiment with the offline default encoder fine-tuned by sentiment_model_job, then
                sentiment_features); tweets included, no sensor tick. Before it, not timed: the --history-days
                before it through data_assets_job (price_features reads 40 days of prices) and sentiment_model_job.
(b) backfill    data_assets_job over the whole ten years (2015-2024) of --backfill-tickers tickers: ticker-days
                (calendar-day partitions, as the assets have them) per minute.

Side by side in the same process, the ceiling: the same rows read by the same sources, cleaned and written to
Delta with deltalake directly (no Dagster), VADER on the same tweets and, for (a), the int8 FinBERT scorer on them
(`sentiment.score_tweets`, both cores): what the work costs without the orchestration. Generating the files is
timed apart. With --profile N, the first N tickers again in this process under cProfile (the new day; the backfill's
last year) say where a run's time goes. Writes reports/universe_throughput.json and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from partition_throughput import _prepare_instance  # a sibling script, not a package

ROOT = Path(__file__).resolve().parent.parent
UNIVERSE_START, UNIVERSE_END = "2015-01-01", "2025-01-01"
NEW_DAY = date(2024, 12, 31)
MODEL_CONFIG = {"finbert_model": {"epochs": 1, "max_train_tweets": 256, "max_val_tweets": 128},  # not timed
                "finbert_sentiment": {"intra_op_num_threads": 1}}  # one thread per worker process


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--new-day-tickers", type=int, default=500)
    parser.add_argument("--history-days", type=int, default=42, help="calendar days before the new day, stored first")
    parser.add_argument("--backfill-tickers", type=int, default=2, help="tickers x 10 years (at most 27: the "
                                                                        "partition ceiling)")
    parser.add_argument("--parts", default="new_day,backfill")
    parser.add_argument("--profile", type=int, default=0, help="tickers of a profiled pass after the timed one (0: none)")
    parser.add_argument("--pg-url", default=os.environ.get("FINPULSE_TEST_PG_URL",
                                                           "postgresql+psycopg2://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--out", default="reports/universe_throughput.json")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        spec = json.loads(args.one)
        print("RESULT " + json.dumps(PARTS[spec["part"]](spec)))
        return
    results = {}
    for part in args.parts.split(","):
        spec = {**{k: v for k, v in vars(args).items() if k != "one"}, "part": part}
        print(f"... {part} (load {_load()})", file=sys.stderr, flush=True)
        done = subprocess.run([sys.executable, __file__, "--one", json.dumps(spec)], capture_output=True, text=True,
                              cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)
        lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
        if done.returncode or not lines:
            raise SystemExit(f"{part} failed:\n{done.stderr[-4000:]}")
        results[part] = json.loads(lines[-1][len("RESULT "):])
        print(json.dumps(results[part]), file=sys.stderr, flush=True)
    _print_table(results)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"args": vars(args), "results": results}, indent=2))


def _load() -> str:
    return Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"


def _settings(data: Path, tickers: int, start: str, end: str, storage: Path):
    from finpulse_assets.settings import Settings
    from finpulse_assets.sources.universe import synthetic_tickers

    return Settings(tweet_source="kaggle_csv", price_source="yahoo_csv", tweets_dir=str(data / "tweets"),
                    prices_dir=str(data / "prices"), tickers=tuple(synthetic_tickers(tickers)), start=start,
                    end=end, storage_dir=str(storage))


def _materialize(settings, jobs, days=None, workers=None) -> dict:
    from dagster import DagsterInstance

    from finpulse_assets.runs.cli import materialize
    from finpulse_assets.runs.ticker_runs import default_workers

    with DagsterInstance.get() as instance:
        summary = materialize(settings, instance, jobs=jobs, run_config=MODEL_CONFIG, days=days,
                              workers=workers or default_workers())
    if summary["failure"] or summary["failed_checks"]:
        raise RuntimeError(f"run failed: {summary['failure'] or summary['failed_checks']}")
    return summary


def _instance(tmp: Path, stack, pg_url: str) -> None:
    home = tmp / "home"
    home.mkdir()
    _prepare_instance({"instance": "postgres", "batch": 1000, "subset": True, "pg_url": pg_url}, home, stack)


def _new_day(spec: dict) -> dict:
    from contextlib import ExitStack

    from finpulse_assets.sources.universe_files import generate

    tickers, first = spec["new_day_tickers"], NEW_DAY - timedelta(days=spec["history_days"])
    end = (NEW_DAY + timedelta(days=1)).isoformat()
    with tempfile.TemporaryDirectory() as tmp_name, ExitStack() as stack:
        tmp = Path(tmp_name)
        _instance(tmp, stack, spec["pg_url"])
        history = generate(tmp / "history", tickers, UNIVERSE_START, end, first.isoformat(), NEW_DAY.isoformat())
        new = generate(tmp / "new_day", tickers, UNIVERSE_START, end, NEW_DAY.isoformat(), end)
        settings = _settings(tmp / "history", tickers, first.isoformat(), end, tmp / "storage")
        load_before = _load()
        started = time.perf_counter()
        _materialize(settings, ["data_assets_job"], days=(first, NEW_DAY - timedelta(days=1)))
        history_seconds = time.perf_counter() - started
        started = time.perf_counter()
        _materialize(settings, ["sentiment_model_job"])
        model_seconds = time.perf_counter() - started

        settings = _settings(tmp / "new_day", tickers, first.isoformat(), end, tmp / "storage")
        load_new_day = _load()
        started = time.perf_counter()
        summary = _materialize(settings, ["data_assets_job", "sentiment_features_job"], days=(NEW_DAY, NEW_DAY))
        seconds = time.perf_counter() - started
        load_after = _load()
        ceiling = _ceiling(settings, NEW_DAY, NEW_DAY, tmp / "bare", score=True)
        profile = _profile(settings, spec["profile"], ["data_assets_job", "sentiment_features_job"],
                           (NEW_DAY, NEW_DAY)) if spec["profile"] else None
    runs = 2 * tickers
    return {"tickers": tickers, "new_day": NEW_DAY.isoformat(), "history_days": spec["history_days"],
            "generate_history": history, "generate_new_day": new,
            "history_seconds": round(history_seconds, 1), "history_ticker_days": tickers * spec["history_days"],
            "model_seconds": round(model_seconds, 1),
            "seconds": round(seconds, 1), "stage_seconds": {k: round(v, 1) for k, v in summary["stage_seconds"].items()},
            "runs": runs, "seconds_per_run_per_worker": round(seconds * _workers() / runs, 3),
            "tweets": new["tweet_rows"], "ceiling": ceiling, "vs_ceiling": round(seconds / ceiling["seconds"], 1),
            "load": {"history": load_before, "new_day": load_new_day, "after": load_after}, "workers": _workers(),
            "profile": profile}


def _backfill(spec: dict) -> dict:
    from contextlib import ExitStack

    from finpulse_assets.sources.universe_files import generate

    tickers = spec["backfill_tickers"]
    with tempfile.TemporaryDirectory() as tmp_name, ExitStack() as stack:
        tmp = Path(tmp_name)
        _instance(tmp, stack, spec["pg_url"])
        generated = generate(tmp / "data", tickers, UNIVERSE_START, UNIVERSE_END)
        settings = _settings(tmp / "data", tickers, UNIVERSE_START, UNIVERSE_END, tmp / "storage")
        first, last = date.fromisoformat(UNIVERSE_START), date.fromisoformat(UNIVERSE_END) - timedelta(days=1)
        load_before = _load()
        started = time.perf_counter()
        _materialize(settings, ["data_assets_job"])
        seconds = time.perf_counter() - started
        load_after = _load()
        ceiling = _ceiling(settings, first, last, tmp / "bare", score=False)
        # The last year again, one ticker in this process, under cProfile.
        profile = _profile(settings, spec["profile"], ["data_assets_job"],
                           (date(last.year, 1, 1), last)) if spec["profile"] else None
    ticker_days = tickers * ((last - first).days + 1)
    return {"tickers": tickers, "ticker_days": ticker_days, "trading_ticker_days": generated["price_rows"],
            "tweets": generated["tweet_rows"], "generate": generated, "seconds": round(seconds, 1),
            "ticker_days_per_minute": round(ticker_days / seconds * 60),
            "trading_ticker_days_per_minute": round(generated["price_rows"] / seconds * 60),
            "tweets_per_second": round(generated["tweet_rows"] / seconds),
            "ceiling": ceiling, "ceiling_ticker_days_per_minute": round(ticker_days / ceiling["seconds"] * 60),
            "vs_ceiling": round(seconds / ceiling["seconds"], 1), "load": {"before": load_before, "after": load_after},
            "workers": _workers(), "profile": profile}


def _workers() -> int:
    from finpulse_assets.runs.ticker_runs import default_workers

    return default_workers()


def _ceiling(settings, first: date, last: date, out: Path, score: bool) -> dict:
    """The same rows without Dagster: the sources' reads, cleaning and one Delta write per table, VADER on the
    tweets and (score) the int8 FinBERT scorer on them with every core."""
    import pandas as pd
    from deltalake import write_deltalake

    from finpulse_assets.resources import price_source, tweet_source
    from finpulse_assets.sentiment.vader import vader_scores
    from finpulse_assets.sources import kaggle_csv
    from finpulse_assets.sources.cleaning import clean_prices, clean_tweets

    kaggle_csv._CACHE.clear()  # read the file again, as a fresh run process does
    timings = {}
    started = time.perf_counter()
    window = (pd.Timestamp(first).replace(hour=0) - pd.Timedelta(days=5), pd.Timestamp(last) + pd.Timedelta(days=1))
    raw_tweets = tweet_source(settings).load_tweets(list(settings.tickers), *window)
    tweets = clean_tweets(raw_tweets)[0]
    tweets = tweets[(tweets["trading_day"] >= pd.Timestamp(first)) & (tweets["trading_day"] <= pd.Timestamp(last))]
    prices = clean_prices(price_source(settings).load_prices(list(settings.tickers), first, last))[0]
    write_deltalake(str(out / "raw_tweets"), tweets.reset_index(drop=True), mode="overwrite")
    write_deltalake(str(out / "raw_prices"), prices.reset_index(drop=True), mode="overwrite")
    timings["read_clean_write_seconds"] = time.perf_counter() - started
    started = time.perf_counter()
    vader_scores(tweets["text"])
    timings["vader_seconds"] = time.perf_counter() - started
    if score:
        from finpulse_assets.assets.sentiment import score_tweets

        onnx = max(Path(settings.storage_dir, "models", "finbert_onnx").glob("*/model.int8.onnx"))
        started = time.perf_counter()
        score_tweets(tweets, str(onnx.parent), onnx.name, "bench", intra_op_num_threads=os.cpu_count() or 1)
        timings["finbert_seconds"] = time.perf_counter() - started
    timings = {k: round(v, 2) for k, v in timings.items()}
    return {**timings, "tweets": len(tweets), "prices": len(prices), "seconds": round(sum(timings.values()), 2)}


def _profile(settings, tickers: int, jobs: list[str], days: tuple[date, date]) -> list[str]:
    """cProfile of `jobs` again over `days` for the first `tickers` tickers, in this process: the top entries."""
    import cProfile
    import dataclasses
    import io
    import pstats

    subset = dataclasses.replace(settings, tickers=settings.tickers[:tickers])
    profiler = cProfile.Profile()
    profiler.enable()
    _materialize(subset, jobs, days=days, workers=1)
    profiler.disable()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(60)
    return text.getvalue().splitlines()


PARTS = {"new_day": _new_day, "backfill": _backfill}


def _print_table(results: dict) -> None:
    print("\n| what | size | seconds | rate | ceiling seconds (no Dagster) | vs ceiling | goal | load |")
    print("|---|---|---:|---:|---:|---:|---|---|")
    if "new_day" in results:
        r = results["new_day"]
        print(f"| (a) a new trading day, data + sentiment assets | {r['tickers']} tickers, {r['tweets']:,} tweets | "
              f"{r['seconds']:.1f} | {r['tickers'] / r['seconds'] * 60:,.0f} tickers/min | "
              f"{r['ceiling']['seconds']:.1f} | {r['vs_ceiling']}x | <= 60 s | {r['load']['new_day']} -> "
              f"{r['load']['after']} |")
    if "backfill" in results:
        r = results["backfill"]
        print(f"| (b) backfill, data assets | {r['tickers']} tickers x 10 years, {r['tweets']:,} tweets | "
              f"{r['seconds']:.1f} | {r['ticker_days_per_minute']:,} ticker-days/min | {r['ceiling']['seconds']:.1f} | "
              f"{r['vs_ceiling']}x | >= 100,000 ticker-days/min | {r['load']['before']} -> {r['load']['after']} |")


if __name__ == "__main__":
    main()
