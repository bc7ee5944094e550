"""Row-level validation shared by every source.

Bad rows are dropped and counted by reason; the partition still materializes.
Each reject keeps the ticker and, where it could be parsed, the trading day,
so counts land in the metadata of the partition the row belonged to.
"""

from __future__ import annotations

import html
import re

import numpy as np
import pandas as pd

from finpulse_assets.market_calendar import assign_trading_day

REJECT_COLUMNS = ["ticker", "day", "reason"]
_WHITESPACE = re.compile(r"\s+")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _rejects(frame: pd.DataFrame, mask: pd.Series, reason: str, day: pd.Series) -> pd.DataFrame:
    return pd.DataFrame({"ticker": frame.loc[mask, "ticker"].astype(str).to_numpy(),
                         "day": day[mask].to_numpy(), "reason": reason})


def clean_tweets(raw: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Valid tweets with their trading day, and the rejected rows by reason."""
    frame = raw.reset_index(drop=True)
    rejected: list[pd.DataFrame] = []
    seconds = pd.to_numeric(frame["post_date"], errors="coerce")
    posted = pd.to_datetime(seconds, unit="s", utc=True, errors="coerce")
    day = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]")
    ok_date = posted.notna()
    if ok_date.any():
        day[ok_date] = assign_trading_day(posted[ok_date]).astype("datetime64[ns]")
    body = frame["body"].astype("string").fillna("")

    checks = [
        ("unparseable_post_date", ~ok_date),
        ("invalid_utf8", body.str.contains(_SURROGATE)),
        ("empty_text", body.str.strip() == ""),
    ]
    counts = {}
    for name in ("comment_num", "retweet_num", "like_num"):
        counts[name] = pd.to_numeric(frame[name].replace("", np.nan), errors="coerce").fillna(0)
    checks.append(("negative_engagement_count", pd.concat([c < 0 for c in counts.values()], axis=1).any(axis=1)))
    checks.append(("missing_tweet_id", frame["tweet_id"].astype("string").fillna("").str.strip() == ""))

    bad = pd.Series(False, index=frame.index)
    for reason, mask in checks:
        mask = mask.fillna(True).astype(bool) & ~bad
        if mask.any():
            rejected.append(_rejects(frame, mask, reason, day))
        bad |= mask

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
        "comment_num": counts["comment_num"][keep].astype("int64"),
        "retweet_num": counts["retweet_num"][keep].astype("int64"),
        "like_num": counts["like_num"][keep].astype("int64"),
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
        ("negative_volume", values["volume"] < 0),
        ("high_below_open_or_close", h < np.maximum(o, c)),
        ("low_above_open_or_close", lo > np.minimum(o, c)),
    ]
    rejected: list[pd.DataFrame] = []
    bad = pd.Series(False, index=frame.index)
    for reason, mask in checks:
        mask = mask.astype(bool) & ~bad
        if mask.any():
            rejected.append(_rejects(frame, mask, reason, day))
        bad |= mask
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
    if (~iso).any():
        day[~iso] = pd.to_datetime(text[~iso], format="mixed", errors="coerce")
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
