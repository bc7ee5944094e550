"""The Kaggle tweet CSV source (finpulse_assets.sources.kaggle_csv) on small files written to tmp_path."""

import os

import pandas as pd
import pytest

from finpulse_assets.sources.cleaning import REPEAT_COLUMN, clean_tweets
from finpulse_assets.sources import kaggle_csv
from finpulse_assets.sources.base import RAW_TWEET_COLUMNS, SourceFileError
from finpulse_assets.sources.kaggle_csv import KaggleCsvTweetSource

T0 = 1420070400  # 2015-01-01 00:00:00 UTC
DAY = 86400
START, END = pd.Timestamp(T0, unit="s", tz="UTC"), pd.Timestamp(T0 + 2 * DAY, unit="s", tz="UTC")

TWEET_HEADER = b"tweet_id,writer,post_date,body,comment_num,retweet_num,like_num\n"
TWEETS = [
    b'550441509175443456,alice,1420070400,plain $AAPL tweet,0,1,2\n',
    b'550441509175443457,bob,1420074000,"commas, ""quotes"" and\na newline $AAPL",1,0,5\n',
    b'550441509175443458,carol,1420243200,a later $AAPL tweet (day 3),0,0,0\n',
    b'550441509175443459,dave,not-a-time,unparseable date $AAPL,0,0,0\n',
    b'550441509175443460,erin,1420077600,bad bytes \xff\xfe here $AAPL,0,0,0\n',
    b'550441509175443461,frank,1420077600,$GOOG and $AAPL both,0,0,0\n',
    b'550441509175443462,gina,1420066800,before the window $AAPL,0,0,0\n',
]
COMPANY = (b"tweet_id,ticker_symbol\n"
           + b"".join(b"55044150917544345%d,AAPL\n" % i for i in range(6, 10))
           + b"".join(b"5504415091754434%d,AAPL\n" % i for i in range(60, 63))
           + b"550441509175443461,GOOG\n")


@pytest.fixture(autouse=True)
def _fresh_cache():
    kaggle_csv._CACHE.clear()
    yield
    kaggle_csv._CACHE.clear()


def write_dir(path, tweets=TWEET_HEADER + b"".join(TWEETS), company=COMPANY):
    path.mkdir(exist_ok=True)
    if tweets is not None:
        (path / "Tweet.csv").write_bytes(tweets)
    if company is not None:
        (path / "Company_Tweet.csv").write_bytes(company)
    return KaggleCsvTweetSource(directory=str(path))


def by_writer(frame):
    return frame.set_index("writer")


def test_joins_on_tweet_id_and_keeps_everything_as_strings(tmp_path):
    out = write_dir(tmp_path).load_tweets(["AAPL", "GOOG"], START, END)
    assert list(out.columns) == [*RAW_TWEET_COLUMNS, REPEAT_COLUMN]
    assert set(out["tweet_id"]) >= {"550441509175443456", "550441509175443461"}  # 18 digits, not floats
    assert all(isinstance(v, str) for col in RAW_TWEET_COLUMNS for v in out[col])
    # One row per (tweet, ticker): frank's tweet is filed under both.
    assert sorted(out.loc[out["writer"] == "frank", "ticker"]) == ["AAPL", "GOOG"]
    assert by_writer(out).loc["alice", "like_num"] == "2"


def test_bodies_with_commas_quotes_and_newlines_survive(tmp_path):
    out = by_writer(write_dir(tmp_path).load_tweets(["AAPL"], START, END))
    assert out.loc["bob", "body"] == 'commas, "quotes" and\na newline $AAPL'
    assert out.loc["bob", "comment_num"] == "1"


def test_invalid_utf8_survives_as_surrogates_for_cleaning_to_reject(tmp_path):
    out = write_dir(tmp_path).load_tweets(["AAPL"], START, END)
    assert by_writer(out).loc["erin", "body"] == "bad bytes \udcff\udcfe here $AAPL"
    _, rejects = clean_tweets(out)
    assert "invalid_utf8" in set(rejects["reason"])


def test_time_window_is_half_open_and_unparseable_dates_are_kept(tmp_path):
    source = write_dir(tmp_path)
    writers = set(source.load_tweets(["AAPL"], START, END)["writer"])
    # gina is before START, carol at exactly END (excluded); dave's date is no number, so he comes along.
    assert writers == {"alice", "bob", "dave", "erin", "frank"}
    day3 = source.load_tweets(["AAPL"], END, END + pd.Timedelta(days=1))
    assert set(day3["writer"]) == {"carol", "dave"}
    # Naive bounds are taken as UTC.
    naive = source.load_tweets(["AAPL"], START.tz_localize(None), END.tz_localize(None))
    assert set(naive["writer"]) == writers
    _, rejects = clean_tweets(day3)
    assert list(rejects["reason"]) == ["unparseable_post_date"]


def test_filters_to_the_requested_tickers(tmp_path):
    source = write_dir(tmp_path)
    goog = source.load_tweets(["GOOG"], START, END)
    assert list(goog["writer"]) == ["frank"] and list(goog["ticker"]) == ["GOOG"]
    assert source.load_tweets(["MSFT"], START, END).columns.tolist() == [*RAW_TWEET_COLUMNS, REPEAT_COLUMN]
    assert source.load_tweets(["MSFT"], START, END).empty
    assert source.available_tickers() == ["AAPL", "GOOG"]


def test_files_are_parsed_once_until_they_change(tmp_path, monkeypatch):
    reads = []
    real_read_csv = pd.read_csv
    monkeypatch.setattr(pd, "read_csv", lambda path, **kw: reads.append(str(path)) or real_read_csv(path, **kw))
    source = write_dir(tmp_path)
    for _ in range(3):
        source.load_tweets(["AAPL"], START, END)
    source.available_tickers()
    assert len(reads) == 2  # Tweet.csv and Company_Tweet.csv, once each

    company = tmp_path / "Company_Tweet.csv"
    company.write_bytes(COMPANY + b"550441509175443456,MSFT\n")  # new size and mtime
    os.utime(company, ns=(company.stat().st_mtime_ns + 10**9,) * 2)
    assert source.available_tickers() == ["AAPL", "GOOG", "MSFT"]
    assert len(reads) == 4
    assert len(kaggle_csv._CACHE._values) == 1  # the stale entry is gone


def test_missing_directory_and_missing_files(tmp_path):
    with pytest.raises(SourceFileError, match="nowhere"):
        KaggleCsvTweetSource(directory=str(tmp_path / "nowhere")).load_tweets(["AAPL"], START, END)
    source = write_dir(tmp_path, company=None)
    with pytest.raises(SourceFileError, match="Company_Tweet.csv: file not found"):
        source.load_tweets(["AAPL"], START, END)
    (tmp_path / "Tweet.csv").unlink()
    with pytest.raises(SourceFileError, match="Tweet.csv: file not found"):
        source.available_tickers()


def test_missing_column_names_file_column_and_expected_columns(tmp_path):
    source = write_dir(tmp_path, tweets=b"tweet_id,writer,body,comment_num,retweet_num,like_num\n1,a,b,0,0,0\n")
    with pytest.raises(SourceFileError) as err:
        source.load_tweets(["AAPL"], START, END)
    assert err.value.path.endswith("Tweet.csv")
    assert err.value.column == "post_date"
    assert "Tweet.csv" in str(err.value) and "'post_date'" in str(err.value)
    assert "tweet_id, writer, post_date, body" in str(err.value)

    source = write_dir(tmp_path, company=b"tweet_id,symbol\n1,AAPL\n")
    with pytest.raises(SourceFileError, match=r"Company_Tweet.csv: missing required column; column 'ticker_symbol'"):
        source.available_tickers()


@pytest.mark.parametrize("content, problem", [
    (b"", "empty file"),
    (TWEET_HEADER + b'1,a,1420070400,"never closed,0,0,0\n', "unclosed quote: the quoted field that starts on line 2"),
    (TWEET_HEADER + b"1,a,1420070400,too,many,fields,here,and,more\n", "unreadable CSV"),
])
def test_unreadable_csv(tmp_path, content, problem):
    with pytest.raises(SourceFileError, match=f"Tweet.csv: {problem}"):
        write_dir(tmp_path, tweets=content).load_tweets(["AAPL"], START, END)


def test_binary_garbage_is_a_file_error(tmp_path):
    garbage = bytes(range(256)) * 8 + b"\x00\x01,\n\x02,\x03,\x04\n" * 20
    with pytest.raises(SourceFileError, match="Tweet.csv"):
        write_dir(tmp_path, tweets=garbage).load_tweets(["AAPL"], START, END)
