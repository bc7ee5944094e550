"""Per-key trailing statistics on rows sorted by (key, date), in numpy.

The price features of a whole backfill, or of one batch of serving requests,
are computed in one pass over all keys: each helper takes `pos`, the row's
position within its key (0 for a key's first row), and never lets a window,
shift or difference reach into the previous key. pandas' grouped rolling gives
the same numbers, but its fixed cost per call dominated a 64-request batch.

Semantics follow pandas `rolling(window, min_periods=window)`: a statistic is
NaN unless the row has `window` rows of its own key ending at it and none of
them is NaN. A window whose values are all equal has exactly that value as its
mean and exactly 0 as its variance (pandas does the same), so a flat stretch
gives 0, not rounding noise, to the rules downstream that test `std > 0`.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def positions(keys: np.ndarray) -> np.ndarray:
    """Row position within its key's run of equal, adjacent keys."""
    n = len(keys)
    starts = np.ones(n, dtype=bool)
    starts[1:] = keys[1:] != keys[:-1]
    start_of_row = np.maximum.accumulate(np.where(starts, np.arange(n), 0)) if n else np.zeros(0, np.int64)
    return np.arange(n) - start_of_row


def source_rows(pos: np.ndarray, periods: int) -> np.ndarray:
    """Row i - periods when it is of the same key as row i, else -1. periods may be < 0 (later rows)."""
    n = len(pos)
    source = np.arange(n) - periods
    if periods >= 0:
        ok = pos >= periods
    else:
        # A later row belongs to the same key iff its position is this row's plus the offset.
        ok = source < n
        ok[ok] = pos[source[ok]] == pos[ok] - periods
    return np.where(ok, source, -1)


def shift(values: np.ndarray, pos: np.ndarray, periods: int) -> np.ndarray:
    """values[i - periods] of the same key as float64; NaN where there is no such row."""
    source = source_rows(pos, periods)
    return np.where(source >= 0, np.asarray(values, dtype=np.float64)[source], np.nan)


def diff(values: np.ndarray, pos: np.ndarray) -> np.ndarray:
    return values - shift(values, pos, 1)


def pct_change(values: np.ndarray, pos: np.ndarray, periods: int = 1) -> np.ndarray:
    return values / shift(values, pos, periods) - 1


class Trailing:
    """The `window` values ending at each row, as an [n, window] view (no copy)."""

    def __init__(self, values: np.ndarray, pos: np.ndarray, window: int):
        self.window = window
        # NaN padding gives the first window-1 rows of the array a (NaN) window too.
        padded = np.concatenate([np.full(window - 1, np.nan), np.asarray(values, dtype=np.float64)])
        self.view = sliding_window_view(padded, window) if len(pos) else np.empty((0, window))
        # Rows short of a full window of their own key: their view reaches into the previous key.
        self.short = pos < window - 1
        self.constant = (self.view == self.view[:, -1:]).all(axis=1)

    def mean(self) -> np.ndarray:
        out = self.view.sum(axis=1) / self.window
        out[self.constant] = self.view[self.constant, -1]
        out[self.short] = np.nan
        return out

    def std(self) -> np.ndarray:
        """Sample standard deviation (ddof=1), as pandas' rolling std."""
        if self.window < 2:
            raise ValueError("a sample standard deviation needs a window of at least 2")
        centred = self.view - (self.view.sum(axis=1) / self.window)[:, None]
        var = (centred * centred).sum(axis=1) / (self.window - 1)
        var[self.constant] = 0.0
        var[self.short] = np.nan
        return np.sqrt(var)
