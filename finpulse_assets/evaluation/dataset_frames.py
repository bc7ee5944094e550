"""The data stage's frames (raw_tweets, vader_labels, price_features) computed in one process from a dataset.

`make evaluate` materializes these through Dagster, one asset partition per
(ticker, day): 130,200 partitions on 42 tickers, each with its own events. On
a loaded 2-core machine that bookkeeping, not the computation, is the cost
(2026-12-07, load 11-18: the first materialization of stocknet-dev-wide after
5 min). `data_stage_only --data DIR` calls the assets' own functions over each
asset's whole range of days instead, with the same day ranges the asset
partitions cover: the tweets after the close of the trading day before the
first day up to the close of the last (`raw_tweets`), their VADER scores
(`vader_labels`), and price features from the bars of the same days
(`price_features` reads a window of `raw_prices` partitions, which exist for
those days only).
Each frame must pass its asset's schema, as the assets' blocking checks require.

`stored_dataset_frames` keeps them as Parquet under a content hash of the
dataset's files, the tickers, the days and the code that computes them, so a
second evaluation of the same data reads them back (and any changed input file
recomputes them).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pandas as pd

from finpulse_assets.assets.schemas import PriceFeatures, RawTweets, VaderLabels
from finpulse_assets.evaluation.fit_cache import update_with_sources
from finpulse_assets.features.market_calendar import tweet_window_utc
from finpulse_assets.features.price import features_by_ticker
from finpulse_assets.resources import price_source, tweet_source
from finpulse_assets.sentiment.vader import vader_scores
from finpulse_assets.settings import Settings
from finpulse_assets.sources.cleaning import clean_prices, clean_tweets


def _days(frame: pd.DataFrame, column: str, first, last) -> pd.DataFrame:
    day = pd.to_datetime(frame[column]).dt.normalize()
    return frame[(day >= pd.Timestamp(first)) & (day <= pd.Timestamp(last))].reset_index(drop=True)


def dataset_frames(settings: Settings) -> dict[str, pd.DataFrame]:
    """{"raw_tweets", "vader_labels", "price_features"} of settings.tickers over [settings.start, settings.end)."""
    tickers = list(settings.tickers)
    first = pd.Timestamp(settings.start).date()
    last = (pd.Timestamp(settings.end) - pd.Timedelta(days=1)).date()
    start, end = tweet_window_utc(first, last)
    tweets, _ = clean_tweets(tweet_source(settings).load_tweets(tickers, start, end))
    tweets = _days(tweets, "trading_day", first, last)
    base = tweets[["tweet_id", "ticker", "trading_day", "text"]].reset_index(drop=True)
    vader = pd.concat([base, vader_scores(base["text"]).reset_index(drop=True)], axis=1)
    # price_features reads its partition window of raw_prices, whose partitions exist only in [first, last]:
    # the first days' features lack their lookback, as in the graph (the evaluation starts 45 days early).
    bars, _ = clean_prices(price_source(settings).load_prices(tickers, first, last))
    features = _days(features_by_ticker(bars), "date", first, last)
    out = {"raw_tweets": tweets, "vader_labels": vader, "price_features": features}
    for name, schema in (("raw_tweets", RawTweets), ("vader_labels", VaderLabels), ("price_features", PriceFeatures)):
        schema.validate(out[name], lazy=True)
    return out


FRAMES = ("raw_tweets", "vader_labels", "price_features")
# The code whose change must invalidate stored frames (with this module itself).
FRAME_MODULES = (__name__, "finpulse_assets.sources.cleaning", "finpulse_assets.sources.kaggle_csv",
                 "finpulse_assets.sources.yahoo_csv", "finpulse_assets.features.price",
                 "finpulse_assets.sentiment.vader", "finpulse_assets.features.market_calendar")


def frames_key(settings: Settings) -> str:
    """sha256 of every file under the tweets and prices folders (path and bytes), the tickers, the days and
    the source of FRAME_MODULES."""
    digest = hashlib.sha256(json.dumps([sorted(settings.tickers), settings.start, settings.end]).encode())
    for folder in (settings.tweets_dir, settings.prices_dir):
        root = Path(folder)
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    update_with_sources(digest, FRAME_MODULES)
    return digest.hexdigest()


def stored_dataset_frames(settings: Settings, root: str | Path) -> tuple[dict[str, pd.DataFrame], bool]:
    """(dataset_frames(settings), whether they were read back) through `root`/<frames_key>/<frame>.parquet."""
    folder = Path(root) / frames_key(settings)
    if all((folder / f"{name}.parquet").exists() for name in FRAMES):
        return {name: pd.read_parquet(folder / f"{name}.parquet") for name in FRAMES}, True
    frames = dataset_frames(settings)
    # Written to a folder of its own, then renamed: a reader never sees some frames of one key.
    partial = folder.with_name(f"{folder.name}.{os.getpid()}.tmp")
    partial.mkdir(parents=True, exist_ok=True)
    for name in FRAMES:
        frames[name].to_parquet(partial / f"{name}.parquet", index=False)
    if folder.exists():
        shutil.rmtree(partial)
    else:
        partial.rename(folder)
    return frames, False
