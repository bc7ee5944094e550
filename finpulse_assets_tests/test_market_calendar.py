"""The NYSE calendar and the rule that assigns tweets to trading days."""

from datetime import date

import pandas as pd

from finpulse_assets.features.market_calendar import assign_trading_day, closure_reason, next_trading_day, trading_days


def test_known_closures_and_counts():
    assert closure_reason(date(2015, 4, 3)) == "market closed: NYSE holiday"  # Good Friday
    assert closure_reason(date(2015, 7, 3)) == "market closed: NYSE holiday"  # July 4th observed
    assert closure_reason(date(2024, 6, 19)) == "market closed: NYSE holiday"  # Juneteenth
    assert closure_reason(date(2015, 1, 3)).endswith("(Saturday)")
    assert closure_reason(date(2015, 1, 2)) is None
    assert len(trading_days(date(2015, 1, 1), date(2015, 12, 31))) == 252
    assert next_trading_day(date(2015, 4, 2)) == date(2015, 4, 6)


def _utc(text):
    return pd.Timestamp(text, tz="America/New_York").tz_convert("UTC")


def test_tweets_after_the_close_count_toward_the_next_trading_day():
    posts = pd.Series([_utc("2015-01-02 15:59:59"), _utc("2015-01-02 16:00:00"), _utc("2015-01-02 16:00:01"),
                       _utc("2015-01-03 12:00"), _utc("2015-01-05 09:00"), _utc("2015-04-02 17:00")])
    days = assign_trading_day(posts).dt.date.tolist()
    assert days == [date(2015, 1, 2), date(2015, 1, 2), date(2015, 1, 5), date(2015, 1, 5),
                    date(2015, 1, 5), date(2015, 4, 6)]
