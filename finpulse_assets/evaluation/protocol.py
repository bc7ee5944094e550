"""The StockNet evaluation protocol: movement labels and date splits.

A sample is a (ticker, target day) pair: the movement of the target day,
Adj Close(target) / Adj Close(previous trading day) - 1, predicted from the
trading days up to and including the previous one. "up" above +0.55 %,
"down" at or below -0.5 %, days in between are left out of the movement
metrics (StockNet drops them from its dataset). Samples fall in a split by
their target day: train [train_start, dev_start), dev [dev_start, test_start),
test [test_start, test_end).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

UP, DOWN, LEFT_OUT = 1, 0, -1
TRAIN, DEV, TEST = "train", "dev", "test"
SPLITS = (TRAIN, DEV, TEST)


@dataclass(frozen=True)
class Protocol:
    train_start: str = "2014-01-01"
    dev_start: str = "2015-08-01"
    test_start: str = "2015-10-01"
    test_end: str = "2016-01-01"  # exclusive
    up_above: float = 0.0055
    down_at_or_below: float = -0.005

    def __post_init__(self):
        bounds = [pd.Timestamp(getattr(self, name)) for name in ("train_start", "dev_start", "test_start", "test_end")]
        if not all(a < b for a, b in zip(bounds, bounds[1:])):
            raise ValueError(f"protocol dates must increase: train_start {self.train_start} < dev_start "
                             f"{self.dev_start} < test_start {self.test_start} < test_end {self.test_end}")
        if not self.down_at_or_below < self.up_above:
            raise ValueError(f"down threshold {self.down_at_or_below} must be below up threshold {self.up_above}")

    def as_dict(self) -> dict:
        return asdict(self)


def movement_labels(movement, protocol: Protocol) -> np.ndarray:
    """UP (1), DOWN (0) or LEFT_OUT (-1) for each movement (a simple return)."""
    m = np.asarray(movement, dtype=np.float64)
    if not np.isfinite(m).all():
        raise ValueError("movement contains NaN or inf: every sample needs both adjusted closes")
    return np.where(m > protocol.up_above, UP, np.where(m <= protocol.down_at_or_below, DOWN, LEFT_OUT))


def split_of(target_days, protocol: Protocol) -> np.ndarray:
    """TRAIN / DEV / TEST by the target day, '' for days outside the protocol's range."""
    days = pd.to_datetime(np.asarray(target_days)).to_numpy(dtype="datetime64[ns]")
    if np.isnat(days).any():
        raise ValueError("target days contain NaT")
    out = np.full(len(days), "", dtype=object)
    edges = [np.datetime64(pd.Timestamp(d), "ns") for d in
             (protocol.train_start, protocol.dev_start, protocol.test_start, protocol.test_end)]
    for name, lo, hi in zip(SPLITS, edges, edges[1:]):
        out[(days >= lo) & (days < hi)] = name
    return out
