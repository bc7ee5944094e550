"""Daily prices from a directory of Yahoo Finance CSV exports, one `<TICKER>.csv` per ticker."""

from __future__ import annotations

import os
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
    # How a file's d/m/Y-or-m/d/Y dates are read when no date in it tells (every day and month <= 12):
    # "day-first" or "month-first"; empty refuses such a file (FINPULSE_PRICE_DATE_ORDER).
    date_order: str = ""

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
            if not path.exists():
                raise SourceFileError(path, f"the price file of {ticker!r} is a symbolic link to "
                                            f"{os.readlink(path)}, which does not exist",
                                      expected="a link to an existing file (or the file itself)")
            parsed = _CACHE.get([path], lambda path=path: read_price_file(path, date_order=self.date_order))
            parts.append(prices_between(*parsed, ticker, lo, hi))
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
        files: dict[str, Path] = {}
        # A dangling symbolic link is kept, so its ticker's error says where it points instead of "no file".
        for p in sorted(directory.iterdir()):
            if p.suffix.lower() != ".csv" or not (p.is_file() or (p.is_symlink() and not p.exists())):
                continue
            ticker = p.stem.strip().upper()
            if ticker in files:
                raise SourceFileError(directory, f"two price files map to ticker {ticker!r}: {files[ticker].name} "
                                                 f"and {p.name} (tickers are read in upper case)",
                                      expected="one file per ticker: remove or rename one of them")
            files[ticker] = p
        return files


def read_price_file(path, name: str | None = None, date_order: str = "") -> tuple[pd.DataFrame, pd.Series]:
    """The file's rows under raw column names, and each row's day (NaT where Date does not parse).
    `path`: a local path or an open binary file; `name`: what errors call it; `date_order`: see
    `numeric_dates_as_iso`."""
    frame = read_csv_file(path, list(YAHOO_COLUMNS), name).rename(columns=YAHOO_COLUMNS)[list(YAHOO_COLUMNS.values())]
    frame["date"] = numeric_dates_as_iso(frame["date"], name if name is not None else str(path), date_order)
    # The exchange-local day as written: a history saved with its tz ("...00:00:00-04:00") changes
    # offset at DST, and mixed offsets would not parse into one datetime column.
    local = frame["date"].str.replace(_UTC_OFFSET, r"\1", regex=True)
    days = pd.to_datetime(local, errors="coerce", format="mixed")
    return frame, days.dt.normalize()


_NUMERIC_DATE = r"^\s*(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})\b"
DATE_ORDERS = {"day-first": (1, 0), "month-first": (0, 1)}  # (field of the month, field of the day)


def numeric_dates_as_iso(dates: pd.Series, where: str, date_order: str = "") -> pd.Series:
    """Dates written as d/m/Y or m/d/Y rewritten as ISO, read the one way the file allows.

    The order is detected from the file: a first number above 12 means day-first, a second one above 12
    month-first. A file with both is refused; a file where every number is <= 12 is refused unless
    `date_order` ("day-first" or "month-first") says how to read it. Other layouts are left as found."""
    if date_order and date_order not in DATE_ORDERS:
        raise ValueError(f"FINPULSE_PRICE_DATE_ORDER={date_order!r}: expected one of {sorted(DATE_ORDERS)}")
    parts = dates.astype("string").str.extract(_NUMERIC_DATE)
    numeric = parts[0].notna()
    if not numeric.any():
        return dates
    first, second = parts.loc[numeric, 0].astype(int), parts.loc[numeric, 1].astype(int)
    day_first, month_first = first > 12, second > 12
    if day_first.any() and month_first.any():
        a, b = dates[numeric][day_first].iloc[0], dates[numeric][month_first].iloc[0]
        raise SourceFileError(where, f"the Date column mixes day-first ({a!r}) and month-first ({b!r}) dates",
                              column="Date", expected="one date layout in the whole file (ISO YYYY-MM-DD is best)")
    detected = "day-first" if day_first.any() else "month-first" if month_first.any() else ""
    if detected and date_order and detected != date_order:
        example = dates[numeric][day_first if day_first.any() else month_first].iloc[0]
        raise SourceFileError(where, f"FINPULSE_PRICE_DATE_ORDER={date_order} but the file's dates are {detected} "
                                     f"({example!r})", column="Date")
    order = detected or date_order
    if not order:
        raise SourceFileError(where, f"the Date column ({dates[numeric].iloc[0]!r}, ...) can be read day-first or "
                                     "month-first: every day and month in the file is 12 or less",
                              column="Date",
                              expected="FINPULSE_PRICE_DATE_ORDER=day-first or FINPULSE_PRICE_DATE_ORDER=month-first "
                                       "to say which, or ISO dates (YYYY-MM-DD)")
    month, day = DATE_ORDERS[order]
    iso = parts.loc[numeric, 2] + "-" + parts.loc[numeric, month].str.zfill(2) + "-" + \
        parts.loc[numeric, day].str.zfill(2)
    out = dates.astype(object).copy()
    out[numeric] = iso.astype(object)
    return out


def prices_between(frame: pd.DataFrame, days: pd.Series, ticker: str, lo: pd.Timestamp, hi: pd.Timestamp):
    """A file's rows (from read_price_file) with lo <= day <= hi, plus those whose Date does not parse."""
    keep = days.isna() | ((days >= lo) & (days <= hi))
    return frame[keep.to_numpy()].assign(ticker=ticker)[RAW_PRICE_COLUMNS]


def concat_prices(parts: list[pd.DataFrame]) -> pd.DataFrame:
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in RAW_PRICE_COLUMNS})
    return pd.concat(parts, ignore_index=True)
