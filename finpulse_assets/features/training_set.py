"""One row per ticker x trading day: price features, daily sentiment features and next-day targets.

Pure pandas, shared by the `training_set` asset (training) and the
`predictions` asset (serving), so both see exactly the same columns.

No look-ahead: price features of day t come from bars up to t
(`features.price`), sentiment features of t from tweets posted up to t's
16:00 close (`market_calendar`, `sentiment.daily`). Only the `target_*`
columns read day t+1, and they are labels, never inputs.
"""

from __future__ import annotations

import pandas as pd

from finpulse_assets.features.keys import as_datetime, is_key_sorted, same_keys
from finpulse_assets.features.price import FEATURE_COLUMNS, TARGET_COLUMNS
from finpulse_assets.sentiment.daily import SENTIMENT_FEATURE_COLUMNS

# What the forecaster reads: price features, then the daily sentiment features.
MODEL_FEATURE_COLUMNS: list[str] = FEATURE_COLUMNS + SENTIMENT_FEATURE_COLUMNS
# The daily sentiment inputs a forecaster may take (the evaluation's search chooses among them on dev).
SENTIMENT_SETS: dict[str, list[str]] = {
    "none": [],
    "all": list(SENTIMENT_FEATURE_COLUMNS),
    "mean_and_count": ["sentiment_mean", "tweet_count"],
}


def sentiment_set(name: str) -> list[str]:
    if name not in SENTIMENT_SETS:
        raise ValueError(f"unknown sentiment feature set {name!r}: expected one of {sorted(SENTIMENT_SETS)}")
    return list(SENTIMENT_SETS[name])


def model_feature_columns(sentiment: str) -> list[str]:
    """Price features, then the daily sentiment features of set `sentiment` (a SENTIMENT_SETS key)."""
    return list(FEATURE_COLUMNS) + sentiment_set(sentiment)
TWEET_COUNT_COLUMN = "tweet_count"
KEY_COLUMNS = ["ticker", "date"]
PRICE_COLUMNS = ["close", "adj_close", "history_complete"]


def training_columns() -> list[str]:
    return KEY_COLUMNS + PRICE_COLUMNS + FEATURE_COLUMNS + SENTIMENT_FEATURE_COLUMNS + TARGET_COLUMNS


def join_features(price_features: pd.DataFrame, sentiment_features: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Inner join on (ticker, date): rows for trading days that have both a bar and a sentiment row.

    A trading day without tweets has a sentiment row (neutral values, count 0);
    a day missing from either side is dropped and counted, and the gap breaks
    the chain of consecutive days, so no LSTM window spans it.
    """
    price_dates = as_datetime(price_features["date"])
    # sentiment_features keys its rows by trading_day (sentiment.daily); it is the same calendar date.
    sentiment_dates = as_datetime(sentiment_features["trading_day"])
    if (same_keys(price_features["ticker"], price_dates, sentiment_features["ticker"], sentiment_dates)
            and is_key_sorted(price_features["ticker"], price_dates, strict=True)):
        # Both sides hold the same unique keys in join order (the service's batches): the join is a column concat.
        columns = {"ticker": price_features["ticker"].to_numpy(), "date": price_dates.to_numpy()}
        joined = pd.DataFrame({c: columns[c] if c in columns else
                               (sentiment_features if c in SENTIMENT_FEATURE_COLUMNS else price_features)[c].to_numpy()
                               for c in training_columns()})
        n = len(joined)
        return joined, {"price_rows": n, "sentiment_rows": n, "joined_rows": n,
                        "price_rows_without_sentiment": 0, "sentiment_rows_without_price": 0}
    price = price_features.assign(date=price_dates)
    sentiment = sentiment_features.assign(date=sentiment_dates)
    price = price[KEY_COLUMNS + PRICE_COLUMNS + FEATURE_COLUMNS + TARGET_COLUMNS]
    sentiment = sentiment[KEY_COLUMNS + SENTIMENT_FEATURE_COLUMNS]
    for name, frame in (("price_features", price), ("sentiment_features", sentiment)):
        if frame.duplicated(KEY_COLUMNS).any():
            raise ValueError(f"{name} has duplicate (ticker, date) rows")
    joined = price.merge(sentiment, on=KEY_COLUMNS, how="inner", validate="one_to_one")
    joined = joined.sort_values(KEY_COLUMNS, kind="stable").reset_index(drop=True)[training_columns()]
    stats = {
        "price_rows": len(price), "sentiment_rows": len(sentiment), "joined_rows": len(joined),
        "price_rows_without_sentiment": len(price) - len(joined),
        "sentiment_rows_without_price": len(sentiment) - len(joined),
    }
    return joined, stats
