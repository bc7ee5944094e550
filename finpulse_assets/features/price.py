"""Price features for trading day t, from bars up to and including t.

Pure numpy/pandas so the serving image computes exactly what the assets
compute. Every feature uses a fixed trailing window of trading days (no
expanding or exponential statistics), so a feature of t does not depend on
how much earlier history happened to be loaded, and never on anything after t.
Next-day targets are in separate `target_*` columns and are the only columns
that read day t+1.

A missing bar (an NYSE trading day between two bars with no bar of its own)
never goes unsaid: `missing_bars` counts the trading days missing inside t's
trailing window, `history_complete` is False while it is above 0 (training and
serving drop those rows), and the targets of t are NaN when the next bar is not
the next trading day. Extra bars on closed days are not gaps.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from finpulse_assets.features import grouped
from finpulse_assets.features.keys import as_datetime, is_key_sorted
from finpulse_assets.features.market_calendar import trading_days

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


def _rsi(adj: np.ndarray, pos: np.ndarray, window: int) -> np.ndarray:
    # Simple-average RSI: a fixed window, unlike Wilder's smoothing, which
    # would depend on the whole loaded history.
    delta = grouped.diff(adj, pos)
    gain = grouped.Trailing(np.maximum(delta, 0.0), pos, window).mean()
    loss = grouped.Trailing(-np.minimum(delta, 0.0), pos, window).mean()
    with np.errstate(divide="ignore", invalid="ignore"):
        rsi = 100 - 100 / (1 + gain / loss)
    # No loss in the window: RSI is 100 (also when there was no gain either).
    return np.where(np.isnan(gain), np.nan, np.where(loss > 0, rsi, 100.0))


def _volume_z(volume: np.ndarray, pos: np.ndarray, window: int) -> np.ndarray:
    log_vol = np.log1p(volume)
    trailing = grouped.Trailing(log_vol, pos, window)
    mean, std = trailing.mean(), trailing.std()
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (log_vol - mean) / np.where(std > 0, std, np.nan)
    # A window of equal volumes has no spread: z is 0 there; NaN only without a full window.
    return np.where(np.isnan(mean), np.nan, np.nan_to_num(z, nan=0.0, posinf=np.inf, neginf=-np.inf))


def _missing_before(date: pd.Series, pos: np.ndarray) -> np.ndarray:
    """NYSE trading days strictly between each bar and the previous bar of its key (0 for a key's first bar)."""
    if not len(date):
        return np.zeros(0)
    days = date.to_numpy(dtype="datetime64[ns]")
    open_days = trading_days(pd.Timestamp(days.min()).date(), pd.Timestamp(days.max()).date()).to_numpy()
    prev = grouped.source_rows(pos, 1)
    after_prev = np.searchsorted(open_days, days[np.maximum(prev, 0)], side="right")
    before_this = np.searchsorted(open_days, days, side="left")
    return np.where(prev >= 0, np.maximum(before_this - after_prev, 0), 0).astype(np.float64)


# The columns of price_features, in order (before `ticker`).
FRAME_COLUMNS = ["date", "close", "adj_close", *FEATURE_COLUMNS, "history_complete", "missing_bars", *TARGET_COLUMNS]


def price_columns(open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray, adj: np.ndarray,
                  volume: np.ndarray, pos: np.ndarray, missing: np.ndarray) -> dict[str, np.ndarray]:
    """Every column of price_features but the two dates, from float64 bar arrays sorted by (key, date).

    `pos`: each row's position within its key (`grouped.positions`); `missing`: NYSE trading days missing
    before each bar (0 for a key's first bar). `next_row` (not a column) is the row whose date is the
    target_date, -1 where there is none. numpy only: the serving path calls it without building a frame.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ret = grouped.diff(np.log(adj), pos)
        # Trading days missing between the bars of t's trailing window (its MIN_HISTORY_BARS - 1 steps).
        # A running sum works across keys: a key's first row adds 0, so it never carries another key's gaps.
        running = np.cumsum(missing)
        rows = np.arange(len(pos))
        missing_in_window = running - running[rows - np.minimum(pos, MIN_HISTORY_BARS - 1)] if len(pos) else missing
        # The next bar is the next trading day: else the target spans a gap and is not a next-day target.
        next_is_next_day = grouped.shift(missing, pos, -1) == 0
        next_adj = np.where(next_is_next_day, grouped.shift(adj, pos, -1), np.nan)
        return {
            "close": close,
            "adj_close": adj,
            "ret_1d": grouped.pct_change(adj, pos),
            "log_ret_1d": log_ret,
            "ret_5d": grouped.pct_change(adj, pos, 5),
            "ret_10d": grouped.pct_change(adj, pos, 10),
            **{f"ma_ratio_{w}": adj / grouped.Trailing(adj, pos, w).mean() - 1 for w in (5, 10, 20)},
            **{f"vol_{w}": grouped.Trailing(log_ret, pos, w).std() * np.sqrt(252) for w in (10, 20)},
            "rsi_14": _rsi(adj, pos, 14),
            "volume_z_20": _volume_z(volume, pos, 20),
            "hl_range": (high - low) / close,
            "oc_return": close / open_ - 1,
            "gap": open_ / grouped.shift(close, pos, 1) - 1,
            "history_complete": (pos >= MIN_HISTORY_BARS - 1) & (missing_in_window == 0),
            "missing_bars": missing_in_window.astype(np.int64),
            # Targets: the next bar when it is the next trading day. The only place that reads t+1.
            "next_row": np.where(next_is_next_day, grouped.source_rows(pos, -1), -1),
            "target_close": np.where(next_is_next_day, grouped.shift(close, pos, -1), np.nan),
            "target_adj_close": next_adj,
            "target_return": next_adj / adj - 1,
            "target_log_return": np.log(next_adj) - np.log(adj),
        }


def _features(b: pd.DataFrame, key: pd.Series) -> pd.DataFrame:
    """Features and targets of bars `b` sorted by (key, date) on a RangeIndex; every window stays within its key.

    `features.grouped` restarts every window, shift and difference at each key,
    so a key's values are exactly those of computing it alone: one pass serves a
    whole backfill or a batch of requests.
    """
    pos = grouped.positions(key.to_numpy())
    column = lambda name: b[name].astype(float).to_numpy()  # noqa: E731
    date = as_datetime(b["date"])
    cols = price_columns(*(column(c) for c in ("open", "high", "low", "close", "adj_close", "volume")), pos,
                         _missing_before(date, pos))
    cols["date"] = date.to_numpy()
    cols["target_date"] = date.array.take(cols.pop("next_row"), allow_fill=True)
    out = pd.DataFrame({c: cols[c] for c in FRAME_COLUMNS}, index=b.index)
    if "ticker" in b:
        out.insert(0, "ticker", b["ticker"].to_numpy())
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
    if not is_key_sorted(bars["ticker"], bars["date"], strict=False):
        bars = bars.sort_values(["ticker", "date"], kind="stable")
    b = bars.reset_index(drop=True)
    return _features(b, b["ticker"])
