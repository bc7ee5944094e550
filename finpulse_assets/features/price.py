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


def _rsi(close: pd.Series, window: int) -> pd.Series:
    # Simple-average RSI: a fixed window, unlike Wilder's smoothing, which
    # would depend on the whole loaded history.
    delta = close.diff()
    gain = delta.clip(lower=0).rolling(window, min_periods=window).mean()
    loss = (-delta.clip(upper=0)).rolling(window, min_periods=window).mean()
    rs = gain / loss
    rsi = 100 - 100 / (1 + rs)
    return rsi.where(loss > 0, 100.0).where(gain.notna())


def price_features(bars: pd.DataFrame) -> pd.DataFrame:
    """Features (and targets) for every bar of ONE ticker.

    `bars`: date, open, high, low, close, adj_close, volume; any order.
    Rows with fewer than MIN_HISTORY_BARS earlier bars get `history_complete=False`.
    """
    b = bars.sort_values("date").reset_index(drop=True)
    adj = b["adj_close"].astype(float)
    log_ret = np.log(adj).diff()
    out = pd.DataFrame({"date": pd.to_datetime(b["date"])})
    if "ticker" in b:
        out.insert(0, "ticker", b["ticker"].to_numpy())
    out["close"] = b["close"].astype(float)
    out["adj_close"] = adj
    out["ret_1d"] = adj.pct_change()
    out["log_ret_1d"] = log_ret
    out["ret_5d"] = adj.pct_change(5)
    out["ret_10d"] = adj.pct_change(10)
    for w in (5, 10, 20):
        out[f"ma_ratio_{w}"] = adj / adj.rolling(w, min_periods=w).mean() - 1
    for w in (10, 20):
        out[f"vol_{w}"] = log_ret.rolling(w, min_periods=w).std() * np.sqrt(252)
    out["rsi_14"] = _rsi(adj, 14)
    log_vol = np.log1p(b["volume"].astype(float))
    mean, std = log_vol.rolling(20, min_periods=20).mean(), log_vol.rolling(20, min_periods=20).std()
    out["volume_z_20"] = ((log_vol - mean) / std.where(std > 0)).fillna(0.0).where(mean.notna())
    out["hl_range"] = (b["high"] - b["low"]) / b["close"]
    out["oc_return"] = b["close"] / b["open"] - 1
    out["gap"] = b["open"] / b["close"].shift(1) - 1
    out["history_complete"] = np.arange(len(b)) >= MIN_HISTORY_BARS - 1

    # Targets: the next bar. The only place that reads t+1.
    out["target_date"] = out["date"].shift(-1)
    out["target_close"] = out["close"].shift(-1)
    out["target_adj_close"] = adj.shift(-1)
    out["target_return"] = adj.shift(-1) / adj - 1
    out["target_log_return"] = np.log(adj.shift(-1)) - np.log(adj)
    return out


def features_by_ticker(bars: pd.DataFrame) -> pd.DataFrame:
    """price_features for a frame holding several tickers."""
    if bars.empty:
        return price_features(bars.assign(date=pd.Series(dtype="datetime64[ns]")))
    parts = [price_features(g) for _, g in bars.groupby("ticker", sort=True)]
    return pd.concat(parts, ignore_index=True)
