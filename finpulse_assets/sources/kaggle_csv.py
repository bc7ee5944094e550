"""Tweets from the Kaggle 'Tweets about the top companies' layout: Tweet.csv + Company_Tweet.csv.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from finpulse_assets.sources.cleaning import FIRST_POST_SECONDS, REPEAT_COLUMN, latest_post_seconds
from finpulse_assets.sources.base import RAW_TWEET_COLUMNS, SourceFileError, TweetSource
from finpulse_assets.sources.csv_files import FileCache, read_csv_file

TWEET_FILE = "Tweet.csv"
COMPANY_FILE = "Company_Tweet.csv"
TWEET_FILE_COLUMNS = ["tweet_id", "writer", "post_date", "body", "comment_num", "retweet_num", "like_num"]
COMPANY_FILE_COLUMNS = ["tweet_id", "ticker_symbol"]



# A directory's joined tweets, split by ticker: few directories per process, each can be large.
_CACHE = FileCache(maxsize=2)


class KaggleCsvTweetSource(TweetSource):
    """Tweets read from `directory`/Tweet.csv joined with `directory`/Company_Tweet.csv on tweet_id."""

    directory: str

    def load_tweets(self, tickers: Sequence[str], start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        """Rows filed under `tickers` posted in [start, end) (naive bounds are UTC), plus those
        rows whose post_date is not a usable time (not a number, not finite, out of range), which
        belong to no window and are left to cleaning to count. Rows come in file order, with
        REPEAT_COLUMN set on a row whose tweet_id appeared earlier in Tweet.csv."""
        return select_tweets(self._by_ticker(), tickers, start, end)

    def available_tickers(self) -> list[str]:
        return sorted(self._by_ticker())

    def location(self, tickers: Sequence[str]) -> str:
        return str(Path(self.directory) / TWEET_FILE)

    def _by_ticker(self) -> dict[str, tuple[pd.DataFrame, np.ndarray]]:
        directory = Path(self.directory)
        if not directory.is_dir():
            raise SourceFileError(directory, "tweet directory not found",
                                  expected=f"a directory holding {TWEET_FILE} and {COMPANY_FILE}")
        tweet_path, company_path = directory / TWEET_FILE, directory / COMPANY_FILE
        return _CACHE.get([tweet_path, company_path], lambda: split_by_ticker(
            read_csv_file(tweet_path, TWEET_FILE_COLUMNS), read_csv_file(company_path, COMPANY_FILE_COLUMNS)))


_FILE_ROW = "_file_row"


def split_by_ticker(tweets: pd.DataFrame, company: pd.DataFrame) -> dict[str, tuple[pd.DataFrame, np.ndarray]]:
    """Per ticker: its (tweet, ticker) rows sorted by usable post_date (no usable time last), and those seconds."""
    company = company[COMPANY_FILE_COLUMNS].rename(columns={"ticker_symbol": "ticker"})
    # 'aapl' and ' AAPL' are AAPL: a tweet filed under both spellings becomes one row and a counted duplicate.
    company["ticker"] = company["ticker"].str.strip().str.upper()
    tweets = tweets[TWEET_FILE_COLUMNS].assign(**{
        _FILE_ROW: np.arange(len(tweets)),
        # The first row of an id in the file is the tweet; a later copy is a duplicate, whatever its post_date.
        REPEAT_COLUMN: tweets["tweet_id"].str.strip().duplicated(keep="first").to_numpy()})
    joined = tweets.merge(company, on="tweet_id", how="inner")[[*RAW_TWEET_COLUMNS, REPEAT_COLUMN, _FILE_ROW]]
    seconds = pd.to_numeric(joined["post_date"], errors="coerce").astype("float64")
    # No inf, ms, -1 or future time: those rows go to every run, where cleaning counts them by reason.
    usable = seconds.between(FIRST_POST_SECONDS, latest_post_seconds(), inclusive="left")
    joined["_seconds"] = seconds.where(usable)
    joined = joined.sort_values("_seconds", kind="stable", na_position="last")
    out = {}
    for ticker, rows in joined.groupby("ticker", sort=False):
        out[str(ticker)] = (rows[[*RAW_TWEET_COLUMNS, REPEAT_COLUMN, _FILE_ROW]].reset_index(drop=True),
                            rows["_seconds"].to_numpy())
    return out


def select_tweets(by_ticker: dict[str, tuple[pd.DataFrame, np.ndarray]], tickers: Sequence[str],
                  start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """From `split_by_ticker`'s result: the rows `load_tweets` returns (see KaggleCsvTweetSource)."""
    lo, hi = _utc_seconds(start), _utc_seconds(end)
    parts = []
    for ticker in dict.fromkeys(tickers):
        if ticker not in by_ticker:
            continue
        frame, seconds = by_ticker[ticker]
        n_numeric = int(np.count_nonzero(~np.isnan(seconds)))  # NaN sort last
        first, stop = np.searchsorted(seconds[:n_numeric], [lo, hi], side="left")
        part = frame.iloc[np.r_[first:stop, n_numeric:len(frame)]]
        parts.append(part.sort_values(_FILE_ROW, kind="stable").drop(columns=_FILE_ROW))
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in [*RAW_TWEET_COLUMNS, REPEAT_COLUMN]})
    return pd.concat(parts, ignore_index=True)


def _utc_seconds(ts) -> float:
    ts = pd.Timestamp(ts)
    return (ts.tz_localize("UTC") if ts.tzinfo is None else ts).timestamp()
