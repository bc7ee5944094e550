"""VADER labelling throughput on real tweets: FinPulse's labeller and vader_labels vs a bare loop.

    python benchmarks/vader_throughput.py --data ../shared/data/stocknet-dev

Three figures from one run, on the same tweets and the same process:
  bare      a plain `SentimentIntensityAnalyzer().polarity_scores` loop over every tweet;
  labeller  `finpulse_assets.sentiment.vader.vader_scores` (scores each distinct text once);
  asset     the `vader_labels` asset materialized from stored `raw_tweets` partitions
            (reading the Delta table, labelling, per-partition metadata, one commit per run), on the
            instance `make` uses: `--instance sqlite` (a temp DAGSTER_HOME) or `--instance postgres`
            (a throwaway database on FINPULSE_TEST_PG_URL's server, DAGSTER_EVENT_BATCH_SIZE=1000), with the
            CLI's console log level. DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS is taken from the
            environment (the Makefile sets it to 1).
"""

import argparse
import json
import os
import tempfile
import time
from datetime import date
from pathlib import Path

import pandas as pd

from finpulse_assets.runs.progress import Progress


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="../shared/data/stocknet-dev")
    parser.add_argument("--tickers", default="AAPL,AMZN,FB,GOOG,INTC,MSFT")
    parser.add_argument("--instance", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--out", default="reports/vader_throughput.json")
    args = parser.parse_args()
    tweets_dir = Path(args.data) / "tweets"
    tickers = args.tickers.split(",")

    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    from finpulse_assets.sources.cleaning import clean_tweets
    from finpulse_assets.sentiment.vader import vader_scores
    from finpulse_assets.sources.kaggle_csv import KaggleCsvTweetSource

    source = KaggleCsvTweetSource(directory=str(tweets_dir))
    raw = source.load_tweets(tickers, pd.Timestamp("2013-12-31", tz="UTC"), pd.Timestamp("2016-01-02", tz="UTC"))
    tweets, _ = clean_tweets(raw)
    texts = tweets["text"]
    n = len(texts)

    analyzer = SentimentIntensityAnalyzer()
    started = time.perf_counter()
    for text in texts:
        analyzer.polarity_scores(text)
    bare = n / (time.perf_counter() - started)

    started = time.perf_counter()
    vader_scores(texts)
    labeller = n / (time.perf_counter() - started)

    asset_rate, asset_seconds = _through_asset(tweets_dir, tickers, args.instance)
    result = {"instance": args.instance,
              "planned_event_subset": os.environ.get("DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", ""),
              "tweets": n, "distinct_texts": int(texts.nunique()), "bare_loop_tweets_per_s": round(bare),
              "labeller_tweets_per_s": round(labeller), "vader_labels_asset_tweets_per_s": round(asset_rate),
              "vader_labels_asset_seconds": round(asset_seconds, 1),
              "labeller_vs_bare": round(labeller / bare, 2), "asset_vs_bare": round(asset_rate / bare, 2)}
    print("| path | tweets/s | vs bare loop |\n|---|---:|---:|")
    print(f"| bare vaderSentiment loop | {bare:,.0f} | 1.00 |")
    print(f"| vader_scores (labeller) | {labeller:,.0f} | {labeller / bare:.2f} |")
    print(f"| vader_labels asset, whole run ({args.instance}) | {asset_rate:,.0f} | {asset_rate / bare:.2f} |")
    print(f"{n} tweet-ticker rows, {result['distinct_texts']} distinct texts")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))


def _through_asset(tweets_dir: Path, tickers: list[str], instance_kind: str) -> tuple[float, float]:
    """Materialize raw_tweets for 2014-2015, then time vader_labels alone over the same partitions."""
    from contextlib import ExitStack

    from dagster import DagsterInstance, materialize

    from finpulse_assets.assets.tweets import build_tweet_assets
    from finpulse_assets.runs.cli import CONSOLE_LOGS
    from finpulse_assets.definitions import build_definitions
    from finpulse_assets.storage.instance import SQLITE_INSTANCE_YAML
    from finpulse_assets.partitions import range_tags, ticker_day_partitions, ticker_partitions
    from finpulse_assets.settings import Settings

    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        settings = Settings(tweet_source="kaggle_csv", tweets_dir=str(tweets_dir), price_source="yfinance",
                            tickers=tuple(tickers), start="2014-01-01", end="2016-01-01", storage_dir=tmp)
        defs = build_definitions(settings)
        raw_tweets, vader_labels = build_tweet_assets(ticker_day_partitions(settings))
        resources = {k: v for k, v in defs.resources.items() if k != "price_source"}
        elapsed, rows = 0.0, 0
        home = Path(tmp) / "home"
        home.mkdir()
        os.environ["DAGSTER_HOME"] = str(home)
        if instance_kind == "postgres":
            from finpulse_assets.storage.postgres_admin import postgres_home, temporary_database

            os.environ["FINPULSE_PG_URL"] = stack.enter_context(temporary_database("vader_bench"))
            os.environ["DAGSTER_EVENT_BATCH_SIZE"] = "1000"
            postgres_home(home)
        else:
            (home / "dagster.yaml").write_text(SQLITE_INSTANCE_YAML)
        with DagsterInstance.get() as instance:
            instance.add_dynamic_partitions(ticker_partitions.name, tickers)
            progress = Progress()
            progress.stage("raw_tweets + vader_labels", len(tickers), "tickers")
            for ticker in tickers:
                tags = range_tags(ticker, date(2014, 1, 1), date(2015, 12, 31))
                materialize([raw_tweets], instance=instance, resources=resources, tags=tags, run_config=CONSOLE_LOGS)
                started = time.perf_counter()
                result = materialize([vader_labels, raw_tweets], selection=[vader_labels.key], instance=instance,
                                     resources=resources, tags=tags, run_config=CONSOLE_LOGS)
                elapsed += time.perf_counter() - started
                rows += sum(int(e.materialization.metadata["rows"].value)
                            for e in result.get_asset_materialization_events())
                progress.advance()
            progress.end()
    return rows / elapsed, elapsed


if __name__ == "__main__":
    main()
