"""The live Yahoo price source (sources.yfinance_source) against fakes shaped like yfinance 1.x output, offline."""

from datetime import date

import numpy as np
import pandas as pd
import pytest
import yfinance
import yfinance.multi
from yfinance.exceptions import YFRateLimitError

from finpulse_assets.sources.cleaning import clean_prices
from finpulse_assets.sources import yfinance_source
from finpulse_assets.sources.base import RAW_PRICE_COLUMNS, SourceFileError
from finpulse_assets.sources.yfinance_source import YFinancePriceSource, YFinanceRateLimitError

DAYS = ["2024-01-02", "2024-01-03", "2024-01-04"]


def history(days, base, tz=None, adj=True):
    """One ticker's frame as Ticker.history(auto_adjust=False) returns it."""
    n = len(days)
    close = base + np.arange(n, dtype=float)
    frame = pd.DataFrame({"Open": close - 0.5, "High": close + 1, "Low": close - 1, "Close": close,
                          "Adj Close": close * 0.98, "Volume": np.arange(n, dtype="int64") * 1000 + 10_000},
                         index=pd.DatetimeIndex(pd.to_datetime(days), name="Date"))
    if tz:
        frame.index = frame.index.tz_localize(tz)
    return frame if adj else frame.drop(columns="Adj Close")


def yf_frame(per_ticker):
    """What yf.download(group_by='column', multi_level_index=True) builds (yfinance/multi.py)."""
    index = None
    for df in per_ticker.values():
        if not df.empty:
            index = df.index if index is None else index.union(df.index)
    index = pd.DatetimeIndex([], name="Date") if index is None else index
    dfs = {t: df.reindex(index) for t, df in per_ticker.items()}
    data = pd.concat(dfs.values(), axis=1, sort=True, keys=dfs.keys(), names=["Ticker", "Price"])
    data.columns = data.columns.swaplevel(0, 1)
    data.sort_index(level=0, axis=1, inplace=True)
    return data


def empty_history():
    return pd.DataFrame({c: pd.Series(dtype=float) for c in ["Open", "High", "Low", "Close", "Adj Close", "Volume"]},
                        index=pd.DatetimeIndex([], name="Date"))


@pytest.fixture
def sleeps(monkeypatch):
    recorded = []
    monkeypatch.setattr(yfinance_source, "_sleep", recorded.append)
    return recorded


def fake_download(monkeypatch, *results):
    """Replace the seam: each call returns (or raises) the next result; returns the list of calls."""
    calls = []
    queue = list(results)

    def _download(self, tickers, start, end):
        calls.append((list(tickers), start, end))
        result = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(result, BaseException):
            raise result
        return result

    monkeypatch.setattr(YFinancePriceSource, "_download", _download)
    return calls


def source(**kw):
    return YFinancePriceSource(tickers=["AAPL", "MSFT"], **kw)


def test_multi_ticker_frame_becomes_long_raw_rows(monkeypatch, sleeps):
    frame = yf_frame({"AAPL": history(DAYS, 180.0), "MSFT": history(DAYS[1:], 370.0)})
    assert frame.columns.names == ["Price", "Ticker"] and frame.columns[0] == ("Adj Close", "AAPL")
    fake_download(monkeypatch, frame)
    out = source().load_prices(["AAPL", "MSFT"], date(2024, 1, 2), date(2024, 1, 4))
    assert list(out.columns) == RAW_PRICE_COLUMNS
    # MSFT's NaN padding row for 2024-01-02 (another ticker's day) is dropped, not handed to cleaning.
    assert list(zip(out["ticker"], out["date"])) == [("AAPL", d) for d in DAYS] + [("MSFT", d) for d in DAYS[1:]]
    aapl = out.iloc[0]
    assert aapl[["open", "high", "low", "close", "volume"]].tolist() == [179.5, 181.0, 179.0, 180.0, 10000]
    assert aapl["adj_close"] == pytest.approx(176.4)
    clean, rejects = clean_prices(out)
    assert len(clean) == 5 and rejects.empty
    assert sleeps == []


def test_single_ticker_with_tz_aware_index_keeps_the_exchange_day(monkeypatch):
    # 2024-01-02 00:00 in Tokyo is still 2024-01-01 in UTC: the exchange's day must win.
    frame = yf_frame({"7203.T": history(DAYS, 2500.0, tz="Asia/Tokyo")})
    fake_download(monkeypatch, frame)
    out = YFinancePriceSource(tickers=["7203.T"]).load_prices(["7203.T"], date(2024, 1, 2), date(2024, 1, 3))
    assert list(out["date"]) == DAYS[:2]
    assert set(out["ticker"]) == {"7203.T"}


def test_download_is_called_with_explicit_arguments_and_an_exclusive_end(monkeypatch):
    seen = {}

    def download(**kwargs):
        seen.update(kwargs)
        return yf_frame({"AAPL": history(DAYS, 180.0)})

    monkeypatch.setattr(yfinance_source.yf, "download", download)
    source(actions=True).load_prices(["AAPL"], date(2024, 1, 2), date(2024, 1, 4))
    assert seen == {"tickers": ["AAPL"], "start": "2024-01-02", "end": "2024-01-05", "interval": "1d",
                    "auto_adjust": False, "actions": True, "group_by": "column", "progress": False,
                    "threads": False, "multi_level_index": True, "timeout": 5.0}


def test_rate_limit_then_success_backs_off_exponentially(monkeypatch, sleeps):
    frame = yf_frame({"AAPL": history(DAYS, 1.0)})
    calls = fake_download(monkeypatch, YFRateLimitError(), YFRateLimitError(), frame)
    out = source(backoff_seconds=0.5).load_prices(["AAPL"], date(2024, 1, 2), date(2024, 1, 4))
    assert len(out) == 3
    assert len(calls) == 3
    assert sleeps == [0.5, 1.0]


def test_permanent_rate_limit_raises_a_clear_error(monkeypatch, sleeps):
    calls = fake_download(monkeypatch, YFRateLimitError())
    with pytest.raises(YFinanceRateLimitError, match=r"rate-limited .*AAPL, MSFT.* all 3 attempts") as err:
        source(max_retries=2).load_prices(["AAPL", "MSFT"], date(2024, 1, 2), date(2024, 1, 4))
    assert isinstance(err.value.__cause__, YFRateLimitError)
    assert len(calls) == 3
    assert sleeps == [2.0, 4.0]


def test_unknown_ticker_with_nan_columns_is_named(monkeypatch):
    # yfinance pads a ticker it found nothing for with NaN columns over the other tickers' days.
    fake_download(monkeypatch, yf_frame({"AAPL": history(DAYS, 180.0), "ZZZZ": empty_history()}))
    with pytest.raises(SourceFileError, match="'ZZZZ'") as err:
        source().load_prices(["AAPL", "ZZZZ"], date(2024, 1, 2), date(2024, 1, 4))
    assert err.value.path == "yfinance:ZZZZ"


def test_unknown_ticker_empty_frame_is_named(monkeypatch):
    fake_download(monkeypatch, yf_frame({"ZZZZ": empty_history()}))
    with pytest.raises(SourceFileError, match=r"yfinance:ZZZZ: .*no prices for ticker 'ZZZZ'"):
        source().load_prices(["ZZZZ"], date(2024, 1, 2), date(2024, 1, 4))


def test_auto_adjust_uses_the_adjusted_close_for_both(monkeypatch):
    fake_download(monkeypatch, yf_frame({"AAPL": history(DAYS, 180.0, adj=False)}))
    out = source(auto_adjust=True).load_prices(["AAPL"], date(2024, 1, 2), date(2024, 1, 4))
    assert list(out["adj_close"]) == list(out["close"]) == [180.0, 181.0, 182.0]


class FakeTicker:
    """Stands in for yfinance.Ticker inside the real yf.download: no network, scripted history()."""

    script: dict = {}

    def __init__(self, ticker):
        self.ticker = ticker
        self._price_history = None

    def history(self, **kwargs):
        result = self.script[self.ticker].pop(0)
        if isinstance(result, BaseException):
            raise result
        return result.copy()


def test_real_yf_download_rate_limit_is_logged_not_raised_and_still_retried(monkeypatch, sleeps):
    # yfinance 1.x swallows per-ticker exceptions; the source must see the logged rate limit anyway.
    monkeypatch.setattr(yfinance.multi, "Ticker", FakeTicker)
    monkeypatch.setattr(FakeTicker, "script", {
        "AAPL": [YFRateLimitError(), history(DAYS, 180.0)],
        "MSFT": [history(DAYS, 370.0), history(DAYS, 370.0)],
    })
    out = source().load_prices(["AAPL", "MSFT"], date(2024, 1, 2), date(2024, 1, 4))
    assert sleeps == [2.0]
    assert list(zip(out["ticker"], out["date"])) == [(t, d) for t in ("AAPL", "MSFT") for d in DAYS]
    assert out.loc[out["ticker"] == "MSFT", "close"].tolist() == [370.0, 371.0, 372.0]


def test_real_yf_download_unknown_ticker_is_named(monkeypatch, sleeps):
    monkeypatch.setattr(yfinance.multi, "Ticker", FakeTicker)
    monkeypatch.setattr(FakeTicker, "script", {"AAPL": [history(DAYS, 180.0)], "ZZZZ": [empty_history()]})
    with pytest.raises(SourceFileError, match="yfinance:ZZZZ"):
        source().load_prices(["AAPL", "ZZZZ"], date(2024, 1, 2), date(2024, 1, 4))
    assert sleeps == []


def test_no_network_is_a_network_error_quickly_after_bounded_retries(monkeypatch, sleeps):
    """yf.download itself, offline: the DNS failure it logs becomes the error, not 'unknown symbol'."""
    import logging
    import time

    def download(**kwargs):
        logging.getLogger("yfinance").error(
            "Failed to get ticker 'AAPL' reason: Failed to perform, curl: (6) Could not resolve host: "
            "query2.finance.yahoo.com.")
        return pd.DataFrame()

    monkeypatch.setattr(yfinance_source.yf, "download", download)
    started = time.perf_counter()
    with pytest.raises(yfinance_source.YFinanceNetworkError, match="Could not resolve host") as err:
        source().load_prices(["AAPL"], date(2024, 1, 2), date(2024, 1, 4))
    assert "network error" in str(err.value) and "3 attempts" in str(err.value)
    assert sleeps == [0.5, 1.0]  # two retries with backoff, then the error
    assert time.perf_counter() - started < 2


def test_a_silent_network_is_a_network_error_at_the_attempt_deadline(monkeypatch, sleeps):
    import threading
    import time

    release = threading.Event()

    def download(**kwargs):  # a proxy that accepts and never answers
        release.wait(30)
        return pd.DataFrame()

    monkeypatch.setattr(yfinance_source.yf, "download", download)
    started = time.perf_counter()
    with pytest.raises(yfinance_source.YFinanceNetworkError, match=r"did not answer .* within 0.4 s"):
        source(attempt_seconds_per_ticker=0.2).load_prices(["AAPL"], date(2024, 1, 2), date(2024, 1, 4))
    assert time.perf_counter() - started < 2 and sleeps == []
    release.set()
