"""Reading what the Delta IO manager stored, for tests."""

from datetime import date
from pathlib import Path

import pandas as pd

from finpulse_assets.partitions import TickerDay
from finpulse_assets.storage.ticker_day_table import RANGES_KEY, TickerDayTable


def stored_partition(base_dir: Path, asset: str, ticker: str, day: date | str) -> pd.DataFrame:
    return TickerDayTable(str(base_dir / asset)).read([TickerDay(ticker, pd.Timestamp(day).date())])[0]


def stored_ticker(base_dir: Path, asset: str, ticker: str) -> pd.DataFrame:
    table = TickerDayTable(str(base_dir / asset)).open()
    return table.to_pandas(filters=[("ticker", "=", ticker)]).sort_values("day", kind="stable").reset_index(drop=True)


def last_commit_partitions(base_dir: Path, asset: str) -> str:
    """The partitions the table's last commit replaced, e.g. 'AAA:2024-01-01..2024-03-31'."""
    return TickerDayTable(str(base_dir / asset)).last_commit()[RANGES_KEY]


def stored_table(base_dir: Path, asset: str) -> pd.DataFrame:
    """Every stored partition of an asset as one frame (ticker and day as columns)."""
    return TickerDayTable(str(base_dir / asset)).open().to_pandas().sort_values(["ticker", "day"], kind="stable") \
        .reset_index(drop=True)
