"""Daily VADER sentiment features, aggregated exactly like the FinBERT ones (`sentiment.daily`).

VADER gives each tweet a three-way label, not a distribution; its label as a
one-hot distribution makes `daily_sentiment` produce the same columns: the
shares are VADER's label shares and the mean is share positive - share negative.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from finpulse_assets.sentiment.daily import PROBABILITY_COLUMNS, SENTIMENT_FEATURE_COLUMNS, daily_sentiment, fill_missing_days

LABEL_ORDER = ["positive", "negative", "neutral"]  # the order of PROBABILITY_COLUMNS
ENGAGEMENT_COLUMNS = ["like_num", "retweet_num"]


def vader_probabilities(vader_labels: pd.DataFrame, raw_tweets: pd.DataFrame) -> pd.DataFrame:
    """ticker, trading_day, p_* (one-hot VADER label) and engagement counts from raw_tweets, one row per tweet."""
    unknown = sorted(set(vader_labels["label"].unique()) - set(LABEL_ORDER))
    if unknown:
        raise ValueError(f"vader_labels has unknown labels {unknown}; expected {LABEL_ORDER}")
    engagement = raw_tweets[["tweet_id", "ticker", *ENGAGEMENT_COLUMNS]].drop_duplicates(["tweet_id", "ticker"])
    tweets = vader_labels[["tweet_id", "ticker", "trading_day", "label"]].merge(
        engagement, on=["tweet_id", "ticker"], how="left", validate="one_to_one")
    onehot = (tweets["label"].to_numpy()[:, None] == np.array(LABEL_ORDER)[None, :]).astype(float)
    return tweets.assign(**{c: onehot[:, i] for i, c in enumerate(PROBABILITY_COLUMNS)})


def replace_sentiment(daily_frame: pd.DataFrame, vader_labels: pd.DataFrame, raw_tweets: pd.DataFrame) -> pd.DataFrame:
    """`daily_frame` (training_set layout) with its sentiment columns recomputed from VADER's labels.

    Every (ticker, date) row of the frame gets a value: days without tweets the neutral values, as in
    sentiment_features.
    """
    per_day = daily_sentiment(vader_probabilities(vader_labels, raw_tweets)) if len(vader_labels) else None
    parts = []
    for ticker, rows in daily_frame.groupby("ticker", sort=True):
        days = pd.to_datetime(rows["date"])
        own = per_day[per_day["ticker"] == ticker] if per_day is not None else daily_sentiment(
            pd.DataFrame(columns=["ticker", "trading_day", *PROBABILITY_COLUMNS, *ENGAGEMENT_COLUMNS]))
        parts.append(fill_missing_days(own, [ticker], days))
    filled = pd.concat(parts, ignore_index=True).rename(columns={"trading_day": "date"})
    base = daily_frame.drop(columns=[c for c in SENTIMENT_FEATURE_COLUMNS if c in daily_frame])
    base = base.assign(date=pd.to_datetime(base["date"]))
    return base.merge(filled, on=["ticker", "date"], how="left", validate="one_to_one")
