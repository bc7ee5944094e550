"""Catching look-ahead in computed features: recompute them from a frame cut at day t and compare.

A feature of day t may read only what is known at t's close. `audit_no_look_ahead`
recomputes a feature function on the rows up to each cut day t, with every
label column (`target_*`, the only columns that read t+1) blanked, and
requires the rows up to t to come out exactly as they do from the whole frame.
A feature that reads a later row, or a label, of any ticker differs and is
named in the error.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

KEYS = ["ticker", "date"]


def _cut(frame: pd.DataFrame, day: pd.Timestamp) -> pd.DataFrame:
    dates = pd.to_datetime(frame["date"])
    cut = frame.loc[(dates <= day).to_numpy()].copy()
    for column in cut.columns:
        if column.startswith("target_"):
            cut[column] = pd.NaT if column == "target_date" else np.nan
    return cut


def audit_no_look_ahead(compute: Callable[[pd.DataFrame], pd.DataFrame], frame: pd.DataFrame,
                        columns: list[str], cut_days: list | None = None, n_cuts: int = 3) -> dict:
    """Raises ValueError naming the first column and day whose value changes when the future is removed.

    compute(frame) returns one row per (ticker, date) with `columns`; cut_days default to `n_cuts` days
    spread over the frame's second half. Returns {"cut_days": [...], "columns": [...], "rows_compared": n}.
    """
    full = compute(frame).assign(date=lambda f: pd.to_datetime(f["date"])).set_index(KEYS)[columns]
    days = np.unique(pd.to_datetime(frame["date"]).to_numpy())
    if cut_days is None:
        cut_days = [days[int(len(days) * q)] for q in np.linspace(0.5, 0.9, n_cuts)]
    compared = 0
    for day in pd.to_datetime(cut_days):
        part = compute(_cut(frame, day)).assign(date=lambda f: pd.to_datetime(f["date"])).set_index(KEYS)[columns]
        reference = full.loc[part.index]
        for column in columns:
            a, b = part[column].to_numpy(dtype=float), reference[column].to_numpy(dtype=float)
            same = np.isclose(a, b, rtol=1e-9, atol=1e-12) | (np.isnan(a) & np.isnan(b))
            if not same.all():
                first = part.index[np.flatnonzero(~same)[0]]
                raise ValueError(f"look-ahead: {column} of {first[0]} on {first[1].date()} changes when the rows "
                                 f"after {day.date()} (and every target_* label) are removed")
        compared += len(part)
    return {"cut_days": [str(pd.Timestamp(d).date()) for d in cut_days], "columns": list(columns),
            "rows_compared": compared}


def with_audited_context(frame: pd.DataFrame, compute: Callable[[pd.DataFrame], pd.DataFrame]) -> tuple[pd.DataFrame, dict]:
    """The frame with compute(frame)'s columns added (same rows and order), after `audit_no_look_ahead`."""
    context = compute(frame).assign(date=lambda f: pd.to_datetime(f["date"]))
    columns = [c for c in context.columns if c not in KEYS]
    audit = audit_no_look_ahead(compute, frame, columns)
    keys = frame[KEYS].assign(date=pd.to_datetime(frame["date"]))
    aligned = keys.merge(context, on=KEYS, how="left", validate="one_to_one")
    out = frame.reset_index(drop=True).assign(**{c: aligned[c].to_numpy() for c in columns})
    return out, audit
