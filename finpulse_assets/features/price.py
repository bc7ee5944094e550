"""Price features for trading day t, from bars up to and including t.

Pure pandas/numpy so the serving image computes exactly what the assets
compute. Every feature uses a fixed trailing window of trading days (no
expanding or exponential statistics), so a feature of t does not depend on
how much earlier history happened to be loaded, and never on anything after t.
Next-day targets are in separate `target_*` columns and are the only columns
that read day t+1.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# Longest trailing window below, plus one bar for the first return.
MIN_HISTORY_BARS = 21
# Calendar days of raw_prices partitions loaded before t: covers MIN_HISTORY_BARS
# trading days across any run of holidays.
LOOKBACK_CALENDAR_DAYS = 40
# Calendar days after t that can hold the next trading day (long weekends, closures).
LOOKAHEAD_CALENDAR_DAYS = 7

FEATURE_COLUMNS = [
    "ret_1d", "log_ret_1d", "ret_5d", "ret_10d",
    "ma_ratio_5", "ma_ratio_10", "ma_ratio_20",
    "vol_10", "vol_20", "rsi_14", "volume_z_20",
    "hl_range", "oc_return", "gap",
]
TARGET_COLUMNS = ["target_date", "target_close", "target_adj_close", "target_return", "target_log_return"]


def _rsi(close: pd.Series, key: pd.Series, window: int) -> pd.Series:
    # Simple-average RSI: a fixed window, unlike Wilder's smoothing, which
    # would depend on the whole loaded history.
    delta = close.groupby(key, sort=False).diff()
    gain = _rolling(delta.clip(lower=0), key, window).mean()
    loss = _rolling(-delta.clip(upper=0), key, window).mean()
    rs = gain / loss
    rsi = 100 - 100 / (1 + rs)
    return rsi.where(loss > 0, 100.0).where(gain.notna())


def _rolling(values: pd.Series, key: pd.Series, window: int):
    return values.groupby(key, sort=False).rolling(window, min_periods=window)


def _ungrouped(result: pd.Series) -> pd.Series:
    """A groupby-rolling result back on the frame's own index."""
    return result.droplevel(0).sort_index()


def _features(b: pd.DataFrame, key: pd.Series) -> pd.DataFrame:
    """Features and targets of bars `b` sorted by (key, date) on a RangeIndex; every window stays within its key.

    Grouped rolling restarts its sums at each key, so a key's values are exactly
    those of computing it alone: one pass serves a whole backfill or a batch of requests.
    """
    grouped = lambda series: series.groupby(key, sort=False)  # noqa: E731
    adj = b["adj_close"].astype(float)
    log_ret = grouped(np.log(adj)).diff()
    out = pd.DataFrame({"date": pd.to_datetime(b["date"])})
    if "ticker" in b:
        out.insert(0, "ticker", b["ticker"].to_numpy())
    out["close"] = b["close"].astype(float)
    out["adj_close"] = adj
    out["ret_1d"] = grouped(adj).pct_change()
    out["log_ret_1d"] = log_ret
    out["ret_5d"] = grouped(adj).pct_change(5)
    out["ret_10d"] = grouped(adj).pct_change(10)
    for w in (5, 10, 20):
        out[f"ma_ratio_{w}"] = adj / _ungrouped(_rolling(adj, key, w).mean()) - 1
    for w in (10, 20):
        out[f"vol_{w}"] = _ungrouped(_rolling(log_ret, key, w).std()) * np.sqrt(252)
    out["rsi_14"] = _ungrouped(_rsi(adj, key, 14))
    log_vol = np.log1p(b["volume"].astype(float))
    mean = _ungrouped(_rolling(log_vol, key, 20).mean())
    std = _ungrouped(_rolling(log_vol, key, 20).std())
    out["volume_z_20"] = ((log_vol - mean) / std.where(std > 0)).fillna(0.0).where(mean.notna())
    out["hl_range"] = (b["high"] - b["low"]) / b["close"]
    out["oc_return"] = b["close"] / b["open"] - 1
    out["gap"] = b["open"] / grouped(b["close"]).shift(1) - 1
    out["history_complete"] = grouped(b["date"]).cumcount().to_numpy() >= MIN_HISTORY_BARS - 1

    # Targets: the next bar. The only place that reads t+1.
    out["target_date"] = grouped(out["date"]).shift(-1)
    out["target_close"] = grouped(out["close"]).shift(-1)
    out["target_adj_close"] = grouped(adj).shift(-1)
    next_adj = grouped(adj).shift(-1)
    out["target_return"] = next_adj / adj - 1
    out["target_log_return"] = np.log(next_adj) - np.log(adj)
    return out


def price_features(bars: pd.DataFrame) -> pd.DataFrame:
    """Features (and targets) for every bar of ONE ticker.

    `bars`: date, open, high, low, close, adj_close, volume; any order.
    Rows with fewer than MIN_HISTORY_BARS earlier bars get `history_complete=False`.
    """
    b = bars.sort_values("date").reset_index(drop=True)
    return _features(b, pd.Series(np.zeros(len(b), dtype=np.int8)))


def features_by_ticker(bars: pd.DataFrame) -> pd.DataFrame:
    """price_features for a frame holding several tickers: one grouped pass, rows sorted by (ticker, date)."""
    if bars.empty:
        return price_features(bars.assign(date=pd.Series(dtype="datetime64[ns]")))
    b = bars.sort_values(["ticker", "date"], kind="stable").reset_index(drop=True)
    return _features(b, b["ticker"])
