"""The generated demo sources (finpulse_assets.sources.demo): determinism, calendar, realism and the sentiment lead."""

import html
import time
from datetime import date

import numpy as np
import pandas as pd
import pytest
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from finpulse_assets.sources.cleaning import clean_prices, clean_tweets
from finpulse_assets.features.market_calendar import (
    MARKET_TZ,
    assign_trading_day,
    next_trading_day,
    session_bounds_utc,
    trading_days,
)
from finpulse_assets.sources import demo
from finpulse_assets.sources.base import RAW_PRICE_COLUMNS, RAW_TWEET_COLUMNS, SourceFileError
from finpulse_assets.sources.demo import DemoPriceSource, DemoTweetSource, generate_ticker

START, END = pd.Timestamp("2023-01-01", tz="UTC"), pd.Timestamp("2025-01-01", tz="UTC")
# Posting windows begin at the close before the first trading day, which lies before START.
ALL_TWEETS = (pd.Timestamp("2022-12-01", tz="UTC"), END)


def _utc(text):
    return pd.Timestamp(text, tz=MARKET_TZ).tz_convert("UTC")


@pytest.fixture(scope="module")
def prices():
    return DemoPriceSource()


@pytest.fixture(scope="module")
def tweets():
    return DemoTweetSource()


@pytest.fixture(scope="module")
def analyzer():
    return SentimentIntensityAnalyzer()


def _compound(analyzer, texts: pd.Series) -> pd.Series:
    # Score each distinct text once; retweets and copies repeat texts.
    unescaped = texts.map(html.unescape)
    scores = {t: analyzer.polarity_scores(t)["compound"] for t in unescaped.unique()}
    return unescaped.map(scores)


def test_same_parameters_give_the_same_rows(prices, tweets):
    first_prices = prices.load_prices(["AAPL", "TSLA"], date(2023, 1, 1), date(2024, 12, 31))
    first_tweets = tweets.load_tweets(["AAPL", "TSLA"], *ALL_TWEETS)
    generate_ticker.cache_clear()  # regenerate rather than read the cache
    pd.testing.assert_frame_equal(first_prices, DemoPriceSource().load_prices(["AAPL", "TSLA"], date(2023, 1, 1),
                                                                               date(2024, 12, 31)))
    pd.testing.assert_frame_equal(first_tweets, DemoTweetSource().load_tweets(["AAPL", "TSLA"], *ALL_TWEETS))
    assert list(first_prices.columns) == RAW_PRICE_COLUMNS and list(first_tweets.columns) == RAW_TWEET_COLUMNS
    assert not DemoPriceSource(seed=8).load_prices(["AAPL"], date(2023, 1, 1), date(2023, 2, 1)).equals(
        prices.load_prices(["AAPL"], date(2023, 1, 1), date(2023, 2, 1)))


def test_a_sub_range_holds_exactly_the_rows_of_the_full_window(prices, tweets):
    full = prices.load_prices(["MSFT"], date(2023, 1, 1), date(2024, 12, 31))
    part = prices.load_prices(["MSFT"], date(2024, 3, 1), date(2024, 3, 28))
    expected = full[(full["date"] >= "2024-03-01") & (full["date"] <= "2024-03-28")].reset_index(drop=True)
    pd.testing.assert_frame_equal(part, expected)
    assert part["date"].iloc[-1] == "2024-03-28"  # end is inclusive for prices

    all_tweets = tweets.load_tweets(["MSFT"], *ALL_TWEETS)
    lo, hi = _utc("2024-03-01 16:00"), _utc("2024-03-08 16:00")
    window = tweets.load_tweets(["MSFT"], lo, hi)
    posted = pd.to_datetime(all_tweets["post_date"], unit="s", utc=True)
    pd.testing.assert_frame_equal(window, all_tweets[(posted >= lo) & (posted < hi)].reset_index(drop=True))
    # [start, end): a tweet posted exactly at start is in, exactly at end is out.
    at = pd.Timestamp(int(window["post_date"].iloc[0]), unit="s", tz="UTC")
    assert tweets.load_tweets(["MSFT"], at, hi)["post_date"].iloc[0] == window["post_date"].iloc[0]
    assert (tweets.load_tweets(["MSFT"], lo, at)["post_date"] < window["post_date"].iloc[0]).all()


def test_prices_exist_on_trading_days_only(prices):
    bars = prices.load_prices(["AAPL"], date(2022, 12, 1), date(2025, 2, 1))  # clipped to the window
    days = pd.to_datetime(bars["date"])
    assert list(days) == list(trading_days(date(2023, 1, 1), date(2024, 12, 31)))
    assert (days.dt.weekday < 5).all()
    for holiday in ("2023-01-02", "2023-07-04", "2024-03-29", "2024-06-19", "2024-12-25"):
        assert holiday not in set(bars["date"])


def test_bars_are_plausible(prices):
    bars = prices.load_prices(demo.DEFAULT_TICKERS, date(2023, 1, 1), date(2024, 12, 31))
    assert (bars[["open", "high", "low", "close", "adj_close", "volume"]] > 0).all().all()
    assert (bars["high"] >= bars[["open", "close"]].max(axis=1)).all()
    assert (bars["low"] <= bars[["open", "close"]].min(axis=1)).all()
    clean, rejects = clean_prices(bars)
    assert rejects.empty and len(clean) == len(bars)

    first = bars.groupby("ticker")["close"].first()
    assert first["MSFT"] > first["AAPL"] > first["AMZN"]  # each ticker has its own price level
    for ticker, one in bars.groupby("ticker"):
        abs_ret = np.log(one["close"]).diff().abs()
        assert abs_ret.corr(np.log(one["volume"]), method="spearman") > 0.3, ticker
    # Dividends: Yahoo-style factor, below 1 early, exactly 1 at the end, never falling.
    factor = (bars["adj_close"] / bars["close"])[bars["ticker"] == "AAPL"]
    assert factor.iloc[0] < 0.995 and factor.iloc[-1] == pytest.approx(1.0)
    assert (factor.diff().dropna() >= -1e-6).all()
    tsla = bars[bars["ticker"] == "TSLA"]
    assert (tsla["adj_close"] == tsla["close"]).all()  # no dividend


def test_tweets_carry_duplicates_retweets_and_clean_up(tweets):
    raw = tweets.load_tweets(["AAPL"], *ALL_TWEETS)
    copies = raw[raw["tweet_id"].duplicated(keep=False)]
    assert 0.005 < raw["tweet_id"].duplicated().mean() < 0.02
    assert (copies.groupby("tweet_id").nunique() == 1).all().all()  # exact copies
    assert raw["tweet_id"].str.fullmatch(r"\d+").all()
    body = raw["body"]
    assert body.str.startswith("RT @").mean() > 0.05
    for marker in ("$AAPL", "http://t.co/", "#", "&amp;", "&gt;", "$SPY", "🚀"):
        assert body.str.contains(marker, regex=False).any(), marker
    assert (raw["comment_num"] == 0).mean() > 0.7
    assert raw["like_num"].max() > 50 * max(raw["like_num"].median(), 1)  # heavy tail

    clean, rejects = clean_tweets(raw)
    assert set(rejects["reason"]) == {"duplicate_tweet_id"}
    assert len(clean) == raw["tweet_id"].nunique()
    assert not clean["text"].str.contains("&amp;").any()


def test_tweets_are_posted_around_the_clock(tweets):
    raw = tweets.load_tweets(["AMZN"], *ALL_TWEETS).drop_duplicates("tweet_id")
    local = pd.to_datetime(raw["post_date"], unit="s", utc=True).dt.tz_convert(MARKET_TZ)
    weekend = local.dt.weekday >= 5
    assert weekend.mean() > 0.05
    market_hours = ((local.dt.hour >= 8) & (local.dt.hour < 17) & ~weekend).mean()
    assert 0.6 < market_hours < 0.8
    # Weekend tweets count toward the next trading day, and only trading days get tweets.
    day = assign_trading_day(pd.to_datetime(raw["post_date"], unit="s", utc=True))
    weekend_dates = local[weekend].dt.date
    next_open = {d: next_trading_day(d) for d in set(weekend_dates)}
    assert (day[weekend.to_numpy()].dt.date == weekend_dates.map(next_open)).all()
    assert set(day) <= set(trading_days(date(2023, 1, 1), date(2024, 12, 31)))
    per_day = day.value_counts()
    assert per_day[per_day.index.weekday == 0].mean() > 1.3 * per_day[per_day.index.weekday == 2].mean()
    assert 20 < per_day[per_day.index < "2024-09-01"].median() < 35


def test_an_unknown_ticker_is_a_source_error(prices, tweets):
    with pytest.raises(SourceFileError, match="NOPE"):
        prices.load_prices(["AAPL", "NOPE"], date(2023, 1, 1), date(2023, 2, 1))
    with pytest.raises(SourceFileError, match="NOPE"):
        tweets.load_tweets(["NOPE"], *ALL_TWEETS)
    assert prices.available_tickers() == tweets.available_tickers() == demo.DEFAULT_TICKERS


def test_adding_a_ticker_leaves_the_others_unchanged():
    few, more = ["AAPL"], ["AAPL", "NVDA", "ZZZZ"]
    pd.testing.assert_frame_equal(
        DemoPriceSource(tickers=few).load_prices(["AAPL"], date(2023, 1, 1), date(2024, 12, 31)),
        DemoPriceSource(tickers=more).load_prices(["AAPL"], date(2023, 1, 1), date(2024, 12, 31)))
    pd.testing.assert_frame_equal(DemoTweetSource(tickers=few).load_tweets(["AAPL"], *ALL_TWEETS),
                                  DemoTweetSource(tickers=more).load_tweets(["AAPL"], *ALL_TWEETS))
    unknown = DemoPriceSource(tickers=more).load_prices(["ZZZZ"], date(2023, 1, 1), date(2023, 3, 1))
    assert len(unknown) > 30 and (unknown["close"] > 0).all()


def test_vocabularies_score_as_labelled(analyzer):
    for phrase in demo.POSITIVE + demo.POSITIVE_NEW:
        assert analyzer.polarity_scores(html.unescape(phrase))["compound"] >= 0.05, phrase
    for phrase in demo.NEGATIVE + demo.NEGATIVE_NEW:
        assert analyzer.polarity_scores(html.unescape(phrase))["compound"] <= -0.05, phrase
    for phrase in demo.NEUTRAL + demo.NEUTRAL_NEW:
        assert analyzer.polarity_scores(html.unescape(phrase))["compound"] == 0, phrase


@pytest.fixture(scope="module")
def daily_aapl(tweets, analyzer):
    """Per trading day: mean VADER compound of its posting window, tweet count, next-day log return, latent."""
    raw = tweets.load_tweets(["AAPL"], *ALL_TWEETS).drop_duplicates("tweet_id")
    raw = raw.assign(compound=_compound(analyzer, raw["body"]).to_numpy())
    posted = pd.to_datetime(raw["post_date"], unit="s", utc=True)
    bars = DemoPriceSource().load_prices(["AAPL"], date(2023, 1, 1), date(2024, 12, 31))
    latent = tweets.market("AAPL").latent.set_index("date").add_prefix("latent_")
    rows = []
    for day in pd.to_datetime(bars["date"]):
        lo, hi = session_bounds_utc(day.date())  # (previous close, close]
        in_window = raw["compound"][(posted > lo) & (posted <= hi)]
        rows.append({"date": day, "sentiment": in_window.mean(), "tweets": len(in_window)})
    daily = pd.DataFrame(rows).set_index("date")
    log_ret = np.log(bars["adj_close"]).diff().to_numpy()
    daily["ret"] = log_ret
    daily["next_ret"] = np.append(log_ret[1:], np.nan)
    return daily.join(latent)


def test_day_t_sentiment_leads_day_t_plus_1_return(daily_aapl):
    rho = daily_aapl["sentiment"].corr(daily_aapl["next_ret"], method="spearman")
    assert rho > 0.15
    # No look-ahead: day t's tweets know nothing of day t+1's own noise (its shock minus the lead term).
    lead = DemoTweetSource().sentiment_lead
    noise = daily_aapl["latent_shock"] - lead * daily_aapl["latent_sentiment"].shift(1)
    assert abs(daily_aapl["sentiment"].corr(noise.shift(-1), method="spearman")) < 0.12
    assert daily_aapl["tweets"].corr(daily_aapl["ret"].abs(), method="spearman") > 0.2  # big moves, more tweets


def test_regime_shift_changes_volatility_tweets_and_sentiment(daily_aapl, tweets):
    shifted = daily_aapl["latent_shifted"]
    assert 0.1 < shifted.mean() < 0.2
    before, after = daily_aapl[~shifted], daily_aapl[shifted]
    assert after["ret"].std() > 1.2 * before["ret"].std()
    assert after["tweets"].mean() > 1.3 * before["tweets"].mean()
    assert after["sentiment"].mean() < before["sentiment"].mean() - 0.05
    # New vocabulary appears only after the shift.
    raw = tweets.load_tweets(["AAPL"], *ALL_TWEETS)
    new_words = raw["body"].str.contains("recession|tariff|rate cuts", regex=True)
    shift_opens = session_bounds_utc(shifted.idxmax().date())[0].timestamp()
    assert new_words.any() and (raw.loc[new_words, "post_date"] > shift_opens).all()


def test_generation_is_fast():
    generate_ticker.cache_clear()
    # CPU time of this process: wall time also counts the other test workers and jobs sharing the cores.
    began = time.process_time()
    for ticker in demo.DEFAULT_TICKERS:
        generate_ticker(7, ticker, "2023-01-01", "2025-01-01", 0.35, 25.0, 0.85)
    assert time.process_time() - began < 2.0
