"""The trading days the service accepts: the NYSE calendar over the years its rules are known to hold.

`market_calendar` builds NYSE holidays from rules plus a list of one-off closures.
The rules match the exchange from 1998 (the first year it closed for Martin Luther
King Jr. Day) and the one-off list starts in 2001 with nothing missing in between;
past 2099 nobody can know the closures. Inside that range every date is a position
in one array, so continuity checks and "the next trading day" are lookups, with no
pandas Timestamp arithmetic that overflows at 2262 or underflows at 1677.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import numpy as np

from finpulse_assets.features.market_calendar import closure_reason, trading_days

FIRST_DAY = dt.date(1998, 1, 2)
LAST_DAY = dt.date(2099, 12, 31)


@lru_cache(maxsize=1)
def _ordinals() -> tuple[np.ndarray, dict[int, int]]:
    days = trading_days(FIRST_DAY, LAST_DAY + dt.timedelta(days=10))
    ordinals = np.array([d.toordinal() for d in days.date], dtype=np.int64)
    return ordinals, {int(o): i for i, o in enumerate(ordinals)}


def day_problem(day: dt.date) -> str | None:
    """Why `day` cannot be a bar of a history, or None when it is a supported trading day."""
    if not FIRST_DAY <= day <= LAST_DAY:
        return (f"{day} is outside the calendar the service supports "
                f"({FIRST_DAY} to {LAST_DAY}: the years the NYSE holiday rules are known to hold)")
    if day.toordinal() in _ordinals()[1]:
        return None
    return f"{day} is not a trading day ({closure_reason(day)})"


def position(day: dt.date) -> int:
    """The index of a supported trading day among all supported trading days."""
    return _ordinals()[1][day.toordinal()]


def day_at(index: int) -> dt.date:
    return dt.date.fromordinal(int(_ordinals()[0][index]))


def next_trading_day(day: dt.date) -> dt.date:
    """The trading day after a supported trading day (the calendar extends past LAST_DAY for this)."""
    return day_at(position(day) + 1)
