"""Request histories -> the joined price + sentiment feature rows the assets compute.

The same functions as the assets, in the same order: `features.price`
(price_features asset), per-day scoring and `sentiment.daily`
(finbert_sentiment + sentiment_features assets), `features.training_set.join_features`
and `models.lstm.dataset.build_windows` (predictions asset).

Items of one adaptive batch are processed together. Each item gets its own
key in the `ticker` column, so two items for the same ticker (with different
histories) never mix; the real ticker picks the model afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from finpulse_assets.features.price import features_by_ticker
from finpulse_assets.features.training_set import join_features
from finpulse_assets.models.finbert.scoring import OnnxSentimentScorer
from finpulse_assets.models.lstm.dataset import Windows, build_windows
from finpulse_assets.sentiment.daily import PROBABILITY_COLUMNS, daily_sentiment, fill_missing_pairs
from finpulse_assets.serving.schema import PredictItem

BAR_COLUMNS = ["ticker", "date", "open", "high", "low", "close", "adj_close", "volume"]


def item_key(position: int) -> str:
    return f"item-{position:06d}"


def bars_frame(items: Sequence[PredictItem]) -> pd.DataFrame:
    """One row per (item, day) in the raw_prices layout; adj_close defaults to close."""
    rows = [(item_key(i), bar.date, bar.open, bar.high, bar.low, bar.close,
             bar.close if bar.adj_close is None else bar.adj_close, bar.volume)
            for i, item in enumerate(items) for bar in item.history]
    frame = pd.DataFrame(rows, columns=BAR_COLUMNS)
    frame["date"] = pd.to_datetime(frame["date"])
    return frame


def scored_texts(items: Sequence[PredictItem], scorer: OnnxSentimentScorer | None) -> pd.DataFrame:
    """Per-tweet probabilities in the finbert_sentiment layout, each (item, day) scored on its own.

    Dynamic int8 quantizes activations per batch, so finbert_sentiment scores one
    ticker-day at a time; scoring a request's days separately gives the same numbers.
    Requests carry no engagement counts: likes and retweets count as 0.
    """
    parts = []
    for i, item in enumerate(items):
        for bar in item.history:
            if bar.texts and scorer is None:
                raise ValueError("texts were given but no sentiment model is loaded")
            if bar.texts:
                probs = scorer.score(bar.texts)
                parts.append(pd.DataFrame({
                    "ticker": item_key(i), "trading_day": pd.Timestamp(bar.date),
                    **{c: probs[:, k].astype(np.float64) for k, c in enumerate(PROBABILITY_COLUMNS)},
                    "like_num": 0, "retweet_num": 0}))
    if not parts:
        return pd.DataFrame(columns=["ticker", "trading_day", *PROBABILITY_COLUMNS, "like_num", "retweet_num"])
    return pd.concat(parts, ignore_index=True)


def feature_rows(items: Sequence[PredictItem], scorer: OnnxSentimentScorer | None) -> pd.DataFrame:
    """join_features(price_features, sentiment_features) over every day of every item."""
    bars = bars_frame(items)
    price = features_by_ticker(bars)
    # Every day of a history is a trading day (validated), so each gets a sentiment row, neutral without texts.
    sentiment = fill_missing_pairs(daily_sentiment(scored_texts(items, scorer)),
                                   bars.rename(columns={"date": "trading_day"}))
    joined, _ = join_features(price, sentiment)
    return joined


def last_windows(features: pd.DataFrame, items: Sequence[PredictItem], feature_columns: Sequence[str],
                 window: int) -> Windows:
    """The window ending at each item's last day, in item order."""
    windows = build_windows(features, list(feature_columns), window, target=None)
    position = {(key, ns): n for n, (key, ns) in enumerate(zip(windows.tickers, windows.dates.astype("int64")))}
    wanted = [(item_key(i), pd.Timestamp(item.history[-1].date).value) for i, item in enumerate(items)]
    missing = [k for k in wanted if k not in position]
    if missing:
        # Validation guarantees enough positive, finite bars; reaching this is a bug, not a bad request.
        raise RuntimeError(f"no complete feature window for {len(missing)} validated item(s), e.g. {missing[0]}")
    return windows.take(np.array([position[k] for k in wanted], dtype=np.int64))
