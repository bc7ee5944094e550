"""In-memory sources for asset tests: small frames the tests build themselves."""

from collections.abc import Sequence
from datetime import date

import pandas as pd

from finpulse_assets.features.market_calendar import trading_days
from finpulse_assets.sources.base import PriceSource, SourceFileError, TweetSource


class FakePriceSource(PriceSource):
    rows: list[dict]
    fail: bool = False

    def load_prices(self, tickers: Sequence[str], start: date, end: date) -> pd.DataFrame:
        if self.fail:
            raise SourceFileError("prices/AAA.csv", "missing column", column="Adj Close", expected="Yahoo columns")
        frame = pd.DataFrame(self.rows)
        dates = pd.to_datetime(frame["date"], errors="coerce")
        keep = frame["ticker"].isin(tickers) & (dates.isna() | ((dates.dt.date >= start) & (dates.dt.date <= end)))
        return frame[keep].astype(str)

    def available_tickers(self) -> list[str]:
        return sorted({r["ticker"] for r in self.rows})


class FakeTweetSource(TweetSource):
    rows: list[dict]

    def load_tweets(self, tickers, start, end) -> pd.DataFrame:
        frame = pd.DataFrame(self.rows)
        seconds = pd.to_numeric(frame["post_date"], errors="coerce")
        posted = pd.to_datetime(seconds, unit="s", utc=True)
        keep = frame["ticker"].isin(tickers) & (posted.isna() | ((posted >= start) & (posted < end)))
        return frame[keep].astype(str)

    def available_tickers(self) -> list[str]:
        return sorted({r["ticker"] for r in self.rows})


def price_rows(tickers=("AAA", "BBB"), start="2024-01-01", end="2024-03-29", scale=1.0) -> list[dict]:
    rows = []
    for i, ticker in enumerate(tickers):
        for n, day in enumerate(trading_days(pd.Timestamp(start).date(), pd.Timestamp(end).date())):
            close = (50 + 10 * i + n * 0.3 + (n % 5)) * scale
            rows.append({"ticker": ticker, "date": day.strftime("%Y-%m-%d"), "open": close - 0.5,
                         "high": close + 1, "low": close - 1, "close": close, "adj_close": close * 0.99,
                         "volume": 1000 + 37 * (n % 11)})
    return rows


def tweet_rows(tickers=("AAA", "BBB"), start="2024-01-01", end="2024-03-29") -> list[dict]:
    rows, texts = [], ["Great earnings, $%s soaring!", "Terrible guidance &amp; awful outlook for $%s",
                       "$%s trades today", "RT @desk: $%s beats estimates"]
    for i, ticker in enumerate(tickers):
        for n, day in enumerate(pd.date_range(start, end, freq="D")):
            for h in (3, 11, 15, 21):  # UTC hours: night, morning, midday, after the close
                stamp = int((day + pd.Timedelta(hours=h)).tz_localize("UTC").timestamp())
                rows.append({"tweet_id": f"{i}{n:04d}{h:02d}", "writer": "w", "post_date": stamp,
                             "body": texts[(n + h) % 4] % ticker, "comment_num": 0, "retweet_num": n % 3,
                             "like_num": h, "ticker": ticker})
    return rows
