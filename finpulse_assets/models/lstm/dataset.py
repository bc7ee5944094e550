"""Sliding windows over per-ticker daily features, date-based splits, feature scaling.

A window ending at trading day t holds the feature rows t-N+1..t of ONE ticker and
is labelled with the target of row t (the return from t to the next trading day).
Nothing after t enters X.

No ticker one-hot/embedding: the features are scale-free (returns, ratios,
z-scores, sentiment shares), so one pooled model can share what it learns across
tickers, works for a ticker it has not seen, and cannot memorise a per-ticker
drift from a few years of data. Whether pooling beats per-ticker models is
measured, not assumed: see `evaluate.choose_pooling`.

Pure numpy/pandas (no torch) so serving can build windows too.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import NamedTuple, Sequence

import numpy as np
import pandas as pd

from finpulse_assets.features.keys import is_key_sorted


@dataclass(frozen=True, eq=False)
class Windows:
    """n windows of `window` consecutive trading days, ordered by (date, ticker)."""

    X: np.ndarray              # [n, window, n_features] float32, unscaled
    y: np.ndarray              # [n] float32 target of day t (NaN when built without a target)
    dates: np.ndarray          # [n] datetime64[ns]: day t, the last row of the window
    target_dates: np.ndarray   # [n] datetime64[ns]: the next trading day (NaT without a target)
    tickers: np.ndarray        # [n] str
    close_t: np.ndarray        # [n] float64 price of day t, the base for price reconstruction
    target_close: np.ndarray   # [n] float64 price of the next trading day (NaN without a target)
    close_history: np.ndarray  # [n, window] float64 prices of days t-N+1..t (moving-average baseline)
    feature_columns: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.y)

    @property
    def window(self) -> int:
        return self.X.shape[1]

    def take(self, index: np.ndarray) -> "Windows":
        """Subset by boolean mask or integer positions."""
        return replace(self, X=self.X[index], y=self.y[index], dates=self.dates[index],
                       target_dates=self.target_dates[index], tickers=self.tickers[index],
                       close_t=self.close_t[index], target_close=self.target_close[index],
                       close_history=self.close_history[index])

    def select_features(self, columns: Sequence[str]) -> "Windows":
        """Same windows with only `columns` (e.g. the price-only ablation)."""
        missing = [c for c in columns if c not in self.feature_columns]
        if missing:
            raise KeyError(f"not in these windows: {missing}")
        pos = [self.feature_columns.index(c) for c in columns]
        return replace(self, X=np.ascontiguousarray(self.X[:, :, pos]), feature_columns=tuple(columns))

    def for_ticker(self, ticker: str) -> "Windows":
        return self.take(self.tickers == ticker)


class Split(NamedTuple):
    train: Windows
    val: Windows
    test: Windows


def _run_lengths(valid: np.ndarray, linked: np.ndarray) -> np.ndarray:
    """Number of valid rows ending at each row whose consecutive pairs are all linked; 0 where invalid.

    linked[i]: row i+1 continues row i (same ticker, next trading day).
    """
    n = len(valid)
    starts = np.ones(n, dtype=bool)  # a run can only begin at a row not continuing a valid row
    starts[1:] = ~(linked[:-1] & valid[:-1])
    run_start = np.maximum.accumulate(np.where(starts, np.arange(n), 0)) if n else np.zeros(0, np.int64)
    return np.where(valid, np.arange(n) - run_start + 1, 0)


def _window_ends(frame: pd.DataFrame, feats: np.ndarray, price: np.ndarray, dates: np.ndarray,
                 tickers: np.ndarray, window: int, target: str | None, price_column: str) -> np.ndarray:
    """Rows (of `frame`, sorted by ticker, date) that end a usable window."""
    valid = np.isfinite(feats).all(axis=1) & np.isfinite(price)
    if "history_complete" in frame:
        valid &= frame["history_complete"].to_numpy(dtype=bool)

    # Rows are consecutive trading days only if each row's target_date is the next
    # row's date; a missing day (a gap in the bars, or a join that dropped a row)
    # breaks the chain, so no window silently spans it. Nor does one span tickers.
    linked = np.zeros(len(frame), dtype=bool)
    linked[:-1] = tickers[:-1] == tickers[1:]
    if "target_date" in frame:
        linked[:-1] &= frame["target_date"].to_numpy(dtype="datetime64[ns]")[:-1] == dates[1:]
    ok = _run_lengths(valid, linked) >= window

    if target is not None:
        ok &= (np.isfinite(frame[target].to_numpy(dtype=np.float64))
               & np.isfinite(frame[f"target_{price_column}"].to_numpy(dtype=np.float64))
               & ~np.isnat(frame["target_date"].to_numpy(dtype="datetime64[ns]")))
    return np.flatnonzero(ok)


def build_windows(frame: pd.DataFrame, feature_columns: Sequence[str], window: int,
                  target: str | None = "target_log_return", price_column: str = "close") -> Windows:
    """Windows of `window` consecutive trading days per ticker, labelled with `target` of day t.

    `frame`: one row per (ticker, date) with the feature columns, `price_column`,
    and (when `target` is given) `target`, `target_date` and `target_<price_column>`
    as written by `features.price.price_features`. A window is kept only if all its
    rows have finite features and `history_complete` (when present), its rows are
    consecutive trading days of one ticker, and day t has a finite target. Fill
    sentiment for days without tweets before calling, or those days drop out.

    `target=None` builds unlabelled windows (serving: the latest day has no target yet).
    `price_column="adj_close"` gives price metrics that do not jump at splits.
    """
    feature_columns = list(feature_columns)
    if window < 1:
        raise ValueError("window must be >= 1")
    # join_features already returns rows in strict (ticker, date) order: then there is nothing to check or sort.
    if not is_key_sorted(frame["ticker"], frame["date"], strict=True):
        if frame.duplicated(["ticker", "date"]).any():
            raise ValueError("frame has duplicate (ticker, date) rows")
        frame = frame.assign(date=pd.to_datetime(frame["date"])).sort_values(["ticker", "date"], kind="stable")
    if target is not None and not pd.api.types.is_datetime64_dtype(frame["target_date"]):
        frame = frame.assign(target_date=pd.to_datetime(frame["target_date"]))

    feats = frame[feature_columns].to_numpy(dtype=np.float64)
    price = frame[price_column].to_numpy(dtype=np.float64)
    dates = frame["date"].to_numpy(dtype="datetime64[ns]")
    tickers = frame["ticker"].to_numpy(dtype=object)
    ends = _window_ends(frame, feats, price, dates, tickers, window, target, price_column)
    if len(ends) == 0:
        nf = len(feature_columns)
        return Windows(X=np.empty((0, window, nf), np.float32), y=np.empty(0, np.float32),
                       dates=np.empty(0, "datetime64[ns]"), target_dates=np.empty(0, "datetime64[ns]"),
                       tickers=np.empty(0, str), close_t=np.empty(0), target_close=np.empty(0),
                       close_history=np.empty((0, window)), feature_columns=tuple(feature_columns))

    ends = ends[np.lexsort((tickers[ends].astype(str), dates[ends]))]  # by date, then ticker
    rows = ends[:, None] + np.arange(-window + 1, 1)  # [m, window]: t-N+1..t
    if target is not None:
        labels = dict(y=frame[target].to_numpy(dtype=np.float64)[ends].astype(np.float32),
                      target_dates=frame["target_date"].to_numpy(dtype="datetime64[ns]")[ends],
                      target_close=frame[f"target_{price_column}"].to_numpy(dtype=np.float64)[ends])
    else:
        labels = dict(y=np.full(len(ends), np.nan, np.float32),
                      target_dates=np.full(len(ends), np.datetime64("NaT"), dtype="datetime64[ns]"),
                      target_close=np.full(len(ends), np.nan))
    return Windows(X=feats[rows].astype(np.float32), dates=dates[ends], tickers=tickers[ends].astype(str),
                   close_t=price[ends], close_history=price[rows], **labels,
                   feature_columns=tuple(feature_columns))


def _check_order(split: Split) -> Split:
    # Raised explicitly (not `assert`) so the check survives `python -O`.
    parts = [p for p in split if len(p)]
    for earlier, later in zip(parts, parts[1:]):
        if not earlier.dates.max() < later.dates.min():
            raise AssertionError("split is not ordered in time: train < val < test")
    return split


def time_split(windows: Windows, val_start, test_start) -> Split:
    """train: day t < val_start <= val < test_start <= test, the same cut dates for every ticker.

    The last training window's target is the close of the first validation day; its
    features never reach into validation, and no validation target is trained on.
    """
    val_start, test_start = np.datetime64(pd.Timestamp(val_start), "ns"), np.datetime64(pd.Timestamp(test_start), "ns")
    if not val_start < test_start:
        raise ValueError("val_start must be before test_start")
    d = windows.dates
    return _check_order(Split(windows.take(d < val_start),
                              windows.take((d >= val_start) & (d < test_start)),
                              windows.take(d >= test_start)))


def time_split_fractions(windows: Windows, val_frac: float = 0.15, test_frac: float = 0.15) -> Split:
    """Split by the last `test_frac` (test) and the `val_frac` before it (validation) of the distinct dates."""
    if not (0 < val_frac and 0 < test_frac and val_frac + test_frac < 1):
        raise ValueError("need 0 < val_frac, 0 < test_frac, val_frac + test_frac < 1")
    days = np.unique(windows.dates)
    n = len(days)
    n_test = max(1, round(n * test_frac))
    n_val = max(1, round(n * val_frac))
    if n_test + n_val >= n:
        raise ValueError(f"{n} distinct dates are too few for these fractions")
    return time_split(windows, days[n - n_test - n_val], days[n - n_test])


@dataclass(frozen=True, eq=False)
class Scaler:
    """Per-feature standardisation; fit on training windows only."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray) -> "Scaler":
        flat = np.asarray(X, dtype=np.float64).reshape(-1, X.shape[-1])
        std = flat.std(axis=0)
        # A constant feature carries nothing; dividing by 1 keeps it finite (0 after centring).
        return cls(mean=flat.mean(axis=0), std=np.where(std > 1e-12, std, 1.0))

    def transform(self, X: np.ndarray) -> np.ndarray:
        return ((np.asarray(X, dtype=np.float64) - self.mean) / self.std).astype(np.float32)

    def to_dict(self) -> dict:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> "Scaler":
        return cls(mean=np.asarray(d["mean"], dtype=np.float64), std=np.asarray(d["std"], dtype=np.float64))
