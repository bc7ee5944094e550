"""Market context of a ticker's day: market, sector, beta, residual, co-movement peers, tweet surprises, and
the tweet -> trading-day rule the text features rest on."""

import numpy as np
import pandas as pd
import pytest

from finpulse_assets.evaluation.look_ahead import audit_no_look_ahead
from finpulse_assets.features.market_context import (
    MARKET_COLUMNS, SECTOR_OF, TWEET_SURPRISE_COLUMNS, market_context, with_market_context,
)
from finpulse_assets.features.market_calendar import assign_trading_day


def test_tweets_after_the_close_count_toward_the_next_trading_day():
    posts = pd.Series(pd.to_datetime([
        "2015-03-13 15:59:59", "2015-03-13 16:00:00", "2015-03-13 16:00:01",  # Friday, New York time
        "2015-03-14 12:00:00",                                                # Saturday
        "2015-07-02 16:30:00",                                                # before the July 3 closure
    ]).tz_localize("America/New_York").tz_convert("UTC"))
    days = [d.date().isoformat() for d in assign_trading_day(posts)]
    assert days == ["2015-03-13", "2015-03-13", "2015-03-16", "2015-03-16", "2015-07-06"]


def _frame(n_days=90, seed=0):
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2015-01-02", periods=n_days)
    market = rng.normal(0, 0.01, n_days)
    rows = []
    for ticker, beta in (("AAPL", 1.0), ("MSFT", 2.0), ("GOOG", 0.5), ("XYZ", 1.0)):
        r = beta * market + rng.normal(0, 0.001, n_days)
        rows.append(pd.DataFrame({"ticker": ticker, "date": dates, "log_ret_1d": r,
                                  "tweet_count": rng.poisson(5, n_days).astype(float),
                                  "sentiment_mean": rng.normal(0, 0.2, n_days),
                                  "target_log_return": np.r_[r[1:], np.nan]}))
    return pd.concat(rows, ignore_index=True)


def test_market_sector_beta_and_residual_are_what_they_say():
    frame = _frame()
    assert SECTOR_OF["AAPL"] == "consumer_goods" and SECTOR_OF["MSFT"] == SECTOR_OF["GOOG"] == "technology"
    ctx = market_context(frame).set_index(["ticker", "date"])
    wide = frame.pivot(index="date", columns="ticker", values="log_ret_1d")
    day = wide.index[70]
    assert ctx.loc[("AAPL", day), "mkt_ret"] == pytest.approx(wide.loc[day].mean())
    # MSFT's sector peers in this universe: GOOG only (itself left out); AAPL has none, so the market.
    assert ctx.loc[("MSFT", day), "sector_ret"] == pytest.approx(wide.loc[day, "GOOG"])
    assert ctx.loc[("AAPL", day), "sector_ret"] == pytest.approx(wide.loc[day].mean())
    assert ctx.loc[("XYZ", day), "sector_ret"] == pytest.approx(wide.loc[day].mean())  # not in StockNet's table
    assert ctx.loc[("MSFT", day), "beta_60"] == pytest.approx(2.0 / 1.125, rel=0.05)
    resid = wide.loc[day, "MSFT"] - ctx.loc[("MSFT", day), "beta_60"] * wide.loc[day].mean()
    assert ctx.loc[("MSFT", day), "resid_ret"] == pytest.approx(resid)
    assert np.isfinite(ctx.loc[("GOOG", day), "peer_ret"])
    first = wide.index[0]
    assert ctx.loc[("AAPL", first), "beta_60"] == 1.0 and np.isnan(ctx.loc[("AAPL", first), "mkt_vol_20"])
    added = with_market_context(frame)
    assert list(added.columns[-len(MARKET_COLUMNS + TWEET_SURPRISE_COLUMNS):]) == MARKET_COLUMNS + TWEET_SURPRISE_COLUMNS
    assert len(added) == len(frame) and (added["ticker"] == frame["ticker"]).all()


def test_tweet_surprises_compare_a_day_with_the_days_before_it_only():
    frame = _frame()
    ctx = market_context(frame).set_index(["ticker", "date"])
    own = frame[frame["ticker"] == "AAPL"].set_index("date")
    day = own.index[50]
    history = np.log1p(own["tweet_count"]).iloc[30:50].mean()
    assert ctx.loc[("AAPL", day), "tweet_volume_surprise"] == pytest.approx(np.log1p(own.loc[day, "tweet_count"]) - history)
    audit = audit_no_look_ahead(market_context, frame, MARKET_COLUMNS + TWEET_SURPRISE_COLUMNS)
    assert audit["rows_compared"] > len(frame)


def test_bad_frames_are_refused_by_name():
    frame = _frame(30)
    with pytest.raises(ValueError, match="log_ret_1d"):
        market_context(frame.drop(columns="log_ret_1d"))
    with pytest.raises(ValueError, match="duplicate"):
        market_context(pd.concat([frame, frame.head(1)]))
