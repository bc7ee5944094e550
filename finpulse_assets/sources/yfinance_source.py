"""Live daily prices from Yahoo Finance through the `yfinance` package (1.x).

yf.download catches every per-ticker exception, rate limits included, logs it on
the 'yfinance' logger and hands back NaN columns for that ticker. `_download`
therefore listens to that logger and turns a logged YFRateLimitError or network
error ("Could not resolve host", a timeout, a refused connection) back into an
exception, so `load_prices` can back off and retry a bounded number of times and
then say what happened; only a ticker that Yahoo answered for with no rows is
reported as unknown. Every request has a timeout (`timeout_seconds`), and each
attempt a deadline: yfinance's cookie and crumb requests use a fixed 30 s timeout
of their own, so behind a proxy that never answers an attempt could take minutes.
An attempt past its deadline is a network error at once (not retried: a network
that stays silent for the deadline does not answer the next attempt either).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Sequence
from datetime import date, timedelta

import pandas as pd
import yfinance as yf
from yfinance.exceptions import YFRateLimitError

from finpulse_assets.sources.base import RAW_PRICE_COLUMNS, PriceSource, SourceFileError

# yfinance's price fields -> raw columns. 'Adj Close' exists only with auto_adjust=False.
YF_FIELDS = {"Open": "open", "High": "high", "Low": "low", "Close": "close", "Adj Close": "adj_close",
             "Volume": "volume"}

# Module level so tests can replace it instead of waiting.
_sleep = time.sleep

# What curl_cffi / requests say when Yahoo cannot be reached (curl codes 5, 6, 7, 28, 35, 52, 56).
NETWORK_ERROR = re.compile(r"could not resolve|failed to connect|connection (refused|reset|aborted)|timed? ?out|"
                           r"DNSError|ProxyError|SSLError|ConnectionError|curl: \((5|6|7|28|35|52|56)\)|"
                           r"network is unreachable|name or service not known", re.IGNORECASE)


class YFinanceRateLimitError(RuntimeError):
    """Yahoo kept rate-limiting the download after every retry."""


class YFinanceNetworkError(ConnectionError):
    """Yahoo Finance could not be reached (DNS, connection, timeout), after every retry."""


class _NetworkFailure(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class YFinancePriceSource(PriceSource):
    """Daily bars for `tickers` downloaded live from Yahoo Finance."""

    tickers: list[str]
    max_retries: int = 4  # retries after a rate limit
    network_retries: int = 2  # retries after a network error (DNS, connection, timeout)
    backoff_seconds: float = 2.0  # the k-th rate-limit retry waits backoff_seconds * 2**k
    network_backoff_seconds: float = 0.5  # the k-th network retry waits network_backoff_seconds * 2**k
    timeout_seconds: float = 5.0  # per HTTP request
    attempt_seconds_per_ticker: float = 5.0  # an attempt's deadline: this x (tickers + 1)
    auto_adjust: bool = False  # False keeps both Close and Adj Close
    actions: bool = False

    def load_prices(self, tickers: Sequence[str], start: date, end: date) -> pd.DataFrame:
        """Bars with start <= date <= end; SourceFileError naming any ticker Yahoo has no rows for."""
        tickers = list(dict.fromkeys(tickers))
        if not tickers:
            return pd.DataFrame({c: pd.Series(dtype=object) for c in RAW_PRICE_COLUMNS})
        start, end = pd.Timestamp(start).date(), pd.Timestamp(end).date()
        frame = self._download_with_retries(tickers, start, end)
        return _long_format(frame, tickers, start, end, self.auto_adjust)

    def available_tickers(self) -> list[str]:
        return list(self.tickers)

    def location(self, tickers: Sequence[str]) -> str:
        return "Yahoo Finance (yfinance) " + ", ".join(tickers)

    def _download_with_retries(self, tickers: list[str], start: date, end: date) -> pd.DataFrame | None:
        attempt = 0
        while True:
            try:
                return self._download_within_deadline(tickers, start, end)
            except YFRateLimitError as exc:
                if attempt >= self.max_retries:
                    raise YFinanceRateLimitError(
                        f"Yahoo Finance rate-limited the download of {', '.join(tickers)} "
                        f"({start} to {end}) on all {attempt + 1} attempts; try again later "
                        "or raise max_retries/backoff_seconds") from exc
            except _NetworkFailure as exc:
                if attempt >= self.network_retries:
                    raise YFinanceNetworkError(
                        f"network error: Yahoo Finance could not be reached for {', '.join(tickers)} "
                        f"({start} to {end}) on all {attempt + 1} attempts "
                        f"(timeout {self.timeout_seconds:g} s each): {exc.message}") from None
                _sleep(self.network_backoff_seconds * 2**attempt)
                attempt += 1
                continue
            _sleep(self.backoff_seconds * 2**attempt)
            attempt += 1

    def _download_within_deadline(self, tickers: list[str], start: date, end: date) -> pd.DataFrame | None:
        """`_download` in a worker thread, given up (left to finish on its own) after the attempt's deadline."""
        deadline = self.attempt_seconds_per_ticker * (len(tickers) + 1)
        outcome: dict = {}

        def work():
            try:
                outcome["frame"] = self._download(tickers, start, end)
            except BaseException as exc:  # handed to the caller's thread below
                outcome["error"] = exc

        worker = threading.Thread(target=work, name="yfinance-download", daemon=True)
        worker.start()
        worker.join(deadline)
        if worker.is_alive():
            raise YFinanceNetworkError(
                f"network error: Yahoo Finance did not answer for {', '.join(tickers)} ({start} to {end}) within "
                f"{deadline:g} s (a silent network or proxy?); raise attempt_seconds_per_ticker if it is just slow")
        if "error" in outcome:
            raise outcome["error"]
        return outcome.get("frame")

    def _download(self, tickers: list[str], start: date, end: date) -> pd.DataFrame | None:
        """One yf.download call; raises YFRateLimitError if yfinance logged one for any ticker."""
        errors = _ErrorRecords()
        logger = logging.getLogger("yfinance")
        logger.addHandler(errors)
        try:
            frame = yf.download(
                tickers=tickers,
                start=start.isoformat(),
                end=(end + timedelta(days=1)).isoformat(),  # yfinance's end is exclusive
                interval="1d",
                auto_adjust=self.auto_adjust,
                actions=self.actions,
                group_by="column",
                progress=False,
                threads=False,
                multi_level_index=True,
                timeout=self.timeout_seconds,
            )
        finally:
            logger.removeHandler(errors)
        if any("YFRateLimitError" in message for message in errors.messages):
            raise YFRateLimitError()
        network = [m.strip() for m in errors.messages if NETWORK_ERROR.search(m)]
        if network:
            raise _NetworkFailure(network[0])
        return frame


class _ErrorRecords(logging.Handler):
    """Collects the ERROR messages yfinance logs instead of raising."""

    def __init__(self):
        super().__init__(level=logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _long_format(frame: pd.DataFrame | None, tickers: list[str], start: date, end: date,
                 auto_adjust: bool) -> pd.DataFrame:
    """yf.download's (Price, Ticker) columns over a Date index -> one RAW_PRICE_COLUMNS row per ticker and day."""
    parts = []
    for ticker in tickers:
        symbol = ticker.upper()  # yfinance upper-cases the symbols it labels columns with
        found = (frame is not None and isinstance(frame.columns, pd.MultiIndex)
                 and symbol in frame.columns.get_level_values(1))
        bars = frame.xs(symbol, axis=1, level=1) if found else pd.DataFrame()
        if auto_adjust and "Adj Close" not in bars.columns and "Close" in bars.columns:
            bars = bars.assign(**{"Adj Close": bars["Close"]})  # auto-adjusted Close is the adjusted close
        present = [c for c in YF_FIELDS if c in bars.columns]
        bars = bars[present].dropna(how="all")  # all-NaN rows only pad this ticker to other tickers' days
        if bars.empty:
            raise SourceFileError(f"yfinance:{ticker}", f"Yahoo Finance returned no prices for ticker {ticker!r} "
                                  f"from {start} to {end}: unknown or delisted symbol, or no trading day in the "
                                  "range (the 'yfinance' log says which)")
        for column in YF_FIELDS:
            if column not in present:
                raise SourceFileError(f"yfinance:{ticker}", "missing price field", column=column,
                                      expected="fields " + ", ".join(YF_FIELDS))
        index = pd.DatetimeIndex(bars.index)
        # The exchange-local calendar day; converting to UTC first would shift Asian listings back a day.
        days = (index.tz_localize(None) if index.tz is not None else index).normalize()
        keep = (days >= pd.Timestamp(start)) & (days <= pd.Timestamp(end))
        out = bars[keep].rename(columns=YF_FIELDS)
        out.insert(0, "date", days[keep].strftime("%Y-%m-%d"))
        out.insert(0, "ticker", ticker)
        parts.append(out[RAW_PRICE_COLUMNS])
    return pd.concat(parts, ignore_index=True)
