"""Daily sentiment aggregation per (ticker, trading_day), with neutral days for days without tweets."""

from datetime import date

import numpy as np
import pandas as pd
import pytest

from finpulse_assets.sentiment.daily import (SENTIMENT_FEATURE_COLUMNS, daily_sentiment, fill_missing_days,
                                             neutral_day)


def scored_tweets() -> pd.DataFrame:
    return pd.DataFrame({
        "ticker": ["AAA", "AAA", "AAA", "BBB"],
        "trading_day": pd.to_datetime(["2024-03-01", "2024-03-01", "2024-03-01", "2024-03-01"]),
        "p_positive": [0.8, 0.1, 0.2, 0.6],
        "p_negative": [0.1, 0.7, 0.2, 0.3],
        "p_neutral": [0.1, 0.2, 0.6, 0.1],
        "like_num": [10, 0, 0, 3],
        "retweet_num": [5, 0, 0, 0],
    })


def test_daily_features_per_ticker_and_day():
    daily = daily_sentiment(scored_tweets()).set_index("ticker")
    assert list(daily.columns) == ["trading_day"] + SENTIMENT_FEATURE_COLUMNS

    polarity = np.array([0.7, -0.6, 0.0])
    aaa = daily.loc["AAA"]
    assert aaa["tweet_count"] == 3
    assert aaa["sentiment_mean"] == pytest.approx(polarity.mean())
    assert aaa["share_positive"] == pytest.approx(1 / 3) and aaa["share_negative"] == pytest.approx(1 / 3)
    assert aaa["sentiment_std"] == pytest.approx(polarity.std())
    weights = np.log1p([15, 0, 0]) + 1
    assert aaa["engagement_weighted"] == pytest.approx((weights * polarity).sum() / weights.sum())
    # The liked positive tweet pulls the engagement-weighted figure above the plain mean.
    assert aaa["engagement_weighted"] > aaa["sentiment_mean"]

    bbb = daily.loc["BBB"]
    assert bbb["tweet_count"] == 1 and bbb["sentiment_std"] == 0.0
    assert bbb["engagement_weighted"] == pytest.approx(0.3)


def test_day_without_tweets_is_neutral_and_never_nan():
    days = pd.to_datetime(["2024-03-01", "2024-03-04"])
    full = fill_missing_days(daily_sentiment(scored_tweets()), ["AAA", "BBB", "CCC"], days)
    assert len(full) == 6
    assert not full[SENTIMENT_FEATURE_COLUMNS].isna().any().any()
    empty_day = full[(full["ticker"] == "AAA") & (full["trading_day"] == days[1])].iloc[0]
    assert empty_day["tweet_count"] == 0 and empty_day["sentiment_mean"] == 0.0
    assert empty_day["share_positive"] == 0.0 and empty_day["sentiment_std"] == 0.0
    assert full["tweet_count"].dtype == np.int64
    assert neutral_day("CCC", "2024-03-04") == {
        "ticker": "CCC", "trading_day": pd.Timestamp("2024-03-04"), "sentiment_mean": 0.0, "share_positive": 0.0,
        "share_negative": 0.0, "tweet_count": 0, "engagement_weighted": 0.0, "sentiment_std": 0.0}


def test_no_tweets_at_all_gives_neutral_rows_for_every_requested_day():
    daily = daily_sentiment(scored_tweets().iloc[:0])
    assert daily.empty and list(daily.columns) == ["ticker", "trading_day"] + SENTIMENT_FEATURE_COLUMNS
    full = fill_missing_days(daily, ["AAA"], [date(2024, 3, 1), date(2024, 3, 4)])
    assert len(full) == 2 and (full["tweet_count"] == 0).all()
    assert full[SENTIMENT_FEATURE_COLUMNS].drop(columns="tweet_count").eq(0.0).all().all()
