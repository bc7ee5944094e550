"""Generated demo market: seeded, offline tweets and daily prices that agree with each other.

One generator (`generate_ticker`, lru-cached on its parameters) builds the price
bars, the tweets and the latent state (`DemoMarket`) of one ticker over the whole
window; `DemoPriceSource` and `DemoTweetSource` (both `DemoWindow`s: seed,
tickers, start, end, sentiment_lead, tweets_per_day, regime_shift_at) only
filter its output, so two sources with the same parameters agree. A ticker not
in `tickers` raises SourceFileError naming it. Properties, per ticker:

Determinism and stability
  * Everything is drawn from numpy generators seeded by (seed, zlib.crc32(ticker)),
    never Python's salted hash(): the same parameters give the same rows in
    every process, and adding or removing a ticker leaves the others unchanged.
    Prices and tweets use separate streams, so `tweets_per_day` changes tweets only.
  * The window [start, end) is generated as a whole and then filtered, so any
    sub-range holds exactly the rows of the full window on those dates.

Prices (`load_prices`, the Yahoo layout)
  * Bars on NYSE trading days only (`market_calendar.trading_days`); dates are
    'YYYY-MM-DD' strings. Price level, volatility, drift, dividend yield and
    volume come from a per-ticker profile (approximate early-2023 values for
    AAPL, AMZN, MSFT, TSLA; derived from the ticker's hash otherwise).
  * Close is a geometric random walk with Student-t (df 5) shocks. Volatility
    follows a 2-state Markov chain: the high state has 1.9x the daily volatility,
    P(low->high) = 0.03 and P(high->low) = 0.12 per day.
  * Day t's log return is drift - sigma_t**2 / 2 + sigma_t * shock_t, with the
    standardised shock_t = lead * s[t-1] + sqrt(1 - lead**2) * eps_t, where s is
    the latent sentiment below and lead = `sentiment_lead`: shock of t+1 has
    correlation `lead` with s[t].
  * Open gaps from the previous close by part of the day's move plus noise;
    high >= max(open, close) and low <= min(open, close), all positive, rounded
    to cents (rounding is monotone, so the ordering survives it).
  * adj_close = close * factor, with quarterly ex-dividend steps as Yahoo
    adjusts them: the factor is 1 on the last day of the window and drops by
    a quarter of the yearly yield (0.15 % for AAPL) at each ex-date going
    back; it is 1 throughout for tickers without a dividend.
  * Volume is lognormal around the ticker's level, rises with |standardised
    return| and in the high-volatility state, and is autocorrelated.

Sentiment (the link between the two)
  * A latent daily sentiment s[t] per ticker: AR(1), persistence 0.4, unit
    variance, mean 0. The tone of day t's tweets is s[t] + 0.3 * shock_t (the
    crowd reacts to the day's own move) + a regime offset. Tweets of day t
    therefore know s[t] and day t's move, and nothing about day t+1's noise
    eps[t+1]: the only way they predict t+1 is the intended lead through s[t].
  * Each tweet is positive, negative or neutral: P(positive) = 0.36 + 0.26 *
    tanh(0.8 * tone), P(negative) = 0.24 - 0.20 * tanh(0.8 * tone), the rest
    neutral. Positive and negative tweets draw phrases from vocabularies VADER
    scores as such ("soaring after great earnings", "terrible guidance"),
    neutral ones from phrases it scores 0, so the day's mean VADER compound
    follows s[t] (Spearman with next-day return about 0.3 over two years).

Tweets (`load_tweets`, the Kaggle layout)
  * Day t's tweets are posted in its posting window (previous close, close of t]
    as `market_calendar` assigns them, including nights, weekends and holidays
    (the first window opens at the close before `start`). The rate per hour
    depends on the New York hour: about 70 % of all tweets are posted between
    08:00 and 17:00 of a trading day; closed days run at about 30 % of a
    trading day's rate. So Monday's window (Friday 16:00 to Monday 16:00)
    holds about 1.6x a midweek day's tweets, and weekend tweets count toward
    the next trading day.
  * Day t's count is Poisson with a mean proportional to the hourly rate summed
    over its window, times exp(0.35 * |shock_t|) (more on big-move days), times
    a lognormal day factor (sd 0.25, overdispersion); scaled so that the mean
    over the days before the regime shift is `tweets_per_day`.
  * Text: an optional opener or @mention, the $TICKER cashtag and a phrase in
    either order, and optionally a short tail, another cashtag (from a fixed
    list, $SPY, $NVDA, ..., so texts never depend on the configured tickers),
    a hashtag, an emoji (some VADER reads wrong, e.g. the rocket as neutral
    and fire as negative) and a http://t.co/ link. Some phrases carry HTML entities (&amp; &gt;).
  * About 12 % are retweets, "RT @writer: " + the text of one of the 20
    preceding original tweets; about 1 % of rows are exact copies of another row
    (same tweet_id), to exercise deduplication.
  * tweet_id is a digit string shaped like a Twitter snowflake (it grows with
    post time; unique per ticker apart from the copies). Writers come from a
    pool of a few hundred names with Zipf-like activity. like_num and
    retweet_num are heavy-tailed (lognormal, most 0 or small, a few in the
    hundreds); comment_num is 0 for about 80 %; retweets have no engagement.

Regime shift (after `regime_shift_at` of the window's trading days)
  * Volatility 1.35x with more time in the high state (P(low->high) = 0.12,
    P(high->low) = 0.08), drift lower by 0.15 % a day, tweets 1.6x as many,
    tweet tone lower by 0.5 and half of the phrases and hashtags drawn from a
    new vocabulary (recession, tariffs, AI, rate cuts). Drift reports on price
    and sentiment features see the last ~15 % of the default window differ.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

import numpy as np
import pandas as pd
from dagster import ConfigurableResource

from finpulse_assets.features.market_calendar import MARKET_TZ, close_utc, previous_trading_day, trading_days
from finpulse_assets.sources.base import (
    RAW_PRICE_COLUMNS,
    RAW_TWEET_COLUMNS,
    PriceSource,
    SourceFileError,
    TweetSource,
)

DEFAULT_TICKERS = ["AAPL", "AMZN", "MSFT", "TSLA"]


@dataclass(frozen=True)
class TickerProfile:
    price: float  # first open, in dollars
    vol: float  # daily log-return volatility in the low-volatility state
    drift: float  # daily log drift before the regime shift
    dividend_yield: float  # yearly; paid quarterly
    volume: float  # typical daily shares


PROFILES = {
    "AAPL": TickerProfile(125.0, 0.013, 0.0006, 0.006, 7.0e7),
    "AMZN": TickerProfile(85.0, 0.017, 0.0007, 0.0, 6.5e7),
    "MSFT": TickerProfile(240.0, 0.013, 0.0005, 0.009, 2.8e7),
    "TSLA": TickerProfile(110.0, 0.030, 0.0008, 0.0, 1.2e8),
}


def _ticker_hash(ticker: str) -> int:
    return zlib.crc32(ticker.encode("utf-8"))


def ticker_profile(ticker: str) -> TickerProfile:
    """The ticker's profile; tickers without one get a stable one from their hash."""
    if ticker in PROFILES:
        return PROFILES[ticker]
    h = _ticker_hash(ticker)
    return TickerProfile(price=20.0 + h % 300, vol=0.012 + (h >> 9) % 20 * 0.001, drift=0.0004,
                         dividend_yield=0.01 if h % 2 else 0.0, volume=5e6 + (h >> 13) % 50 * 1e6)


# --- Vocabularies -----------------------------------------------------------------
# Each phrase list is checked against VADER in the tests: positive phrases score
# >= 0.05, negative <= -0.05, neutral exactly 0. "_NEW" lists enter after the
# regime shift.
POSITIVE = [
    "soaring after great earnings", "great earnings, strong guidance", "looking strong into the close",
    "beat and raise, love it", "breaking out to new highs, excellent", "impressive growth this quarter",
    "strong buy, very happy holding this", "upgrade from analysts, great news", "buying more, confident here",
    "solid quarter and a nice rally", "best product cycle in years", "momentum is amazing",
    "record revenue, outstanding", "gains all day, big win", "huge win for longs", "this rally looks healthy",
    "good entry, happy with the fill", "excited about the new launch", "fantastic execution by management",
    "love the buyback &amp; the margins",
]
POSITIVE_NEW = [
    "AI demand is incredible, great upside", "rate cuts are great for this name", "winning big on the AI trade",
    "strong recovery, optimistic", "love the resilience here", "AI &amp; cloud growth is impressive",
]
NEGATIVE = [
    "terrible guidance", "crashing hard today", "awful quarter, selling", "sell-off is getting ugly",
    "weak demand, disappointing numbers", "breaking down, bad chart", "downgrade hurts, painful",
    "losing money on this, horrible", "lawsuit risk is a problem", "worst day in months", "missed estimates, ugly",
    "bagholders are panicking", "this drop is brutal", "overvalued and failing", "fear is spreading",
    "poor margins, worried", "terrible entry, cut my loss", "guidance cut -&gt; crash",
]
NEGATIVE_NEW = [
    "recession fears everywhere", "tariff panic, crash incoming", "layoffs and weak outlook, scary",
    "worried about the slowdown", "AI bubble fears, ugly tape", "recession risk is killing this",
]
NEUTRAL = [
    "earnings next week", "watching the 50 day moving average", "options expiring friday", "volume picking up",
    "chart update", "what is the consensus here", "position unchanged", "S&amp;P futures flat this morning",
    "price target 200 -&gt; 210 per analyst note", "conference call at 5pm ET", "new 10-Q filed",
    "Q&amp;A session tomorrow", "sector rotation today", "holding through earnings", "anyone trading this today",
    "insider filing update", "annual meeting coming up", "watching the open",
]
NEUTRAL_NEW = [
    "Fed meeting this week", "CPI print at 8:30", "tariff headlines again", "AI capex numbers out",
    "bond yields moving", "election week positioning",
]
TAILS = {
    "positive": ["To the moon!", "Loading up.", "Love this company.", "Great entry.", "Nice.", "Let's go!"],
    "negative": ["Get out while you can.", "Not good.", "Ugly.", "Sad.", "Terrible.", "Avoid."],
    "neutral": ["We'll see.", "Watching.", "Thoughts?", "More later.", "Noted.", "Stay tuned."],
}
EMOJI = {
    "positive": ["🚀", "📈", "💰", "😀", "🔥", "💪"],
    "negative": ["📉", "😱", "😭", "💀", "🤡"],
    "neutral": ["👀", "🤔", "📊"],
}
HASHTAGS = ["#stocks", "#investing", "#trading", "#earnings", "#wallstreet", "#stockmarket", "#options"]
HASHTAGS_NEW = ["#recession", "#tariffs", "#volatility", "#AI", "#ratecuts", "#Fed"]
# Cashtags of names outside the demo profiles, so other tickers' data never feeds in.
OTHER_CASHTAGS = ["$SPY", "$QQQ", "$NVDA", "$GOOG", "$META", "$AMD", "$NFLX", "$INTC", "$DIS", "$BA"]
OPENERS = ["Heads up: ", "Morning, ", "Update: ", "Just saw this: ", "FYI ", "Ok so ", "Wow, "]
SEPARATORS = [" ", " ", " ", ": ", " - ", " ... "]
TRAILERS = ["", "", "", " today", " imo", " right now", " this week"]
NAME_HEADS = ["Bull", "Bear", "Alpha", "Stock", "Chart", "Value", "Macro", "Options", "Tape", "Wall", "Market",
              "Trend", "Swing", "Dividend", "Quant", "Penny", "Theta", "Gamma", "Ticker", "Candle"]
NAME_TAILS = ["Trader", "Guru", "Watcher", "Hawk", "Capital", "Investor", "Maven", "Wizard", "Daily", "Signals",
              "Mike", "Jen", "Dan", "Sam", "Lee", "Ops", "Labs", "Desk"]
CLASSES = ["positive", "negative", "neutral"]
PHRASES = {"positive": (POSITIVE, POSITIVE_NEW), "negative": (NEGATIVE, NEGATIVE_NEW),
           "neutral": (NEUTRAL, NEUTRAL_NEW)}

# Tweets per hour by New York hour, on trading days and on closed days
# (weekends, holidays). About 70 % of all tweets fall in 08:00-17:00 of trading days.
OPEN_DAY_HOURLY = np.array([0.15, 0.1, 0.1, 0.1, 0.15, 0.25, 0.4, 0.7, 1.7, 3.5, 3.2, 2.6,
                            2.2, 2.2, 2.4, 3.0, 2.4, 1.0, 0.7, 0.6, 0.5, 0.45, 0.35, 0.25])
CLOSED_DAY_HOURLY = np.array([0.15, 0.1, 0.08, 0.08, 0.08, 0.1, 0.15, 0.25, 0.35, 0.45, 0.55, 0.6,
                              0.6, 0.6, 0.6, 0.6, 0.55, 0.55, 0.55, 0.55, 0.5, 0.45, 0.35, 0.25])

TWITTER_EPOCH_MS = 1288834974657  # snowflake ids count milliseconds from here
RETWEET_SHARE = 0.12
DUPLICATE_SHARE = 0.01
TONE_REACTION = 0.3  # how much the day's own move colours its tweets
DAY_BUZZ_SD = 0.25  # sd of the lognormal factor on each day's expected tweet count (overdispersion)
SENTIMENT_PERSISTENCE = 0.4


@dataclass(frozen=True)
class DemoMarket:
    """One ticker's generated window. Treat as read-only: it is cached."""

    prices: pd.DataFrame  # RAW_PRICE_COLUMNS, one row per trading day
    tweets: pd.DataFrame  # RAW_TWEET_COLUMNS, sorted by post_date
    latent: pd.DataFrame  # per trading day: date, sentiment, shock, tone, high_vol, shifted (for tests and docs)


def ticker_rng(seed: int, ticker: str, stream: int) -> np.random.Generator:
    """One seeded random stream per (seed, ticker, stream): the demo's and the synthetic universe's draws."""
    return np.random.default_rng(np.random.SeedSequence([seed, _ticker_hash(ticker), stream]))


def _ar1(shocks: np.ndarray, phi: float) -> np.ndarray:
    # Unit-variance AR(1); 500 steps a ticker, so a plain loop is cheap.
    out = np.empty_like(shocks)
    out[0] = shocks[0]
    scale = np.sqrt(1 - phi**2)
    for i in range(1, len(shocks)):
        out[i] = phi * out[i - 1] + scale * shocks[i]
    return out


def _markov_high_vol(u: np.ndarray, shifted: np.ndarray) -> np.ndarray:
    """2-state volatility regime from uniforms: True on high-volatility days."""
    to_high = np.where(shifted, 0.12, 0.03)
    stay_high = np.where(shifted, 0.92, 0.88)
    state = np.empty(len(u), dtype=bool)
    high = u[0] < 0.2  # start from the pre-shift stationary share of high days
    for i in range(len(u)):
        if i:
            high = u[i] < (stay_high[i] if high else to_high[i])
        state[i] = high
    return state


def _pick(rng: np.random.Generator, groups: list[list[str]], which: np.ndarray) -> np.ndarray:
    """One random element of groups[which[i]] for each i, vectorised."""
    flat = np.array([w for g in groups for w in g], dtype=object)
    sizes = np.array([len(g) for g in groups])
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    return flat[offsets[which] + (rng.random(len(which)) * sizes[which]).astype(int)]


def _maybe(rng: np.random.Generator, p: float, values: np.ndarray, prefix: str = " ") -> np.ndarray:
    """prefix + value with probability p, else the empty string."""
    keep = rng.random(len(values)) < p
    return np.where(keep, prefix + values.astype(object), "")


# --- Prices -------------------------------------------------------------------------
def _simulate_prices(rng, ticker, days, lead, shifted):
    """Bars, the latent sentiment and the standardised daily shocks."""
    n = len(days)
    prof = ticker_profile(ticker)
    high_vol = _markov_high_vol(rng.random(n), shifted)
    sigma = prof.vol * np.where(high_vol, 1.9, 1.0) * np.where(shifted, 1.35, 1.0)
    # s[0] is the day before the window, so day 0's return has a lead term too.
    sentiment = _ar1(rng.standard_normal(n + 1), SENTIMENT_PERSISTENCE)
    eps = rng.standard_t(5, n) / np.sqrt(5 / 3)  # fat tails, unit variance
    shock = lead * sentiment[:-1] + np.sqrt(1 - lead**2) * eps
    drift = prof.drift - np.where(shifted, 0.0015, 0.0)
    log_ret = drift - 0.5 * sigma**2 + sigma * shock

    close = prof.price * np.exp(np.cumsum(log_ret))
    prev_close = np.concatenate([[prof.price], close[:-1]])
    open_ = prev_close * np.exp(0.3 * log_ret + 0.2 * sigma * rng.standard_normal(n))
    high = np.maximum(open_, close) * np.exp(0.6 * sigma * np.abs(rng.standard_normal(n)))
    low = np.minimum(open_, close) * np.exp(-0.6 * sigma * np.abs(rng.standard_normal(n)))

    # Quarterly ex-dates; Yahoo scales every bar before an ex-date by (1 - dividend / close).
    step = np.ones(n)
    if prof.dividend_yield > 0:
        ex_dates = np.arange(_ticker_hash(ticker) % 63, n, 63)
        step[ex_dates] = 1 - prof.dividend_yield / 4
    factor = np.concatenate([np.cumprod(step[::-1])[::-1][1:], [1.0]])

    log_volume = (np.log(prof.volume) + 0.35 * np.abs(shock) + 0.3 * high_vol
                  + 0.2 * _ar1(rng.standard_normal(n), 0.6) - 0.3)
    close_c = np.round(close, 2)
    prices = pd.DataFrame({
        "ticker": ticker,
        "date": days.strftime("%Y-%m-%d"),
        "open": np.round(open_, 2),
        "high": np.round(high, 2),
        "low": np.round(low, 2),
        "close": close_c,
        "adj_close": np.round(close_c * factor, 6),
        "volume": np.round(np.exp(log_volume)).astype("int64"),
    }, columns=RAW_PRICE_COLUMNS)
    return prices, high_vol, sentiment[1:], shock


# --- Tweets -------------------------------------------------------------------------
def _hour_grid(days: pd.DatetimeIndex):
    """UTC hour starts covering the posting windows of `days`, their weights, and each window's hour range."""
    closes = pd.DatetimeIndex([close_utc(d) for d in days])
    first_open = close_utc(previous_trading_day(days[0].date()))
    hours = pd.date_range(first_open, closes[-1], freq="h", inclusive="left")
    local = hours.tz_convert(MARKET_TZ)
    local_day = local.tz_localize(None).normalize()
    open_days = trading_days(local_day[0].date(), local_day[-1].date())
    is_open = local_day.isin(open_days)
    weight = np.where(is_open, OPEN_DAY_HOURLY[local.hour], CLOSED_DAY_HOURLY[local.hour])
    # Window t is the hours starting in [close of t-1, close of t).
    bounds = np.concatenate([[0], hours.searchsorted(closes)])
    return hours, weight, bounds


def _writer_pool(rng, size: int) -> np.ndarray:
    heads = rng.choice(NAME_HEADS, size)
    tails = rng.choice(NAME_TAILS, size)
    numbers = rng.integers(0, 1000, size).astype(str)
    style = rng.integers(0, 3, size)
    names = heads.astype(object) + np.where(style == 1, "_", "") + tails + np.where(style == 2, numbers, "")
    return pd.unique(names)


def _post_times(rng, days, abs_shock, shifted, tweets_per_day, day_buzz_sd):
    """Trading-day index and Unix post second of each tweet, in posting order."""
    hours, weight, bounds = _hour_grid(days)
    cum_weight = np.concatenate([[0.0], np.cumsum(weight)])
    window_weight = cum_weight[bounds[1:]] - cum_weight[bounds[:-1]]

    # Expected count: window length x big-move boost x day buzz, scaled to tweets_per_day.
    raw = window_weight * np.exp(0.35 * abs_shock) * np.exp(day_buzz_sd * rng.standard_normal(len(days)))
    base = raw[~shifted].mean() if (~shifted).any() else raw.mean()
    expected = tweets_per_day * raw / base * np.where(shifted, 1.6, 1.0)
    day = np.repeat(np.arange(len(days)), rng.poisson(expected))
    n = len(day)

    # An hour of the day's window by weight, then a second in (hour start, hour start + 1h].
    target = cum_weight[bounds[day]] + rng.random(n) * window_weight[day]
    hour = np.clip(np.searchsorted(cum_weight, target, side="right") - 1, bounds[day], bounds[day + 1] - 1)
    posted = hours.asi8[hour] // 10**9 + rng.integers(1, 3601, n)
    order = np.argsort(posted, kind="stable")
    return day[order], posted[order]


def _bodies(rng, ticker, cls, era, writers):
    """Tweet texts: opener, cashtag and phrase in either order, optional extras."""
    n = len(cls)
    one = np.zeros(n, dtype=int)  # group index for single-list picks
    phrase = _pick(rng, [PHRASES[c][e] for c in CLASSES for e in (0, 1)], cls * 2 + era)
    cashtag = np.full(n, "$" + ticker, dtype=object)
    flip = rng.random(n) < 0.3
    mention = "@" + writers[rng.integers(0, len(writers), n)] + " "
    opener = np.where(rng.random(n) < 0.5, _pick(rng, [OPENERS], one), mention)
    return (np.where(rng.random(n) < 0.2, opener, "")
            + np.where(flip, phrase, cashtag) + _pick(rng, [SEPARATORS], one) + np.where(flip, cashtag, phrase)
            + _pick(rng, [TRAILERS], one)
            + _maybe(rng, 0.3, _pick(rng, [TAILS[c] for c in CLASSES], cls), prefix=". ")
            + _maybe(rng, 0.15, _pick(rng, [OTHER_CASHTAGS], one))
            + _maybe(rng, 0.35, _pick(rng, [HASHTAGS, HASHTAGS_NEW], era))
            + _maybe(rng, 0.3, _pick(rng, [EMOJI[c] for c in CLASSES], cls))
            + _maybe(rng, 0.3, _short_links(rng, n)))


def _short_links(rng, n: int) -> np.ndarray:
    alphabet = np.array(list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"), dtype="<U1")
    chars = alphabet[rng.integers(0, len(alphabet), (n, 10))]
    # A C-contiguous (n, 10) array of 1-char strings viewed as n 10-char strings.
    return np.char.add("http://t.co/", np.ascontiguousarray(chars).view("<U10").ravel())


def _retweets(rng, body, writer):
    """About RETWEET_SHARE of rows become "RT @writer: text" of one of the 20 preceding originals."""
    n = len(body)
    retweet = rng.random(n) < RETWEET_SHARE
    originals = np.flatnonzero(~retweet)
    seen = np.searchsorted(originals, np.arange(n))  # originals posted before each row
    retweet &= seen > 0
    back = np.minimum(rng.integers(1, 21, n), np.maximum(seen, 1))
    source = originals[np.maximum(seen - back, 0)]
    return np.where(retweet, "RT @" + writer[source] + ": " + body[source], body), retweet


def simulate_tweets(rng: np.random.Generator, ticker: str, latent: pd.DataFrame, tweets_per_day: float,
                    day_buzz_sd: float = DAY_BUZZ_SD) -> pd.DataFrame:
    """Raw tweets (RAW_TWEET_COLUMNS) of `ticker` on the consecutive trading days of `latent` (`simulate_market`'s
    frame or a contiguous slice of it); `day_buzz_sd`: sd of the lognormal factor on each day's count."""
    days = pd.DatetimeIndex(latent["date"])
    tone, shifted = latent["tone"].to_numpy(), latent["shifted"].to_numpy()
    day, posted = _post_times(rng, days, np.abs(latent["shock"].to_numpy()), shifted, tweets_per_day, day_buzz_sd)
    n = len(day)

    # Class from the day's tone; after the shift half the words come from the new vocabulary.
    squash = np.tanh(0.8 * tone[day])
    p_pos, p_neg = 0.36 + 0.26 * squash, 0.24 - 0.20 * squash
    u = rng.random(n)
    cls = np.where(u < p_pos, 0, np.where(u < p_pos + p_neg, 1, 2))
    era = (shifted[day] & (rng.random(n) < 0.5)).astype(int)

    writers = _writer_pool(rng, 400)
    activity = 1 / (np.arange(len(writers)) + 5.0) ** 1.1  # Zipf-like: a few accounts post most
    writer_idx = rng.choice(len(writers), n, p=activity / activity.sum())
    writer = writers[writer_idx]
    body, retweet = _retweets(rng, _bodies(rng, ticker, cls, era, writers), writer)

    # Heavy-tailed engagement, more for the busiest writers; retweet rows carry none.
    reach = 1.0 + 2.0 * (writer_idx < 20)
    like = np.floor(np.exp(rng.normal(-0.3, 1.6, n)) * reach).astype("int64")
    retweets = rng.binomial(like, 0.2) + (rng.random(n) < 0.05)
    comments = np.where(rng.random(n) < 0.8, 0, rng.geometric(0.5, n))
    like, retweets, comments = (np.where(retweet, 0, x).astype("int64") for x in (like, retweets, comments))

    # Snowflake-shaped ids: milliseconds, a per-ticker worker id, a sequence number.
    millis = posted * 1000 + rng.integers(0, 1000, n)
    worker = _ticker_hash(ticker) & 0x3FF
    ids = ((millis - TWITTER_EPOCH_MS) << 22) | (worker << 12) | (np.arange(n) & 0xFFF)

    tweets = pd.DataFrame({
        "tweet_id": ids.astype(str), "writer": writer.astype(str), "post_date": posted.astype("int64"),
        "body": body.astype(str), "comment_num": comments, "retweet_num": retweets, "like_num": like,
        "ticker": ticker,
    }, columns=RAW_TWEET_COLUMNS)
    # Exact copies of ~1 % of rows, next to their originals as a re-crawl would leave them.
    copies = rng.choice(n, int(round(DUPLICATE_SHARE * n)), replace=False)
    rows = np.sort(np.concatenate([np.arange(n), copies]), kind="stable")
    return tweets.iloc[rows].reset_index(drop=True)


@lru_cache(maxsize=64)
def generate_ticker(seed: int, ticker: str, start: str, end: str, sentiment_lead: float = 0.35,
                    tweets_per_day: float = 25.0, regime_shift_at: float = 0.85) -> DemoMarket:
    """Prices, tweets and latent state of one ticker for trading days in [start, end)."""
    if tweets_per_day < 0:
        raise ValueError(f"tweets_per_day={tweets_per_day}: expected a non-negative rate")
    prices, latent = simulate_market(seed, ticker, start, end, sentiment_lead, regime_shift_at)
    tweets = simulate_tweets(ticker_rng(seed, ticker, 1), ticker, latent, tweets_per_day)
    return DemoMarket(prices=prices, tweets=tweets, latent=latent)


def simulate_market(seed: int, ticker: str, start: str, end: str, sentiment_lead: float = 0.35,
                    regime_shift_at: float = 0.85) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Price bars (RAW_PRICE_COLUMNS) and latent state (date, sentiment, shock, tone, high_vol, shifted) of one
    ticker for trading days in [start, end): everything but the tweets, which `simulate_tweets` draws from it."""
    if not -1.0 <= sentiment_lead <= 1.0:
        raise ValueError(f"sentiment_lead={sentiment_lead}: expected a value in [-1, 1]")
    if not 0.0 <= regime_shift_at <= 1.0:
        raise ValueError(f"regime_shift_at={regime_shift_at}: expected a fraction in [0, 1]")
    days = trading_days(pd.Timestamp(start).date(), (pd.Timestamp(end) - pd.Timedelta(days=1)).date())
    if len(days) == 0:
        raise ValueError(f"demo window [{start}, {end}) holds no trading day")
    shifted = np.arange(len(days)) >= int(round(regime_shift_at * len(days)))

    prices, high_vol, sentiment, shock = _simulate_prices(ticker_rng(seed, ticker, 0), ticker, days,
                                                          sentiment_lead, shifted)
    tone = sentiment + TONE_REACTION * shock - 0.5 * shifted
    latent = pd.DataFrame({"date": days, "sentiment": sentiment, "shock": shock, "tone": tone,
                           "high_vol": high_vol, "shifted": shifted})
    return prices, latent


# --- Resources ----------------------------------------------------------------------
class DemoWindow(ConfigurableResource):
    """The generator's parameters, shared by both demo sources: equal parameters, consistent data."""

    seed: int = 7
    tickers: list[str] = list(DEFAULT_TICKERS)
    start: str = "2023-01-01"  # first day of the generated window
    end: str = "2025-01-01"  # exclusive
    sentiment_lead: float = 0.35  # correlation of day t's latent sentiment with t+1's standardised return
    tweets_per_day: float = 25.0  # mean tweets per ticker per trading day before the regime shift
    regime_shift_at: float = 0.85  # fraction of the window's trading days before the shift

    def market(self, ticker: str) -> DemoMarket:
        """The ticker's generated window; SourceFileError for a ticker not in `tickers`."""
        if ticker not in self.tickers:
            raise SourceFileError(f"demo:{ticker}", f"unknown ticker {ticker!r}; the demo source generates "
                                  f"{', '.join(self.tickers) or 'no tickers'}")
        return generate_ticker(self.seed, ticker, self.start, self.end, float(self.sentiment_lead),
                               float(self.tweets_per_day), float(self.regime_shift_at))

    def available_tickers(self) -> list[str]:
        return list(self.tickers)


def _concat(parts: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)


class DemoTweetSource(DemoWindow, TweetSource):
    """Generated tweets that agree with a DemoPriceSource of the same parameters."""

    def load_tweets(self, tickers: Sequence[str], start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        """Tweets posted in [start, end) (naive bounds are taken as UTC); unknown tickers raise."""
        lo, hi = _utc_seconds(start), _utc_seconds(end)
        parts = []
        for ticker in tickers:
            tweets = self.market(ticker).tweets
            parts.append(tweets[(tweets["post_date"] >= lo) & (tweets["post_date"] < hi)])
        return _concat(parts, RAW_TWEET_COLUMNS)


class DemoPriceSource(DemoWindow, PriceSource):
    """Generated daily bars that agree with a DemoTweetSource of the same parameters."""

    def load_prices(self, tickers: Sequence[str], start: date, end: date) -> pd.DataFrame:
        """Bars with start <= date <= end, clipped to the generated window; unknown tickers raise."""
        # ISO date strings order like the dates they name.
        lo, hi = pd.Timestamp(start).strftime("%Y-%m-%d"), pd.Timestamp(end).strftime("%Y-%m-%d")
        parts = []
        for ticker in tickers:
            prices = self.market(ticker).prices
            parts.append(prices[(prices["date"] >= lo) & (prices["date"] <= hi)])
        return _concat(parts, RAW_PRICE_COLUMNS)


def _utc_seconds(ts) -> float:
    ts = pd.Timestamp(ts)
    return (ts.tz_localize("UTC") if ts.tzinfo is None else ts).timestamp()
