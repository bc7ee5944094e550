"""Row-level validation shared by every source.

Bad rows are dropped and counted by reason; the partition still materializes.
Each reject keeps the ticker and, where it could be parsed, the trading day,
so counts land in the metadata of the partition the row belonged to.

No value crashes a run: non-finite and out-of-range numbers and timestamps in
any column are rejected rows like any other, so for every frame
`len(raw) == len(clean) + len(rejects)` (docs/reliability.md lists the rules).
Duplicates: the first row of a key in the source's order is the row; later rows
with the same key are `duplicate_*` rejects, whatever their content (a source
that reads a file hands rows over in file order, so a copy with an earlier
post_date never replaces the tweet that was there first).
"""

from __future__ import annotations

import html
import re

import numpy as np
import pandas as pd

from finpulse_assets.features.market_calendar import assign_trading_day

REJECT_COLUMNS = ["ticker", "day", "reason"]
_WHITESPACE = re.compile(r"\s+")
_SURROGATE = re.compile(r"[\ud800-\udfff]")

# Posting times a tweet can have: Twitter's first day .. 2100. Milliseconds since the epoch
# (1.4e12), -1 and 1e30 fall outside and are counted as out of range, never silently shifted.
FIRST_POST_SECONDS = pd.Timestamp("2006-03-21", tz="UTC").timestamp()
LAST_POST_SECONDS = pd.Timestamp("2100-01-01", tz="UTC").timestamp()
# A post time later than this after the run started is a wrong clock or a wrong unit: it would fall in a day
# no run covers yet and vanish from every count, so it is rejected as post_date_in_future.
FUTURE_SLACK = pd.Timedelta(days=1)


def latest_post_seconds() -> float:
    """The latest usable post time: now plus FUTURE_SLACK (and never past LAST_POST_SECONDS)."""
    return min(LAST_POST_SECONDS, (pd.Timestamp.now(tz="UTC") + FUTURE_SLACK).timestamp())


# Control characters other than tab, newline and carriage return (a NUL is read as SUB, see sources/csv_files.py).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# A tweet id that went through a float (a spreadsheet): '5.52e+17' or '552000000000000000.0' lost digits.
_FLOAT_ID = re.compile(r"^\s*[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+|\.[0-9]*)\s*$")
# Engagement counts above this are not counts (the largest like count on record is ~1e7).
MAX_ENGAGEMENT = 10**12
# Prices and volumes outside these are data errors (the highest US share price is below 1e6).
MAX_PRICE = 1e7
MAX_VOLUME = 1e13
# Source flag: the row repeats a key seen earlier in the whole file (kaggle_csv sets it).
REPEAT_COLUMN = "repeat_of_earlier_row"


def _rejects(frame: pd.DataFrame, mask: pd.Series, reason: str, day: pd.Series) -> pd.DataFrame:
    return pd.DataFrame({"ticker": frame.loc[mask, "ticker"].astype(str).to_numpy(),
                         "day": day[mask].to_numpy(), "reason": reason})


def _post_time(values: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series, pd.Series]:
    """(UTC post time, not-a-number, out-of-range, in-the-future masks): only usable seconds are converted."""
    seconds = pd.to_numeric(values.astype("string").str.strip(), errors="coerce").astype("float64")
    not_number = seconds.isna()
    in_range = seconds.between(FIRST_POST_SECONDS, LAST_POST_SECONDS, inclusive="left")
    in_future = in_range & (seconds >= latest_post_seconds())
    usable = in_range & ~in_future
    posted = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns, UTC]")
    if usable.any():
        posted[usable] = pd.to_datetime(seconds[usable], unit="s", utc=True)
    return posted, not_number, ~not_number & ~in_range, in_future


def _engagement(values: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series, pd.Series]:
    """(count as int64, not-a-number, negative, not-a-count) masks; an empty cell is 0 (Kaggle leaves some empty)."""
    text = values.astype("string").fillna("").str.strip()
    number = pd.to_numeric(text.replace("", "0"), errors="coerce").astype("float64")
    not_number = number.isna()
    negative = number < 0
    not_count = ~not_number & ~negative & ~(np.isfinite(number) & (number <= MAX_ENGAGEMENT)
                                            & (np.floor(number) == number))
    count = number.where(~(not_number | negative | not_count), 0).astype("int64")
    return count, not_number, negative, not_count


def clean_tweets(raw: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Valid tweets with their trading day, and the rejected rows by reason."""
    frame = raw.reset_index(drop=True)
    rejected: list[pd.DataFrame] = []
    posted, date_not_number, date_out_of_range, date_in_future = _post_time(frame["post_date"])
    day = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]")
    ok_date = posted.notna()
    if ok_date.any():
        day[ok_date] = assign_trading_day(posted[ok_date]).astype("datetime64[ns]")
    body = frame["body"].astype("string").fillna("")

    checks = [
        ("unparseable_post_date", date_not_number),
        ("post_date_out_of_range", date_out_of_range),
        ("post_date_in_future", date_in_future),
        ("invalid_utf8", body.str.contains(_SURROGATE)),
        ("control_character", body.str.contains(_CONTROL)),
        ("empty_text", body.str.strip() == ""),
    ]
    counts, masks = {}, {"non_numeric": [], "negative": [], "not_count": []}
    for name in ("comment_num", "retweet_num", "like_num"):
        counts[name], not_number, negative, not_count = _engagement(frame[name])
        masks["non_numeric"].append(not_number)
        masks["negative"].append(negative)
        masks["not_count"].append(not_count)
    any_of = lambda parts: pd.concat(parts, axis=1).any(axis=1)  # noqa: E731
    checks.append(("non_numeric_engagement_count", any_of(masks["non_numeric"])))
    checks.append(("negative_engagement_count", any_of(masks["negative"])))
    checks.append(("engagement_count_out_of_range", any_of(masks["not_count"])))
    checks.append(("missing_tweet_id", frame["tweet_id"].astype("string").fillna("").str.strip() == ""))
    checks.append(("tweet_id_lost_precision", frame["tweet_id"].astype("string").fillna("").str.match(_FLOAT_ID)))
    if REPEAT_COLUMN in frame:
        checks.append(("duplicate_tweet_id", frame[REPEAT_COLUMN].astype("string").str.lower().isin(["true", "1"])))

    bad, more = _apply_checks(frame, checks, day)
    rejected.extend(more)

    ids = frame["tweet_id"].astype("string").str.strip()
    dup = _duplicated_among_valid(pd.DataFrame({"id": ids, "t": frame["ticker"]}), bad)
    if dup.any():
        rejected.append(_rejects(frame, dup, "duplicate_tweet_id", day))
    bad |= dup

    keep = ~bad
    text = body[keep].map(html.unescape).str.replace(_WHITESPACE, " ", regex=True).str.strip()
    clean = pd.DataFrame({
        "tweet_id": ids[keep].astype(str),
        "ticker": frame.loc[keep, "ticker"].astype(str),
        "writer": frame.loc[keep, "writer"].astype("string").fillna("").astype(str),
        "posted_at": posted[keep],
        "trading_day": day[keep],
        "text": text.astype(str),
        "is_retweet": text.str.startswith("RT @").astype(bool),
        "comment_num": counts["comment_num"][keep],
        "retweet_num": counts["retweet_num"][keep],
        "like_num": counts["like_num"][keep],
    }).reset_index(drop=True)
    return clean, _concat_rejects(rejected)


PRICE_FIELDS = ["open", "high", "low", "close", "adj_close", "volume"]


def clean_prices(raw: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Valid daily bars, and the rejected rows by reason."""
    frame = raw.reset_index(drop=True)
    day = _parse_day(frame["date"])
    values = {c: pd.to_numeric(frame[c], errors="coerce").astype("float64") for c in PRICE_FIELDS}
    prices = pd.DataFrame({c: values[c] for c in PRICE_FIELDS[:-1]})
    o, h, lo, c = (values[k] for k in ("open", "high", "low", "close"))
    checks = [
        ("unparseable_date", day.isna()),
        ("non_numeric_price", prices.isna().any(axis=1) | ~np.isfinite(prices).all(axis=1)),
        ("non_numeric_volume", values["volume"].isna() | ~np.isfinite(values["volume"])),
        ("non_positive_price", (prices <= 0).any(axis=1)),
        ("price_out_of_range", (prices > MAX_PRICE).any(axis=1)),
        ("negative_volume", values["volume"] < 0),
        ("volume_out_of_range", values["volume"] > MAX_VOLUME),
        ("high_below_open_or_close", h < np.maximum(o, c)),
        ("low_above_open_or_close", lo > np.minimum(o, c)),
    ]
    bad, rejected = _apply_checks(frame, checks, day)
    dup = _duplicated_among_valid(pd.DataFrame({"t": frame["ticker"], "d": day}), bad)
    if dup.any():
        rejected.append(_rejects(frame, dup, "duplicate_date", day))
    bad |= dup
    keep = ~bad
    clean = pd.DataFrame({"ticker": frame.loc[keep, "ticker"].astype(str), "date": day[keep]})
    for col in PRICE_FIELDS:
        clean[col] = values[col][keep]
    return clean.sort_values(["ticker", "date"]).reset_index(drop=True), _concat_rejects(rejected)


def _parse_day(values: pd.Series) -> pd.Series:
    """The calendar date as written: '2015-03-02', '2015-03-02 00:00:00-05:00', '03/02/2015'.

    An ISO prefix is taken as is, so an exchange-local timestamp keeps its own
    date instead of shifting a day in UTC."""
    text = values.astype("string").fillna("").str.strip()
    iso = text.str.match(r"^\d{4}-\d{2}-\d{2}")
    day = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    if iso.any():
        day[iso] = pd.to_datetime(text[iso].str.slice(0, 10), format="%Y-%m-%d", errors="coerce")
    # Other layouts must name a year: a bare time ('12:00') would otherwise parse as today.
    other = ~iso & text.str.contains(r"\d{4}")
    if other.any():
        day[other] = pd.to_datetime(text[other], format="mixed", errors="coerce")
    return day.dt.normalize()


def _duplicated_among_valid(keys: pd.DataFrame, bad: pd.Series) -> pd.Series:
    """Second and later copies of a key, counting only rows that passed the other checks."""
    dup = pd.Series(np.zeros(len(keys), dtype=bool), index=keys.index)
    dup[~bad] = keys[~bad].duplicated().astype(bool).to_numpy()
    return dup


def _concat_rejects(parts: list[pd.DataFrame]) -> pd.DataFrame:
    if not parts:
        return pd.DataFrame({"ticker": pd.Series(dtype=str), "day": pd.Series(dtype="datetime64[ns]"),
                             "reason": pd.Series(dtype=str)})
    return pd.concat(parts, ignore_index=True)


def _apply_checks(frame: pd.DataFrame, checks, day) -> tuple[pd.Series, list[pd.DataFrame]]:
    """Each row is rejected for the first check it fails (NaN counts as failing); returns (bad, rejects)."""
    rejected: list[pd.DataFrame] = []
    bad = pd.Series(False, index=frame.index)
    for reason, mask in checks:
        mask = mask.fillna(True).astype(bool) & ~bad
        if mask.any():
            rejected.append(_rejects(frame, mask, reason, day))
        bad |= mask
    return bad, rejected
