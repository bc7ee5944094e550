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


class PriceFeatures(pa.DataFrameModel):
    ticker: Series[str]
    date: Series[pa.DateTime]
    close: Series[float] = pa.Field(gt=0)
    adj_close: Series[float] = pa.Field(gt=0)
    history_complete: Series[bool]
    target_date: Series[pa.DateTime] = pa.Field(nullable=True)
    target_close: Series[float] = pa.Field(nullable=True, gt=0)
    target_adj_close: Series[float] = pa.Field(nullable=True, gt=0)
    target_return: Series[float] = pa.Field(nullable=True)
    target_log_return: Series[float] = pa.Field(nullable=True)

    class Config:
        unique = ["ticker", "date"]

    @pa.dataframe_check(error="a feature is missing or not finite where history is complete")
    def complete_features_finite(cls, df):
        import numpy as np

        values = df[FEATURE_COLUMNS].to_numpy(dtype=float)
        return ~df["history_complete"] | np.isfinite(values).all(axis=1)

    @pa.dataframe_check(error="target_date is not after date")
    def target_after_date(cls, df):
        return df["target_date"].isna() | (df["target_date"] > df["date"])
