"""Request histories -> the joined price + sentiment feature columns the assets compute, and the model's windows.

The same numbers as the assets, from the same numpy cores: `features.price.price_columns`
(the price_features asset), per-day scoring and `sentiment.daily.group_features`
(finbert_sentiment + sentiment_features), joined column by column as
`features.training_set.join_features` joins them, and each item's last window as
`models.lstm.dataset.build_windows` builds it. No pandas frame on the way: a frame's
fixed cost per call was most of a lone /predict (5-7 ms of its time for 25 rows).
`test_serving.py` checks the columns and windows against the asset functions, exactly.

Items of one batch are processed together: each item gets its own key in the `ticker`
column, so two items for the same ticker (with different histories) never mix; the real
ticker picks the model afterwards.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from finpulse_assets.features.price import price_columns
from finpulse_assets.features.training_set import training_columns
from finpulse_assets.models.finbert.scoring import OnnxSentimentScorer
from finpulse_assets.models.lstm.dataset import Windows
from finpulse_assets.sentiment.daily import NEUTRAL_VALUES, SENTIMENT_FEATURE_COLUMNS, group_features
from finpulse_assets.serving.schema import PredictItem

NAT = np.datetime64("NaT", "ns")


def item_key(position: int) -> str:
    return f"item-{position:06d}"


def _price(items: Sequence[PredictItem]) -> dict[str, np.ndarray]:
    bars = [bar for item in items for bar in item.history]
    values = np.array([(bar.open, bar.high, bar.low, bar.close, bar.close if bar.adj_close is None else bar.adj_close,
                        bar.volume) for bar in bars], dtype=np.float64).reshape(len(bars), 6)
    lengths = [len(item.history) for item in items]
    pos = np.arange(len(bars)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    # Validation admits only consecutive trading days (schema.continuity_problem): no bar is missing.
    columns = price_columns(*values.T, pos, np.zeros(len(bars)))
    dates = np.array([bar.date for bar in bars], dtype="datetime64[D]").astype("datetime64[ns]")
    next_row = columns.pop("next_row")
    columns.update(ticker=np.repeat(np.array([item_key(i) for i in range(len(items))], dtype=object), lengths),
                   date=dates, target_date=np.where(next_row >= 0, dates[next_row], NAT))
    return columns


def _sentiment(items: Sequence[PredictItem], scorer: OnnxSentimentScorer | None, rows: int) -> dict[str, np.ndarray]:
    """Sentiment columns for every bar row: the scored day's features, NEUTRAL_VALUES on days without texts.

    Dynamic int8 quantizes activations per batch, so finbert_sentiment scores one ticker-day at a time;
    scoring a request's days separately gives the same numbers. Requests carry no engagement counts:
    every tweet weighs log1p(0) + 1, as in the asset.
    """
    probs, row_of_day, group = [], [], []
    row = 0
    for item in items:
        for bar in item.history:
            if bar.texts:
                if scorer is None:
                    raise ValueError("texts were given but no sentiment model is loaded")
                probs.append(scorer.score(bar.texts).astype(np.float64))
                group += [len(row_of_day)] * len(bar.texts)
                row_of_day.append(row)
            row += 1
    columns = {c: np.full(rows, float(NEUTRAL_VALUES[c])) for c in SENTIMENT_FEATURE_COLUMNS}
    if probs:
        p = np.concatenate(probs)
        days = group_features(p, np.ones(len(p)), np.asarray(group), len(row_of_day))
        for c, values in days.items():
            # As sentiment.daily's fill: a NaN in a scored day's row counts as the neutral value too.
            columns[c][row_of_day] = np.where(np.isnan(values), float(NEUTRAL_VALUES[c]), values)
    columns["tweet_count"] = columns["tweet_count"].astype(np.int64)
    return columns


def feature_columns(items: Sequence[PredictItem], scorer: OnnxSentimentScorer | None) -> dict[str, np.ndarray]:
    """join_features(price_features, sentiment_features) over every day of every item, as columns."""
    price = _price(items)
    return {**price, **_sentiment(items, scorer, len(price["date"]))}


def feature_rows(items: Sequence[PredictItem], scorer: OnnxSentimentScorer | None) -> pd.DataFrame:
    """The same as a frame in the training set's column order (for tests and inspection)."""
    columns = feature_columns(items, scorer)
    return pd.DataFrame({c: columns[c] for c in training_columns()})


def last_windows(features: Mapping, items: Sequence[PredictItem], feature_columns: Sequence[str],
                 window: int) -> tuple[Windows, np.ndarray]:
    """The window ending at each item's last day, for the items that have one; and which items those are.

    `features`: `feature_columns(...)` or `feature_rows(...)` of `items`. build_windows keeps a window only
    when every row has finite features, a finite close and a complete history (a history's rows are
    consecutive trading days), so an item without one had features that are not finite: the caller reports
    it for that item alone.
    """
    column = lambda name: np.asarray(features[name])  # noqa: E731
    feats = np.column_stack([column(c).astype(np.float64) for c in feature_columns])
    close = column("close").astype(np.float64)
    valid = np.isfinite(feats).all(axis=1) & np.isfinite(close) & column("history_complete").astype(bool)
    lengths = np.array([len(item.history) for item in items])
    ends = np.cumsum(lengths) - 1
    full = valid.cumsum()
    before = ends - window
    found = (lengths >= window) & (full[ends] - np.where(before >= 0, full[np.maximum(before, 0)], 0) == window)
    ends = ends[found]
    rows = ends[:, None] + np.arange(-window + 1, 1)
    n = len(ends)
    return Windows(X=feats[rows].astype(np.float32).reshape(n, window, len(feature_columns)),
                   y=np.full(n, np.nan, np.float32), dates=column("date").astype("datetime64[ns]")[ends],
                   target_dates=np.full(n, NAT), tickers=column("ticker")[ends].astype(str), close_t=close[ends],
                   target_close=np.full(n, np.nan), close_history=close[rows].reshape(n, window),
                   feature_columns=tuple(feature_columns)), found
