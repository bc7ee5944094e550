"""Every bad value is a counted bad row (cleaning + the kaggle_csv, yahoo_csv and yfinance sources): generated
corrupt files never crash, and rows in = rows kept + rows rejected by reason."""

import csv
from datetime import date

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finpulse_assets.sources.cleaning import REPEAT_COLUMN, clean_prices, clean_tweets
from finpulse_assets.sources import kaggle_csv, yahoo_csv
from finpulse_assets.sources.kaggle_csv import KaggleCsvTweetSource
from finpulse_assets.sources.yahoo_csv import YahooCsvPriceSource
from finpulse_assets.sources.yfinance_source import _long_format

GOOD_SECONDS = "1420210800"  # 2015-01-02 10:00 New York
BAD_NUMBERS = ["inf", "-inf", "nan", "1e30", "-1", "1e308", "9223372036854775808", "1.5", "abc", "", " ", "0x10",
               "NaN", "Infinity", "-0", "1e-30"]
BAD_TIMES = ["inf", "-inf", "nan", "1e30", "-1", "0", "1420210800000", "abc", "", "1e308", "99999999999"]
BAD_DATES = ["9999-12-31", "0001-01-01", "2015-02-30", "abc", "", "inf", "-1", "1e30", "12:00", "2015-13-01",
             "1420210800"]
WIDE = (pd.Timestamp("1990-01-01", tz="UTC"), pd.Timestamp("2100-01-01", tz="UTC"))
HYPOTHESIS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def tweet_cells(n_ok: int):
    number = st.one_of(st.sampled_from(BAD_NUMBERS), st.integers(0, 10**6).map(str))
    time = st.one_of(st.sampled_from(BAD_TIMES), st.integers(1420070400, 1450000000).map(str))
    body = st.one_of(st.sampled_from(["", "  ", "Good $AAPL", "NA", "a,b", '"quoted"', "&amp;"]), st.text(max_size=12))
    row = st.fixed_dictionaries({"tweet_id": st.sampled_from(["1", "2", "3", "4", "5", "", " "]),
                                 "post_date": time, "body": body, "comment_num": number, "retweet_num": number,
                                 "like_num": number})
    return st.lists(row, min_size=1, max_size=n_ok)


def write_tweets(directory, rows):
    with open(directory / "Tweet.csv", "w", newline="", encoding="utf-8", errors="surrogateescape") as f:
        w = csv.writer(f)
        w.writerow(kaggle_csv.TWEET_FILE_COLUMNS)
        for r in rows:
            w.writerow([r["tweet_id"], "w", r["post_date"], r["body"], r["comment_num"], r["retweet_num"],
                        r["like_num"]])
    ids = sorted({r["tweet_id"] for r in rows})
    with open(directory / "Company_Tweet.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(kaggle_csv.COMPANY_FILE_COLUMNS)
        for i in ids:
            w.writerow([i, "AAPL"])


@HYPOTHESIS
@given(rows=tweet_cells(12))
def test_generated_corrupt_tweet_files_count_every_row(tmp_path_factory, rows):
    directory = tmp_path_factory.mktemp("tweets")
    write_tweets(directory, rows)
    kaggle_csv._CACHE.clear()
    raw = KaggleCsvTweetSource(directory=str(directory)).load_tweets(["AAPL"], *WIDE)
    # pandas reads '' tweet_ids as '' and the inner join keeps them, so every written row is here.
    assert len(raw) == len(rows)
    clean, rejects = clean_tweets(raw)
    assert len(clean) + len(rejects) == len(rows)
    assert clean["like_num"].ge(0).all() and clean["like_num"].le(10**12).all()
    assert clean["posted_at"].notna().all() and clean["trading_day"].notna().all()
    assert not clean.duplicated(["tweet_id", "ticker"]).any()


def price_cells():
    number = st.one_of(st.sampled_from(BAD_NUMBERS), st.floats(1, 500).map(lambda x: f"{x:.2f}"))
    day = st.one_of(st.sampled_from(BAD_DATES), st.dates(date(2015, 1, 1), date(2015, 3, 1)).map(str))
    row = st.fixed_dictionaries({"Date": day, **{c: number for c in ["Open", "High", "Low", "Close", "Adj Close"]},
                                 "Volume": number})
    return st.lists(row, min_size=1, max_size=12)


@HYPOTHESIS
@given(rows=price_cells())
def test_generated_corrupt_price_files_count_every_row(tmp_path_factory, rows):
    directory = tmp_path_factory.mktemp("prices")
    pd.DataFrame(rows, columns=list(yahoo_csv.YAHOO_COLUMNS)).to_csv(directory / "AAPL.csv", index=False)
    yahoo_csv._CACHE.clear()
    raw = YahooCsvPriceSource(directory=str(directory)).load_prices(["AAPL"], date(1990, 1, 1), date(2099, 1, 1))
    assert len(raw) == len(rows)
    clean, rejects = clean_prices(raw)
    assert len(clean) + len(rejects) == len(rows)
    values = clean[["open", "high", "low", "close", "adj_close", "volume"]].to_numpy(dtype=float)
    assert np.isfinite(values).all()


def test_the_issue_values_are_counted_by_reason():
    rows = {"tweet_id": [str(i) for i in range(9)], "writer": "w", "body": "text", "ticker": "AAPL",
            "post_date": ["inf", "1420210800000", "-1", "1e30", GOOD_SECONDS, GOOD_SECONDS, GOOD_SECONDS,
                          GOOD_SECONDS, GOOD_SECONDS],
            "comment_num": "0", "retweet_num": "0",
            "like_num": ["0", "0", "0", "0", "inf", "1e30", "2.5", "", "7"]}
    clean, rejects = clean_tweets(pd.DataFrame(rows))
    assert rejects["reason"].value_counts().to_dict() == {"post_date_out_of_range": 4,
                                                          "engagement_count_out_of_range": 3}
    assert list(clean["like_num"]) == [0, 7]  # an empty count is 0


def test_a_later_copy_with_an_earlier_post_date_does_not_replace_the_tweet(tmp_path):
    rows = [{"tweet_id": "1", "post_date": GOOD_SECONDS, "body": "genuine", "comment_num": "0", "retweet_num": "0",
             "like_num": "1"},
            {"tweet_id": "1", "post_date": str(int(GOOD_SECONDS) - 3600), "body": "impostor", "comment_num": "0",
             "retweet_num": "0", "like_num": "1"}]
    write_tweets(tmp_path, rows)
    kaggle_csv._CACHE.clear()
    raw = KaggleCsvTweetSource(directory=str(tmp_path)).load_tweets(["AAPL"], *WIDE)
    assert list(raw[REPEAT_COLUMN]) == [False, True]
    clean, rejects = clean_tweets(raw)
    assert list(clean["text"]) == ["genuine"]
    assert list(rejects["reason"]) == ["duplicate_tweet_id"] and rejects["day"].notna().all()
    # Even when the window holds only the copy, the copy is counted, not kept.
    copy_only = KaggleCsvTweetSource(directory=str(tmp_path)).load_tweets(
        ["AAPL"], pd.Timestamp(int(GOOD_SECONDS) - 7200, unit="s", tz="UTC"),
        pd.Timestamp(int(GOOD_SECONDS) - 60, unit="s", tz="UTC"))
    clean, rejects = clean_tweets(copy_only)
    assert clean.empty and list(rejects["reason"]) == ["duplicate_tweet_id"]


@pytest.mark.parametrize("value", [np.inf, -np.inf, 1e30, np.nan, -5.0])
def test_yfinance_frames_with_bad_values_are_counted(value):
    days = pd.DatetimeIndex(pd.to_datetime(["2024-01-02", "2024-01-03", "2024-01-04"]), name="Date")
    fields = {"Open": [10.0, 11, 12], "High": [11.0, 12, 13], "Low": [9.0, 10, 11], "Close": [10.5, 11.5, 12.5],
              "Adj Close": [10.4, 11.4, 12.4], "Volume": [1e4, 1e4, 1e4]}
    fields["Close"][1] = value
    frame = pd.DataFrame(fields, index=days)
    frame.columns = pd.MultiIndex.from_product([frame.columns, ["AAPL"]], names=["Price", "Ticker"])
    raw = _long_format(frame, ["AAPL"], date(2024, 1, 2), date(2024, 1, 4), auto_adjust=False)
    clean, rejects = clean_prices(raw)
    assert len(clean) == 2 and len(rejects) == 1 and len(raw) == 3
