"""Daily sentiment features per (ticker, trading_day) from per-tweet probabilities.

Pure numpy/pandas, shared by the assets and the serving image. Input columns:
ticker, trading_day, p_positive, p_negative, p_neutral, like_num, retweet_num.
A tweet's label is the argmax of its three probabilities. Days without tweets
get defined neutral values (no sentiment, no tweets, no dispersion), never NaN,
so downstream models never see a missing feature.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from finpulse_assets.features.keys import as_datetime, key_codes, lookup

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
    # Engagement counts can be missing or negative in scraped data: treat as no engagement.
    engagement = (pd.to_numeric(scored["like_num"], errors="coerce").fillna(0).clip(lower=0)
                  + pd.to_numeric(scored["retweet_num"], errors="coerce").fillna(0).clip(lower=0)).to_numpy()
    weight = np.log1p(engagement) + 1.0
    # Groups in (ticker, trading_day) order, like groupby(sort=True); rows with a missing key are
    # dropped, like groupby's dropna.
    keep = scored["ticker"].notna().to_numpy() & scored["trading_day"].notna().to_numpy()
    codes, tickers, days = key_codes(scored["ticker"].to_numpy()[keep], scored["trading_day"].to_numpy()[keep])
    groups, group = np.unique(codes, return_inverse=True)
    n_days = max(len(days), 1)
    return pd.DataFrame({"ticker": tickers[groups // n_days], "trading_day": days[groups % n_days],
                         **group_features(probs[keep], weight[keep], group, len(groups))})


def group_features(probs: np.ndarray, weight: np.ndarray, group: np.ndarray, n_groups: int) -> dict[str, np.ndarray]:
    """SENTIMENT_FEATURE_COLUMNS of each group of tweets: `probs` [n, 3] in PROBABILITY_COLUMNS order, each
    tweet's engagement `weight`, `group` its group in 0..n_groups-1 (sums run in row order within a group).
    numpy only: the serving path calls it per request day without building a frame."""
    label = probs.argmax(axis=1)
    polarity = probs[:, 0] - probs[:, 1]
    sums = lambda values: np.bincount(group, weights=values, minlength=n_groups)  # noqa: E731
    count = np.bincount(group, minlength=n_groups)
    mean = sums(polarity) / count
    # Population std (ddof=0): a single tweet has no dispersion rather than an undefined one.
    spread = polarity - mean[group]
    return {
        "sentiment_mean": mean,
        "share_positive": sums((label == 0).astype(float)) / count,
        "share_negative": sums((label == 1).astype(float)) / count,
        "tweet_count": count.astype("int64"),
        "engagement_weighted": sums(weight * polarity) / sums(weight),
        "sentiment_std": np.sqrt(np.bincount(group, weights=spread * spread, minlength=n_groups) / count),
    }


def neutral_day(ticker: str, day) -> dict:
    """The feature row of a (ticker, trading_day) without tweets."""
    return {"ticker": ticker, "trading_day": pd.Timestamp(day), **NEUTRAL_VALUES}


def fill_missing_days(daily: pd.DataFrame, tickers: Iterable[str], days: Iterable) -> pd.DataFrame:
    """`daily` reindexed to every (ticker, day) pair; pairs without tweets get NEUTRAL_VALUES."""
    tickers, days = list(tickers), pd.DatetimeIndex(list(days))
    # Every day of the first ticker, then of the next: MultiIndex.from_product's order.
    return _reindexed(daily, np.repeat(np.asarray(tickers, dtype=object), len(days)),
                      np.tile(days.to_numpy(), len(tickers)))


def fill_missing_pairs(daily: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """`daily` reindexed to the (ticker, trading_day) rows of `pairs`; pairs without tweets get NEUTRAL_VALUES.

    For keys whose days differ (the service's request items), where the product of fill_missing_days would not fit.
    """
    return _reindexed(daily, pairs["ticker"].to_numpy(), as_datetime(pairs["trading_day"]).to_numpy())


def _reindexed(daily: pd.DataFrame, tickers: np.ndarray, days: np.ndarray) -> pd.DataFrame:
    """One row per (tickers[i], days[i]): that key's `daily` row, NEUTRAL_VALUES where there is none.

    A NaN in a matched row is also replaced by the neutral value.
    """
    source = (lookup(daily["ticker"].to_numpy(), as_datetime(daily["trading_day"]).to_numpy(), tickers, days)
              if len(daily) else np.full(len(tickers), -1))
    out = {"ticker": tickers, "trading_day": days}
    for column in SENTIMENT_FEATURE_COLUMNS:
        values = daily[column].to_numpy(dtype=np.float64)[source] if len(daily) else np.full(len(tickers), np.nan)
        values = np.where((source < 0) | np.isnan(values), float(NEUTRAL_VALUES[column]), values)
        out[column] = values.astype("int64") if column == "tweet_count" else values
    return pd.DataFrame(out)


def _empty() -> pd.DataFrame:
    return pd.DataFrame({"ticker": np.empty(0, dtype=object), "trading_day": np.empty(0, dtype="datetime64[ns]"),
                         **{c: np.empty(0, dtype="int64" if c == "tweet_count" else "float64")
                            for c in SENTIMENT_FEATURE_COLUMNS}})
