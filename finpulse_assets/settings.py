"""Deployment settings, read from FINPULSE_* environment variables.

The defaults are the embedded, offline demo: generated data, a project-local
storage folder. Point the sources at real files by setting, for example:

    FINPULSE_TWEET_SOURCE=kaggle_csv FINPULSE_TWEETS_DIR=../shared/data/stocknet-dev/tweets
    FINPULSE_PRICE_SOURCE=yahoo_csv  FINPULSE_PRICES_DIR=../shared/data/stocknet-dev/prices
    FINPULSE_TICKERS=AAPL,AMZN,FB,GOOG,INTC,MSFT FINPULSE_START=2014-01-01 FINPULSE_END=2016-01-01

New drops landing in object storage: `FINPULSE_TWEET_SOURCE=s3_landing FINPULSE_PRICE_SOURCE=s3_landing`
with FINPULSE_S3_BUCKET set (see object_storage.py; new_data_sensor then watches the landing prefix).

`FINPULSE_DATA=<dir>` is a shorthand for a folder laid out as `tweets/` + `prices/`.
With the demo sources, `FINPULSE_TICKERS=87` means a synthetic universe of 87 tickers
(`sources/universe.py`); so does it with `FINPULSE_DATA=<dir>` written by `sources/universe_files.py` (the
S&P-500-sized universe at ~200 tweets per ticker-day, as CSV files).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from finpulse_assets.sources.universe import parse_tickers

PROJECT_ROOT = Path(__file__).resolve().parent.parent

DEMO_TICKERS = ("AAPL", "MSFT", "TSLA")
# One year keeps `make demo` within minutes: Dagster records each ticker x day
# partition of each asset as its own event (tens of ms apiece on SQLite).
DEMO_START = "2024-01-01"
DEMO_END = "2025-01-01"


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


def _holds_universe(data: str, tickers: int) -> bool:
    # Imported here only: the module imports the file sources, which settings alone does not need.
    from finpulse_assets.sources.universe_files import holds_universe

    return holds_universe(data, tickers)


def _env_date(name: str, value: str) -> date:
    """A YYYY-MM-DD date from variable `name`, or a ValueError naming the variable."""
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError as exc:
        raise ValueError(f"{name}={value!r} is not a date: {exc} (expected YYYY-MM-DD, e.g. 2024-01-01)") from None


@dataclass(frozen=True)
class Settings:
    tweet_source: str = "demo"
    price_source: str = "demo"
    tweets_dir: str = ""
    prices_dir: str = ""
    tickers: tuple[str, ...] = DEMO_TICKERS
    start: str = DEMO_START  # first day partition (inclusive)
    end: str = DEMO_END  # last day partition is the day before (exclusive)
    storage_dir: str = str(PROJECT_ROOT / "storage")
    demo_seed: int = 7
    price_date_order: str = ""  # FINPULSE_PRICE_DATE_ORDER: how to read a price file whose d/m/Y dates do not tell

    @classmethod
    def from_env(cls) -> "Settings":
        data = os.environ.get("FINPULSE_DATA", "").strip()
        tweets_default = str(Path(data) / "tweets") if data else ""
        prices_default = str(Path(data) / "prices") if data else ""
        tickers = _env("FINPULSE_TICKERS", ",".join(DEMO_TICKERS))
        tweet_source = _env("FINPULSE_TWEET_SOURCE", "kaggle_csv" if data else "demo")
        price_source = _env("FINPULSE_PRICE_SOURCE", "yahoo_csv" if data else "demo")
        if tickers.isdigit() and (tweet_source, price_source) != ("demo", "demo") and not (
                data and _holds_universe(data, int(tickers))):
            raise ValueError(f"FINPULSE_TICKERS={tickers} generates synthetic tickers, which only the demo "
                             f"sources and a universe written by sources/universe_files.py (FINPULSE_DATA) have; "
                             f"list the tickers of your data instead (e.g. FINPULSE_TICKERS=AAPL,MSFT)")
        start, end = _env("FINPULSE_START", DEMO_START), _env("FINPULSE_END", DEMO_END)
        first, stop = _env_date("FINPULSE_START", start), _env_date("FINPULSE_END", end)
        if stop <= first:
            raise ValueError(f"FINPULSE_END={end} is not after FINPULSE_START={start}: the range [start, end) holds "
                             "no day (FINPULSE_END is exclusive: the day after the last one to load)")
        return cls(
            tweet_source=tweet_source,
            price_source=price_source,
            tweets_dir=_env("FINPULSE_TWEETS_DIR", tweets_default),
            prices_dir=_env("FINPULSE_PRICES_DIR", prices_default),
            tickers=parse_tickers(tickers),
            start=start,
            end=end,
            storage_dir=_env("FINPULSE_STORAGE_DIR", str(PROJECT_ROOT / "storage")),
            demo_seed=int(_env("FINPULSE_DEMO_SEED", "7")),
            price_date_order=_env("FINPULSE_PRICE_DATE_ORDER", ""),
        )
