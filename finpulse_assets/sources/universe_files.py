"""A synthetic S&P-500-sized universe written as the files the CSV sources read.

    python -m finpulse_assets.sources.universe_files DIR --tickers 500 --start 2015-01-01 --end 2025-01-01 \\
        --tweets-from 2024-12-31 --tweets-to 2025-01-01
    FINPULSE_DATA=DIR FINPULSE_TICKERS=500 make demo      # loads it (kaggle_csv + yahoo_csv)

Each ticker is the demo market (`demo.simulate_market`: prices on NYSE trading days, latent sentiment that
leads the next day's return, regime shift, dividends; tweet texts, retweets, copies and engagement from
`demo.simulate_tweets`), with tweets at a realistic rate and heavy-tailed:

  * a ticker's mean tweets per trading day is lognormal across tickers (sd TICKER_RATE_SD, mean
    `tweets_per_day`, 200 by default, before the demo's regime shift, 1.6x after it): a few names get most
    of the attention, many get a few dozen;
  * a day's count has a lognormal day factor with sd DAY_BUZZ_SD (the demo's is 0.25): news days bring
    several times the usual count (test_universe_files.py bounds the busiest day against the median one).

500 tickers x 10 years x 200 tweets is about 250 M tweets (tens of GB of CSV), so tweets are written only for
the trading days in [tweets_from, tweets_to) (default: the whole window); prices always cover the whole window
(a few MB). Tweets are drawn per calendar month, each month from its own stream (seed, ticker, month), so a
slice holds exactly the rows the whole window would have on those days, and any slice is deterministic.

Files: `prices/<TICKER>.csv` (Yahoo: Date, Open, High, Low, Close, Adj Close, Volume), `tweets/Tweet.csv` +
`tweets/Company_Tweet.csv` (Kaggle; one Company_Tweet row per tweet id, the ~1 % re-crawled copies repeat in
Tweet.csv only) and `universe.json` (the parameters and counts). Generated on demand, never committed.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from finpulse_assets.features.market_calendar import assign_trading_day
from finpulse_assets.sources.demo import simulate_market, simulate_tweets, ticker_rng
from finpulse_assets.sources.kaggle_csv import (
    COMPANY_FILE,
    COMPANY_FILE_COLUMNS,
    TWEET_FILE,
    TWEET_FILE_COLUMNS,
)
from finpulse_assets.sources.universe import synthetic_tickers
from finpulse_assets.sources.yahoo_csv import YAHOO_COLUMNS

MANIFEST = "universe.json"
TWEETS_PER_DAY = 200.0  # the universe's mean tweets per ticker per trading day
TICKER_RATE_SD = 1.0  # sd of log(mean tweets per day) across tickers
DAY_BUZZ_SD = 1.0  # sd of the lognormal factor on a day's expected count
RATE_STREAM = 2  # demo.py draws prices from stream 0 and its whole-window tweets from 1
MONTH_STREAM = 1000  # + year * 12 + month - 1: a month's tweets


def ticker_rate(seed: int, ticker: str, tweets_per_day: float = TWEETS_PER_DAY) -> float:
    """The ticker's mean tweets per trading day: lognormal with mean `tweets_per_day` over tickers."""
    z = ticker_rng(seed, ticker, RATE_STREAM).standard_normal()
    return float(tweets_per_day * np.exp(TICKER_RATE_SD * z - TICKER_RATE_SD**2 / 2))


def ticker_tweets(seed: int, ticker: str, latent: pd.DataFrame, tweets_from: str, tweets_to: str,
                  tweets_per_day: float = TWEETS_PER_DAY) -> Iterator[pd.DataFrame]:
    """Raw tweets of `ticker` for its trading days in [tweets_from, tweets_to), a calendar month at a time."""
    lo, hi = pd.Timestamp(tweets_from), pd.Timestamp(tweets_to)
    dates = pd.DatetimeIndex(latent["date"])
    wanted = (dates >= lo) & (dates < hi)
    if not wanted.any():
        return
    rate = ticker_rate(seed, ticker, tweets_per_day)
    months = dates.year * 12 + dates.month - 1
    for month in np.unique(months[wanted]):
        in_month = months == month
        tweets = simulate_tweets(ticker_rng(seed, ticker, MONTH_STREAM + int(month)), ticker, latent[in_month], rate,
                                 DAY_BUZZ_SD)
        if wanted[in_month].all():
            yield tweets
            continue
        day = assign_trading_day(pd.to_datetime(tweets["post_date"], unit="s", utc=True))
        yield tweets[((day >= lo) & (day < hi)).to_numpy()]


def generate(directory: str | Path, tickers: int = 500, start: str = "2015-01-01", end: str = "2025-01-01",
             tweets_from: str | None = None, tweets_to: str | None = None, seed: int = 7,
             tweets_per_day: float = TWEETS_PER_DAY) -> dict:
    """Write the universe's files under `directory` (replacing any there); returns the manifest."""
    started = time.perf_counter()
    directory = Path(directory)
    prices_dir, tweets_dir = directory / "prices", directory / "tweets"
    for folder in (prices_dir, tweets_dir):
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.csv"):
            old.unlink()
    tweets_from, tweets_to = tweets_from or start, tweets_to or end
    symbols = synthetic_tickers(tickers)
    tweet_rows = price_rows = 0
    with _CsvWriter(tweets_dir / TWEET_FILE) as tweet_file, _CsvWriter(tweets_dir / COMPANY_FILE) as company_file:
        for ticker in symbols:
            prices, latent = simulate_market(seed, ticker, start, end)
            _write_csv(prices.drop(columns="ticker").rename(columns={v: k for k, v in YAHOO_COLUMNS.items()}),
                       prices_dir / f"{ticker}.csv")
            price_rows += len(prices)
            for tweets in ticker_tweets(seed, ticker, latent, tweets_from, tweets_to, tweets_per_day):
                tweet_file.write(tweets[TWEET_FILE_COLUMNS])
                ids = tweets["tweet_id"].drop_duplicates()
                company_file.write(pd.DataFrame({COMPANY_FILE_COLUMNS[0]: ids, COMPANY_FILE_COLUMNS[1]: ticker}))
                tweet_rows += len(tweets)
    manifest = {"tickers": tickers, "start": start, "end": end, "tweets_from": tweets_from, "tweets_to": tweets_to,
                "seed": seed, "tweets_per_day": tweets_per_day, "ticker_rate_sd": TICKER_RATE_SD,
                "day_buzz_sd": DAY_BUZZ_SD, "price_rows": price_rows, "tweet_rows": tweet_rows,
                "seconds": round(time.perf_counter() - started, 2)}
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def holds_universe(directory: str | Path, tickers: int) -> bool:
    """Whether `directory` holds a generated universe of at least `tickers` tickers (FINPULSE_TICKERS=<N>)."""
    path = Path(directory) / MANIFEST
    return path.is_file() and int(json.loads(path.read_text())["tickers"]) >= tickers


class _CsvWriter:
    """Frames appended to one CSV with a single header, through Arrow's writer (several times pandas' speed)."""

    def __init__(self, path: Path):
        self.path, self._writer = path, None

    def __enter__(self):
        return self

    def write(self, frame: pd.DataFrame) -> None:
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if self._writer is None:
            self._writer = pacsv.CSVWriter(str(self.path), table.schema)
        self._writer.write_table(table)

    def __exit__(self, *exc) -> None:
        if self._writer is not None:
            self._writer.close()
        elif exc[0] is None:
            raise ValueError(f"{self.path}: no rows to write (the tweet range holds no trading day)")


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    with _CsvWriter(path) as writer:
        writer.write(frame)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory")
    parser.add_argument("--tickers", type=int, default=500)
    parser.add_argument("--start", default="2015-01-01", help="first day of the window")
    parser.add_argument("--end", default="2025-01-01", help="the day after the window (exclusive)")
    parser.add_argument("--tweets-from", help="first trading day with tweets written (default: --start)")
    parser.add_argument("--tweets-to", help="the day after the last one with tweets written (default: --end)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--tweets-per-day", type=float, default=TWEETS_PER_DAY)
    args = parser.parse_args(argv)
    manifest = generate(args.directory, args.tickers, args.start, args.end, args.tweets_from, args.tweets_to,
                        args.seed, args.tweets_per_day)
    print(json.dumps(manifest, indent=2))


if __name__ == "__main__":
    main()
