"""Daily prices from a directory of Yahoo Finance CSV exports, one `<TICKER>.csv` per ticker."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path

import pandas as pd

from finpulse_assets.sources.base import RAW_PRICE_COLUMNS, PriceSource, SourceFileError
from finpulse_assets.sources.csv_files import FileCache, read_csv_file

# Yahoo's header -> the raw column it becomes.
YAHOO_COLUMNS = {"Date": "date", "Open": "open", "High": "high", "Low": "low", "Close": "close",
                 "Adj Close": "adj_close", "Volume": "volume"}

_UTC_OFFSET = r"(\d:\d\d(?::\d\d(?:\.\d*)?)?)\s*(?:Z|[+-]\d\d:?\d\d)$"  # after a time of day

# One entry per ticker file; the files are small.
_CACHE = FileCache(maxsize=512)


class YahooCsvPriceSource(PriceSource):
    """Prices read from `directory`/<TICKER>.csv (Date, Open, High, Low, Close, Adj Close, Volume)."""

    directory: str

    def load_prices(self, tickers: Sequence[str], start: date, end: date) -> pd.DataFrame:
        """Rows as found (strings) with start <= Date <= end, plus rows whose Date does not parse."""
        files = self._files()
        lo, hi = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
        parts = []
        for ticker in dict.fromkeys(tickers):
            path = files.get(ticker.upper())
            if path is None:
                raise SourceFileError(Path(self.directory) / f"{ticker}.csv",
                                      f"no price file for ticker {ticker!r}")
            parts.append(prices_between(*_CACHE.get([path], lambda path=path: read_price_file(path)), ticker, lo, hi))
        return concat_prices(parts)

    def available_tickers(self) -> list[str]:
        return sorted(self._files())

    def location(self, tickers: Sequence[str]) -> str:
        files = self._files()
        return ", ".join(str(files.get(t.upper(), Path(self.directory) / f"{t}.csv")) for t in tickers)

    def _files(self) -> dict[str, Path]:
        """Ticker (the file stem, upper case) -> its file."""
        directory = Path(self.directory)
        if not directory.is_dir():
            raise SourceFileError(directory, "price directory not found",
                                  expected="a directory of <TICKER>.csv files")
        return {p.stem.upper(): p for p in directory.iterdir() if p.suffix.lower() == ".csv" and p.is_file()}


def read_price_file(path, name: str | None = None) -> tuple[pd.DataFrame, pd.Series]:
    """The file's rows under raw column names, and each row's day (NaT where Date does not parse).
    `path`: a local path or an open binary file; `name`: what errors call it."""
    frame = read_csv_file(path, list(YAHOO_COLUMNS), name).rename(columns=YAHOO_COLUMNS)[list(YAHOO_COLUMNS.values())]
    # The exchange-local day as written: a history saved with its tz ("...00:00:00-04:00") changes
    # offset at DST, and mixed offsets would not parse into one datetime column.
    local = frame["date"].str.replace(_UTC_OFFSET, r"\1", regex=True)
    days = pd.to_datetime(local, errors="coerce", format="mixed")
    return frame, days.dt.normalize()


def prices_between(frame: pd.DataFrame, days: pd.Series, ticker: str, lo: pd.Timestamp, hi: pd.Timestamp):
    """A file's rows (from read_price_file) with lo <= day <= hi, plus those whose Date does not parse."""
    keep = days.isna() | ((days >= lo) & (days <= hi))
    return frame[keep.to_numpy()].assign(ticker=ticker)[RAW_PRICE_COLUMNS]


def concat_prices(parts: list[pd.DataFrame]) -> pd.DataFrame:
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in RAW_PRICE_COLUMNS})
    return pd.concat(parts, ignore_index=True)
