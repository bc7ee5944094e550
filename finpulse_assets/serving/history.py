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
    """One row per (item, day) in the raw_prices layout; adj_close defaults to close.

    Rows come out in (item key, date) order: item keys sort like item positions and
    validation makes each history's dates strictly increasing.
    """
    bars = [bar for item in items for bar in item.history]
    values = np.array([(bar.open, bar.high, bar.low, bar.close,
                        bar.close if bar.adj_close is None else bar.adj_close, bar.volume) for bar in bars],
                      dtype=np.float64).reshape(len(bars), 6)
    keys = np.array([item_key(i) for i in range(len(items))], dtype=object)
    return pd.DataFrame({
        "ticker": np.repeat(keys, [len(item.history) for item in items]),
        "date": np.array([bar.date for bar in bars], dtype="datetime64[D]").astype("datetime64[ns]"),
        **{c: values[:, k] for k, c in enumerate(BAR_COLUMNS[2:])},
    })


def scored_texts(items: Sequence[PredictItem], scorer: OnnxSentimentScorer | None) -> pd.DataFrame:
    """Per-tweet probabilities in the finbert_sentiment layout, each (item, day) scored on its own.

    Dynamic int8 quantizes activations per batch, so finbert_sentiment scores one
    ticker-day at a time; scoring a request's days separately gives the same numbers.
    Requests carry no engagement counts: likes and retweets count as 0.
    """
    keys, days, probs = [], [], []
    for i, item in enumerate(items):
        for bar in item.history:
            if bar.texts and scorer is None:
                raise ValueError("texts were given but no sentiment model is loaded")
            if bar.texts:
                probs.append(scorer.score(bar.texts).astype(np.float64))
                keys += [item_key(i)] * len(bar.texts)
                days += [bar.date] * len(bar.texts)
    if not probs:
        return pd.DataFrame(columns=["ticker", "trading_day", *PROBABILITY_COLUMNS, "like_num", "retweet_num"])
    p = np.concatenate(probs)
    return pd.DataFrame({
        "ticker": np.array(keys, dtype=object),
        "trading_day": np.array(days, dtype="datetime64[D]").astype("datetime64[ns]"),
        **{c: p[:, k] for k, c in enumerate(PROBABILITY_COLUMNS)},
        "like_num": np.zeros(len(p), dtype=np.int64), "retweet_num": np.zeros(len(p), dtype=np.int64)})


def feature_rows(items: Sequence[PredictItem], scorer: OnnxSentimentScorer | None) -> pd.DataFrame:
    """join_features(price_features, sentiment_features) over every day of every item."""
    price = features_by_ticker(bars_frame(items))
    # Every day of a history is a trading day (validated), so each gets a sentiment row, neutral without texts.
    # Asked for in the price rows' own order, the sentiment rows line up with them and the join is cheap.
    sentiment = fill_missing_pairs(daily_sentiment(scored_texts(items, scorer)),
                                   price[["ticker", "date"]].rename(columns={"date": "trading_day"}))
    joined, _ = join_features(price, sentiment)
    return joined


def last_windows(features: pd.DataFrame, items: Sequence[PredictItem], feature_columns: Sequence[str],
                 window: int) -> tuple[Windows, np.ndarray]:
    """The window ending at each item's last day, for the items that have one; and which items those are.

    build_windows keeps only windows of finite features, so an item without one had features that are
    not finite: the caller reports it for that item alone.
    """
    windows = build_windows(features, list(feature_columns), window, target=None)
    position = {(key, ns): n for n, (key, ns) in enumerate(zip(windows.tickers, windows.dates.astype("int64")))}
    wanted = [position.get((item_key(i), pd.Timestamp(item.history[-1].date).value)) for i, item in enumerate(items)]
    found = np.array([n is not None for n in wanted], dtype=bool)
    return windows.take(np.array([n for n in wanted if n is not None], dtype=np.int64)), found
