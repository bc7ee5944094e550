"""The source contract: what every tweet and price source hands to the assets.

Sources do file-level work only (find, open, parse the container, check the
columns) and return rows as found, as strings where the file has strings.
Row-level validation lives in one place, `finpulse_assets.sources.cleaning`, so every
source rejects bad rows by the same rules and the same reason names.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import date

import pandas as pd
from dagster import ConfigurableResource

# Columns of the raw frames sources return (before `cleaning`).
RAW_TWEET_COLUMNS = [
    "tweet_id",
    "writer",
    "post_date",  # Unix seconds, UTC, as found (string or number)
    "body",
    "comment_num",
    "retweet_num",
    "like_num",
    "ticker",
]
RAW_PRICE_COLUMNS = ["ticker", "date", "open", "high", "low", "close", "adj_close", "volume"]


class SourceFileError(ValueError):
    """A file-level defect: the whole partition fails and says which file and column."""

    def __init__(self, path: str, problem: str, *, column: str | None = None, expected: str | None = None):
        self.path = str(path)
        self.column = column
        self.expected = expected
        parts = [f"{self.path}: {problem}"]
        if column is not None:
            parts.append(f"column {column!r}")
        if expected is not None:
            parts.append(f"expected {expected}")
        super().__init__("; ".join(parts))


class TweetSource(ConfigurableResource, ABC):
    """Tweets in the Kaggle 'Tweet.csv' + 'Company_Tweet.csv' layout."""

    @abstractmethod
    def load_tweets(self, tickers: Sequence[str], start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        """Raw tweets filed under `tickers` posted in [start, end) (tz-aware UTC bounds).

        Returns RAW_TWEET_COLUMNS, one row per (tweet, ticker) pair. Rows whose
        post_date cannot be parsed are still returned (cleaning rejects them)."""

    @abstractmethod
    def available_tickers(self) -> list[str]:
        """Tickers the source holds tweets for."""

    def location(self, tickers: Sequence[str]) -> str:
        """Where the tweets of `tickers` come from, for error messages (a file, a service)."""
        return type(self).__name__


class PriceSource(ConfigurableResource, ABC):
    """Daily OHLCV in the Yahoo layout (Date, Open, High, Low, Close, Adj Close, Volume)."""

    @abstractmethod
    def load_prices(self, tickers: Sequence[str], start: date, end: date) -> pd.DataFrame:
        """Raw daily rows for `tickers` with start <= Date <= end.

        Returns RAW_PRICE_COLUMNS. Rows whose date cannot be parsed are still
        returned (cleaning rejects them). Raises SourceFileError for a missing
        or unreadable file or a missing column, and for an unknown ticker."""

    @abstractmethod
    def available_tickers(self) -> list[str]:
        """Tickers the source holds prices for."""

    def location(self, tickers: Sequence[str]) -> str:
        """Where the bars of `tickers` come from, for error messages (files, a service)."""
        return type(self).__name__

    def available_days(self, ticker: str, start: date, end: date) -> list[date]:
        """Trading days in [start, end] the source holds a bar for: what the new-data sensor asks.

        Reads the bars themselves, so it holds for every source; a source with a cheaper
        index (a database, an API listing) may override it."""
        bars = self.load_prices([ticker], start, end)
        days = pd.to_datetime(bars["date"], errors="coerce").dropna().dt.date
        return sorted(d for d in set(days) if start <= d <= end)
