"""Protocol samples: windows of the trading days before each target day, with movement label and split.

Built on `models.lstm.dataset.build_windows` over adjusted closes: the window
ending at day t holds rows t-N+1..t (features known at t's close), its target
is day t+1 (`target_date`), its movement Adj Close(t+1) / Adj Close(t) - 1.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np
import pandas as pd

from finpulse_assets.evaluation.protocol import LEFT_OUT, Protocol, movement_labels, split_of
from finpulse_assets.models.lstm.dataset import Windows, build_windows

TARGET = "target_log_return"
PRICE_COLUMN = "adj_close"  # adjusted closes: no jumps at splits or dividends


@dataclass(frozen=True, eq=False)
class Samples:
    windows: Windows       # close_t / target_close are adjusted closes of day t / the target day
    movement: np.ndarray   # [n] simple return of the target day
    label: np.ndarray      # [n] UP, DOWN or LEFT_OUT
    split: np.ndarray      # [n] TRAIN, DEV or TEST

    def __len__(self) -> int:
        return len(self.label)

    def take(self, index: np.ndarray) -> "Samples":
        return Samples(self.windows.take(index), self.movement[index], self.label[index], self.split[index])

    def part(self, *splits: str) -> "Samples":
        return self.take(np.isin(self.split, splits))

    def labelled(self) -> "Samples":
        """Only the samples with an up or down label (the movement metrics' samples)."""
        return self.take(self.label != LEFT_OUT)

    def with_y(self, y: np.ndarray) -> "Samples":
        return replace(self, windows=replace(self.windows, y=np.asarray(y, dtype=np.float32)))


def build_samples(frame: pd.DataFrame, feature_columns: Sequence[str], window: int, protocol: Protocol) -> Samples:
    """Every window of `window` consecutive trading days whose target day lies in one of the protocol's splits.

    `frame`: the training_set layout (ticker, date, adj_close, history_complete, features, target_*).
    """
    missing = [c for c in ["ticker", "date", PRICE_COLUMN, "target_date", f"target_{PRICE_COLUMN}", TARGET,
                           *feature_columns] if c not in frame]
    if missing:
        raise ValueError(f"the daily frame lacks columns {missing}")
    windows = build_windows(frame, feature_columns, window, target=TARGET, price_column=PRICE_COLUMN)
    split = split_of(windows.target_dates, protocol)
    windows = windows.take(split != "")
    movement = windows.target_close / windows.close_t - 1.0
    return Samples(windows, movement, movement_labels(movement, protocol), split[split != ""])


def split_counts(samples: Samples) -> dict[str, dict]:
    """Per split: samples, labelled samples, share up among them, first and last target day."""
    out = {}
    for name in np.unique(samples.split):
        part = samples.part(name)
        labelled = part.labelled()
        days = pd.to_datetime(part.windows.target_dates)
        out[str(name)] = {"samples": len(part), "labelled": len(labelled),
                          "share_up": float(np.mean(labelled.label == 1)) if len(labelled) else float("nan"),
                          "first_target_day": str(days.min().date()), "last_target_day": str(days.max().date())}
    return out
