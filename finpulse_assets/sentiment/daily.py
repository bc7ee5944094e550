"""Daily sentiment features per (ticker, trading_day) from per-tweet probabilities.

Pure pandas/numpy, shared by the assets and the serving image. Input columns:
ticker, trading_day, p_positive, p_negative, p_neutral, like_num, retweet_num.
A tweet's label is the argmax of its three probabilities. Days without tweets
get defined neutral values (no sentiment, no tweets, no dispersion), never NaN,
so downstream models never see a missing feature.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

PROBABILITY_COLUMNS = ["p_positive", "p_negative", "p_neutral"]
KEY_COLUMNS = ["ticker", "trading_day"]
SENTIMENT_FEATURE_COLUMNS = [
    "sentiment_mean",       # mean of p_positive - p_negative, in [-1, 1]
    "share_positive",       # share of tweets whose argmax label is positive
    "share_negative",       # share of tweets whose argmax label is negative
    "tweet_count",
    "engagement_weighted",  # p_positive - p_negative averaged with weights log1p(likes + retweets) + 1
    "sentiment_std",        # population std of p_positive - p_negative; 0 for a single tweet
]
NEUTRAL_VALUES = {"sentiment_mean": 0.0, "share_positive": 0.0, "share_negative": 0.0, "tweet_count": 0,
                  "engagement_weighted": 0.0, "sentiment_std": 0.0}


def daily_sentiment(scored: pd.DataFrame) -> pd.DataFrame:
    """One row per (ticker, trading_day) present in `scored`: KEY_COLUMNS + SENTIMENT_FEATURE_COLUMNS."""
    missing = [c for c in KEY_COLUMNS + PROBABILITY_COLUMNS + ["like_num", "retweet_num"] if c not in scored]
    if missing:
        raise ValueError(f"scored tweets lack columns {missing}")
    if scored.empty:
        return _empty()
    probs = scored[PROBABILITY_COLUMNS].to_numpy(dtype=float)
    label = probs.argmax(axis=1)
    polarity = probs[:, 0] - probs[:, 1]
    # Engagement counts can be missing or negative in scraped data: treat as no engagement.
    engagement = (pd.to_numeric(scored["like_num"], errors="coerce").fillna(0).clip(lower=0)
                  + pd.to_numeric(scored["retweet_num"], errors="coerce").fillna(0).clip(lower=0)).to_numpy()
    weight = np.log1p(engagement) + 1.0
    work = pd.DataFrame({
        "ticker": scored["ticker"].to_numpy(), "trading_day": scored["trading_day"].to_numpy(),
        "polarity": polarity, "is_positive": (label == 0).astype(float), "is_negative": (label == 1).astype(float),
        "weight": weight, "weighted_polarity": weight * polarity,
    })
    grouped = work.groupby(KEY_COLUMNS, sort=True)
    daily = grouped.agg(sentiment_mean=("polarity", "mean"), share_positive=("is_positive", "mean"),
                        share_negative=("is_negative", "mean"), tweet_count=("polarity", "size"),
                        weight_sum=("weight", "sum"), weighted_sum=("weighted_polarity", "sum"))
    # Population std (ddof=0): a single tweet has no dispersion rather than an undefined one.
    daily["sentiment_std"] = grouped["polarity"].std(ddof=0).fillna(0.0)
    daily["engagement_weighted"] = daily["weighted_sum"] / daily["weight_sum"]
    daily["tweet_count"] = daily["tweet_count"].astype("int64")
    return daily.reset_index()[KEY_COLUMNS + SENTIMENT_FEATURE_COLUMNS]


def neutral_day(ticker: str, day) -> dict:
    """The feature row of a (ticker, trading_day) without tweets."""
    return {"ticker": ticker, "trading_day": pd.Timestamp(day), **NEUTRAL_VALUES}


def fill_missing_days(daily: pd.DataFrame, tickers: Iterable[str], days: Iterable) -> pd.DataFrame:
    """`daily` reindexed to every (ticker, day) pair; pairs without tweets get NEUTRAL_VALUES."""
    index = pd.MultiIndex.from_product([list(tickers), pd.DatetimeIndex(list(days))], names=KEY_COLUMNS)
    return _reindexed(daily, index)


def fill_missing_pairs(daily: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """`daily` reindexed to the (ticker, trading_day) rows of `pairs`; pairs without tweets get NEUTRAL_VALUES.

    For keys whose days differ (the service's request items), where the product of fill_missing_days would not fit.
    """
    keys = pd.DataFrame({"ticker": pairs["ticker"].to_numpy(),
                         "trading_day": pd.to_datetime(pairs["trading_day"]).to_numpy()})
    return _reindexed(daily, pd.MultiIndex.from_frame(keys))


def _reindexed(daily: pd.DataFrame, index: pd.MultiIndex) -> pd.DataFrame:
    keyed = daily.assign(trading_day=pd.to_datetime(daily["trading_day"])).set_index(KEY_COLUMNS)
    full = keyed.reindex(index)[SENTIMENT_FEATURE_COLUMNS].fillna(NEUTRAL_VALUES)
    full["tweet_count"] = full["tweet_count"].astype("int64")
    return full.reset_index()


def _empty() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype="float64") for c in SENTIMENT_FEATURE_COLUMNS})
    frame["tweet_count"] = frame["tweet_count"].astype("int64")
    frame.insert(0, "trading_day", pd.Series(dtype="datetime64[ns]"))
    frame.insert(0, "ticker", pd.Series(dtype="object"))
    return frame
