"""Pandera schemas of the stored assets: the contract the blocking checks enforce."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from finpulse_assets.features.price import FEATURE_COLUMNS

LABELS = ["negative", "neutral", "positive"]


class RawTweets(pa.DataFrameModel):
    tweet_id: Series[str] = pa.Field(str_length={"min_value": 1})
    ticker: Series[str]
    writer: Series[str]
    posted_at: Series[pd.DatetimeTZDtype] = pa.Field(dtype_kwargs={"unit": "ns", "tz": "UTC"})
    trading_day: Series[pa.DateTime]
    text: Series[str] = pa.Field(str_length={"min_value": 1})
    is_retweet: Series[bool]
    comment_num: Series[int] = pa.Field(ge=0)
    retweet_num: Series[int] = pa.Field(ge=0)
    like_num: Series[int] = pa.Field(ge=0)

    class Config:
        strict = True
        unique = ["tweet_id", "ticker"]


class VaderLabels(pa.DataFrameModel):
    tweet_id: Series[str]
    ticker: Series[str]
    trading_day: Series[pa.DateTime]
    text: Series[str] = pa.Field(str_length={"min_value": 1})
    compound: Series[float] = pa.Field(ge=-1, le=1)
    pos: Series[float] = pa.Field(ge=0, le=1)
    neu: Series[float] = pa.Field(ge=0, le=1)
    neg: Series[float] = pa.Field(ge=0, le=1)
    label: Series[str] = pa.Field(isin=LABELS)

    class Config:
        strict = True
        unique = ["tweet_id", "ticker"]


class RawPrices(pa.DataFrameModel):
    ticker: Series[str]
    date: Series[pa.DateTime]
    open: Series[float] = pa.Field(gt=0)
    high: Series[float] = pa.Field(gt=0)
    low: Series[float] = pa.Field(gt=0)
    close: Series[float] = pa.Field(gt=0)
    adj_close: Series[float] = pa.Field(gt=0)
    volume: Series[float] = pa.Field(ge=0)

    class Config:
        strict = True
        unique = ["ticker", "date"]

    @pa.dataframe_check(error="high < max(open, close)")
    def high_covers_body(cls, df):
        return df["high"] >= df[["open", "close"]].max(axis=1)

    @pa.dataframe_check(error="low > min(open, close)")
    def low_covers_body(cls, df):
        return df["low"] <= df[["open", "close"]].min(axis=1)


class _PriceDay(pa.DataFrameModel):
    """The price columns of one ticker x day that price_features and training_set share, with their checks."""

    ticker: Series[str]
    date: Series[pa.DateTime]
    close: Series[float] = pa.Field(gt=0)
    adj_close: Series[float] = pa.Field(gt=0)
    history_complete: Series[bool]
    target_date: Series[pa.DateTime] = pa.Field(nullable=True)
    target_return: Series[float] = pa.Field(nullable=True)
    target_log_return: Series[float] = pa.Field(nullable=True)

    class Config:
        unique = ["ticker", "date"]

    @pa.dataframe_check(error="a price feature is missing or not finite where history is complete")
    def complete_features_finite(cls, df):
        import numpy as np

        values = df[FEATURE_COLUMNS].to_numpy(dtype=float)
        return ~df["history_complete"] | np.isfinite(values).all(axis=1)

    @pa.dataframe_check(error="target_date is not after date")
    def target_after_date(cls, df):
        return df["target_date"].isna() | (df["target_date"] > df["date"])


class PriceFeatures(_PriceDay):
    missing_bars: Series[int] = pa.Field(ge=0)  # trading days without a bar in t's trailing window
    target_close: Series[float] = pa.Field(nullable=True, gt=0)
    target_adj_close: Series[float] = pa.Field(nullable=True, gt=0)


class Predictions(pa.DataFrameModel):
    ticker: Series[str]
    date: Series[pa.DateTime]
    target_date: Series[pa.DateTime]
    close: Series[float] = pa.Field(gt=0)
    predicted_log_return: Series[float]
    predicted_return: Series[float] = pa.Field(gt=-1)
    predicted_close: Series[float] = pa.Field(gt=0)
    model_version: Series[str] = pa.Field(str_length={"min_value": 1})

    class Config:
        strict = True
        unique = ["ticker", "date"]

    @pa.dataframe_check(error="a forecast is not finite")
    def finite(cls, df):
        import numpy as np

        values = df[["predicted_log_return", "predicted_return", "predicted_close"]].to_numpy(dtype=float)
        return pd.Series(np.isfinite(values).all(axis=1), index=df.index)

    @pa.dataframe_check(error="target_date is not after date")
    def target_after_date(cls, df):
        return df["target_date"] > df["date"]


class FinbertSentiment(pa.DataFrameModel):
    tweet_id: Series[str]
    ticker: Series[str]
    trading_day: Series[pa.DateTime]
    posted_at: Series[pd.DatetimeTZDtype] = pa.Field(dtype_kwargs={"unit": "ns", "tz": "UTC"})
    is_retweet: Series[bool]
    retweet_num: Series[int] = pa.Field(ge=0)
    like_num: Series[int] = pa.Field(ge=0)
    comment_num: Series[int] = pa.Field(ge=0)
    p_positive: Series[float] = pa.Field(ge=0, le=1)
    p_negative: Series[float] = pa.Field(ge=0, le=1)
    p_neutral: Series[float] = pa.Field(ge=0, le=1)
    label: Series[str] = pa.Field(isin=LABELS)
    model_version: Series[str] = pa.Field(str_length={"min_value": 1})

    class Config:
        strict = True
        unique = ["tweet_id", "ticker"]

    @pa.dataframe_check(error="probabilities do not sum to 1")
    def probabilities_sum_to_one(cls, df):
        return (df[["p_positive", "p_negative", "p_neutral"]].sum(axis=1) - 1).abs() < 1e-3


class SentimentFeatures(pa.DataFrameModel):
    """One row per ticker x trading day; a day without tweets has neutral values and tweet_count 0."""

    ticker: Series[str]
    trading_day: Series[pa.DateTime]
    sentiment_mean: Series[float] = pa.Field(ge=-1, le=1)
    share_positive: Series[float] = pa.Field(ge=0, le=1)
    share_negative: Series[float] = pa.Field(ge=0, le=1)
    tweet_count: Series[int] = pa.Field(ge=0)
    engagement_weighted: Series[float] = pa.Field(ge=-1, le=1)
    sentiment_std: Series[float] = pa.Field(ge=0)

    class Config:
        strict = True
        unique = ["ticker", "trading_day"]

    @pa.dataframe_check(error="a day without tweets does not have the neutral values")
    def tweet_free_days_are_neutral(cls, df):
        values = df[["sentiment_mean", "share_positive", "share_negative", "engagement_weighted", "sentiment_std"]]
        return (df["tweet_count"] > 0) | (values == 0).all(axis=1)


class TrainingSet(_PriceDay):
    """price_features joined with sentiment_features: features known at t's close, next-day targets."""

    sentiment_mean: Series[float] = pa.Field(ge=-1, le=1)
    tweet_count: Series[int] = pa.Field(ge=0)

    @pa.dataframe_check(error="a sentiment feature is missing (NaN)")
    def sentiment_never_nan(cls, df):
        from finpulse_assets.sentiment.daily import SENTIMENT_FEATURE_COLUMNS

        return df[SENTIMENT_FEATURE_COLUMNS].notna().all(axis=1)


class DriftReport(pa.DataFrameModel):
    """One row per ticker x trading day with a drift report: the Evidently figures and where the HTML is."""

    ticker: Series[str]
    date: Series[pa.DateTime]
    window_start: Series[pa.DateTime]
    window_rows: Series[int] = pa.Field(gt=0)
    reference_rows: Series[int] = pa.Field(gt=0)
    reference_end: Series[pa.DateTime]
    drift_share: Series[float] = pa.Field(ge=0, le=1)
    drifted_count: Series[int] = pa.Field(ge=0)
    sentiment_drift_share: Series[float] = pa.Field(ge=0, le=1)
    drifted_columns: Series[str]
    model_version: Series[str] = pa.Field(str_length={"min_value": 1})
    report_file: Series[str] = pa.Field(str_length={"min_value": 1})

    class Config:
        strict = True
        unique = ["ticker", "date"]

    @pa.dataframe_check(error="the reference is not before the window (look-ahead)")
    def reference_before_window(cls, df):
        return df["reference_end"] < df["window_start"]


class PredictionErrors(pa.DataFrameModel):
    """One row per forecast whose target day's close exists, keyed by that target day."""

    ticker: Series[str]
    date: Series[pa.DateTime]
    target_date: Series[pa.DateTime]
    close: Series[float] = pa.Field(gt=0)
    predicted_close: Series[float] = pa.Field(gt=0)
    actual_close: Series[float] = pa.Field(gt=0)
    abs_error: Series[float] = pa.Field(ge=0)
    pct_error: Series[float]
    direction_hit: Series[bool]
    rolling_mae: Series[float] = pa.Field(ge=0)
    model_version: Series[str] = pa.Field(str_length={"min_value": 1})

    class Config:
        strict = True
        unique = ["ticker", "target_date"]

    @pa.dataframe_check(error="target_date is not after date")
    def target_after_date(cls, df):
        return df["target_date"] > df["date"]
