"""Tweets and prices from an S3 landing prefix, in the layout kaggle_csv and yahoo_csv read.

    s3://<bucket>/<prefix>/landing/tweets/<drop>/Tweet.csv           (Kaggle layout, one pair per drop)
    s3://<bucket>/<prefix>/landing/tweets/<drop>/Company_Tweet.csv
    s3://<bucket>/<prefix>/landing/prices/<TICKER>.csv               (a Yahoo export; a new drop overwrites it)

Every tweet drop is read and joined as one Kaggle directory would be (drops in key order, so a
tweet_id repeated in a later drop is a duplicate, as a later row of one Tweet.csv is). Parsing is
kaggle_csv's and yahoo_csv's; this module only lists and fetches objects, through the S3Resource.
Parsed files are cached per (key, ETag): an overwritten object is read again.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import pandas as pd
from dagster import ConfigurableResource
from dagster_aws.s3 import S3Resource

from finpulse_assets.features.market_calendar import assign_trading_day
from finpulse_assets.sources.base import PriceSource, SourceFileError, TweetSource
from finpulse_assets.sources.csv_files import FileCache, read_csv_file
from finpulse_assets.sources.kaggle_csv import (
    COMPANY_FILE,
    COMPANY_FILE_COLUMNS,
    TWEET_FILE,
    TWEET_FILE_COLUMNS,
    select_tweets,
    split_by_ticker,
)
from finpulse_assets.sources.yahoo_csv import concat_prices, prices_between, read_price_file

TWEETS = "tweets"
PRICES = "prices"

_PRICE_CACHE = FileCache(maxsize=512)
_TWEET_CACHE = FileCache(maxsize=2)


@dataclass(frozen=True)
class LandingObject:
    key: str
    etag: str
    last_modified: datetime
    size: int


class S3Landing(ConfigurableResource):
    """The landing prefix `s3://<bucket>/<prefix>/`, read through the S3Resource."""

    s3: S3Resource
    bucket: str
    prefix: str

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def folder(self, kind: str) -> str:
        return f"{self.prefix.strip('/')}/{kind}/"

    def objects(self, kind: str | None = None) -> list[LandingObject]:
        """Every object under the landing prefix (or its `kind` folder), in key order."""
        under = self.folder(kind) if kind else f"{self.prefix.strip('/')}/"
        pages = self.s3.get_client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=under)
        found = [LandingObject(o["Key"], o["ETag"].strip('"'), o["LastModified"], o["Size"])
                 for page in pages for o in page.get("Contents", [])]
        return sorted(found, key=lambda o: o.key)

    def read(self, obj: LandingObject) -> io.BytesIO:
        body = self.s3.get_client().get_object(Bucket=self.bucket, Key=obj.key)["Body"]
        return io.BytesIO(body.read())


def price_ticker(key: str) -> str | None:
    """`.../prices/AAPL.csv` -> "AAPL"; None for a key that is not a price file."""
    name = key.rsplit("/", 1)[-1]
    return name[:-4].upper() if name.lower().endswith(".csv") and len(name) > 4 else None


def tweet_drop(key: str) -> str:
    """The drop folder a tweet file belongs to."""
    return key.rsplit("/", 1)[0]


class S3LandingPriceSource(PriceSource):
    """Prices from `landing/prices/<TICKER>.csv` objects (Yahoo CSV)."""

    landing: S3Landing

    def load_prices(self, tickers: Sequence[str], start: date, end: date) -> pd.DataFrame:
        files = self._files()
        lo, hi = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
        parts = []
        for ticker in dict.fromkeys(tickers):
            obj = files.get(ticker.upper())
            if obj is None:
                raise SourceFileError(self.landing.uri(self.landing.folder(PRICES) + f"{ticker}.csv"),
                                      f"no price file for ticker {ticker!r}")
            parts.append(prices_between(*self.parsed(obj), ticker, lo, hi))
        return concat_prices(parts)

    def parsed(self, obj: LandingObject) -> tuple[pd.DataFrame, pd.Series]:
        return _PRICE_CACHE.get_versioned(((obj.key, obj.etag),), lambda: read_price_file(
            self.landing.read(obj), name=self.landing.uri(obj.key)))

    def days_in(self, obj: LandingObject) -> dict[str, set[date]]:
        """{ticker: the days the price object holds}: what a new or overwritten object asks to (re)load."""
        _, days = self.parsed(obj)
        return {price_ticker(obj.key): set(days.dropna().dt.date)}

    def available_tickers(self) -> list[str]:
        return sorted(self._files())

    def location(self, tickers: Sequence[str]) -> str:
        return ", ".join(self.landing.uri(self.landing.folder(PRICES) + f"{t}.csv") for t in tickers)

    def _files(self) -> dict[str, LandingObject]:
        return {t: o for o in self.landing.objects(PRICES) if (t := price_ticker(o.key))}


class S3LandingTweetSource(TweetSource):
    """Tweets from the `landing/tweets/<drop>/` folders (Kaggle Tweet.csv + Company_Tweet.csv each)."""

    landing: S3Landing

    def load_tweets(self, tickers: Sequence[str], start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        drops = self.drops()
        key = tuple((o.key, o.etag) for pair in drops.values() for o in pair)
        by_ticker = _TWEET_CACHE.get_versioned(key, lambda: self._join(list(drops.values())))
        return select_tweets(by_ticker, tickers, start, end)

    def available_tickers(self) -> list[str]:
        tickers: set[str] = set()
        for _, company in self.drops().values():
            tickers |= set(self._read(company, COMPANY_FILE_COLUMNS)["ticker_symbol"].str.strip().str.upper())
        return sorted(tickers)

    def location(self, tickers: Sequence[str]) -> str:
        return self.landing.uri(self.landing.folder(TWEETS))

    def drops(self) -> dict[str, tuple[LandingObject, LandingObject]]:
        """Drop folder -> its (Tweet.csv, Company_Tweet.csv); a drop missing either file is an error naming it."""
        files: dict[str, dict[str, LandingObject]] = {}
        for obj in self.landing.objects(TWEETS):
            files.setdefault(tweet_drop(obj.key), {})[obj.key.rsplit("/", 1)[-1]] = obj
        drops = {}
        for folder, named in sorted(files.items()):
            for needed in (TWEET_FILE, COMPANY_FILE):
                if needed not in named:
                    raise SourceFileError(self.landing.uri(f"{folder}/{needed}"), "file not found",
                                          expected=f"a drop folder holding {TWEET_FILE} and {COMPANY_FILE}")
            drops[folder] = (named[TWEET_FILE], named[COMPANY_FILE])
        return drops

    def days_in(self, drop: tuple[LandingObject, LandingObject]) -> dict[str, set[date]]:
        """{ticker: trading days its tweets in this drop count toward}: what a new drop asks to (re)load."""
        out: dict[str, set[date]] = {}
        for ticker, (_, seconds) in self._join([drop]).items():
            posted = pd.to_datetime(pd.Series(seconds[~np.isnan(seconds)]), unit="s", utc=True)
            out[ticker] = set(pd.to_datetime(assign_trading_day(posted)).dt.date)
        return out

    def _read(self, obj: LandingObject, columns: list[str]) -> pd.DataFrame:
        return read_csv_file(self.landing.read(obj), columns, name=self.landing.uri(obj.key))

    def _join(self, drops: list[tuple[LandingObject, LandingObject]]):
        tweets = [self._read(t, TWEET_FILE_COLUMNS) for t, _ in drops]
        company = [self._read(c, COMPANY_FILE_COLUMNS) for _, c in drops]
        if not tweets:
            tweets, company = [pd.DataFrame(columns=TWEET_FILE_COLUMNS)], [pd.DataFrame(columns=COMPANY_FILE_COLUMNS)]
        # A (tweet, ticker) pair listed by two drops is one pair, not two rows.
        return split_by_ticker(pd.concat(tweets, ignore_index=True),
                               pd.concat(company, ignore_index=True).drop_duplicates(COMPANY_FILE_COLUMNS))
