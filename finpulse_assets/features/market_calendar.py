"""NYSE trading days and the rule that assigns each tweet to one trading day.

A tweet counts toward trading day t when it was posted after the 16:00
America/New_York close of the previous trading day and at or before the close
of t. So a tweet at 16:05 on Friday, or any time on Saturday, counts toward
Monday (or the next open day). Everything in partition t is known at the close
of t, which is what keeps features for t+1 free of look-ahead.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache

import numpy as np
import pandas as pd
from pandas.tseries.holiday import (
    AbstractHolidayCalendar,
    GoodFriday,
    Holiday,
    USLaborDay,
    USMartinLutherKingJr,
    USMemorialDay,
    USPresidentsDay,
    USThanksgivingDay,
    nearest_workday,
)

MARKET_TZ = "America/New_York"
CLOSE_HOUR = 16

# One-off closures (weather, national days of mourning) that no rule produces.
SPECIAL_CLOSURES = [
    "2001-09-11", "2001-09-12", "2001-09-13", "2001-09-14", "2004-06-11", "2007-01-02",
    "2012-10-29", "2012-10-30", "2018-12-05", "2025-01-09",
]


class NYSEHolidayCalendar(AbstractHolidayCalendar):
    rules = [
        Holiday("New Year's Day", month=1, day=1, observance=lambda d: d + pd.Timedelta(days=1) if d.weekday() == 6 else d),
        USMartinLutherKingJr,
        USPresidentsDay,
        GoodFriday,
        USMemorialDay,
        Holiday("Juneteenth", month=6, day=19, start_date="2022-01-01", observance=nearest_workday),
        Holiday("Independence Day", month=7, day=4, observance=nearest_workday),
        USLaborDay,
        USThanksgivingDay,
        Holiday("Christmas", month=12, day=25, observance=nearest_workday),
    ]


@lru_cache(maxsize=64)
def _holidays(start_year: int, end_year: int) -> frozenset[date]:
    rule_days = NYSEHolidayCalendar().holidays(f"{start_year}-01-01", f"{end_year}-12-31")
    days = {d.date() for d in rule_days}
    days.update(pd.Timestamp(d).date() for d in SPECIAL_CLOSURES)
    return frozenset(days)


def closure_reason(day: date) -> str | None:
    """Why the market is closed on `day`, or None when it is a trading day."""
    if day.weekday() >= 5:
        return f"market closed: weekend ({day.strftime('%A')})"
    if day in _holidays(day.year, day.year):
        return "market closed: NYSE holiday"
    return None


def is_trading_day(day: date) -> bool:
    return closure_reason(day) is None


def trading_days(start: date, end: date) -> pd.DatetimeIndex:
    """Trading days in [start, end], as midnight timestamps."""
    days = pd.date_range(start, end, freq="D")
    holidays = _holidays(start.year, end.year)
    keep = (days.weekday < 5) & ~days.isin(pd.DatetimeIndex(sorted(holidays)))
    return days[np.asarray(keep, dtype=bool)]


def next_trading_day(day: date) -> date:
    d = pd.Timestamp(day) + pd.Timedelta(days=1)
    while not is_trading_day(d.date()):
        d += pd.Timedelta(days=1)
    return d.date()


def previous_trading_day(day: date) -> date:
    d = pd.Timestamp(day) - pd.Timedelta(days=1)
    while not is_trading_day(d.date()):
        d -= pd.Timedelta(days=1)
    return d.date()


def close_utc(day) -> pd.Timestamp:
    """The 16:00 New York close of `day`, in UTC."""
    return pd.Timestamp(day).replace(hour=CLOSE_HOUR).tz_localize(MARKET_TZ).tz_convert("UTC")


def session_bounds_utc(day: date) -> tuple[pd.Timestamp, pd.Timestamp]:
    """(previous close, this close] in UTC: the posting window of trading day `day`."""
    return close_utc(previous_trading_day(day)), close_utc(day)


def tweet_window_utc(first: date, last: date) -> tuple[pd.Timestamp, pd.Timestamp]:
    """[start, end) in UTC of the tweets that count toward the trading days first..last: (the close before
    `first`, the close of `last`], as a half-open range for `TweetSource.load_tweets`."""
    return close_utc(previous_trading_day(first)) + pd.Timedelta(seconds=1), close_utc(last) + pd.Timedelta(seconds=1)


def assign_trading_day(post_time_utc: pd.Series) -> pd.Series:
    """Trading day (midnight timestamp, naive) each UTC post time counts toward."""
    if post_time_utc.empty:
        return pd.Series(pd.DatetimeIndex([]), index=post_time_utc.index)
    local = post_time_utc.dt.tz_convert(MARKET_TZ)
    # A post at or before 16:00 local counts toward that calendar day; later, the next one.
    after_close = (local.dt.hour * 3600 + local.dt.minute * 60 + local.dt.second
                   + local.dt.microsecond / 1e6) > CLOSE_HOUR * 3600
    calendar_day = local.dt.tz_localize(None).dt.normalize() + pd.to_timedelta(after_close.astype(int), unit="D")
    lo, hi = calendar_day.min().date(), calendar_day.max().date()
    open_days = trading_days(lo, pd.Timestamp(hi).date() + pd.Timedelta(days=15))
    # The first trading day on or after the calendar day.
    pos = open_days.searchsorted(calendar_day.to_numpy(), side="left")
    return pd.Series(open_days[pos], index=post_time_utc.index)
