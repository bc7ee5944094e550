"""Row-level validation of raw tweets and prices: what is dropped, under which reason, what is kept."""

import pandas as pd

from finpulse_assets.sources.cleaning import clean_prices, clean_tweets


def _tweets(**overrides):
    base = {"tweet_id": ["1", "2", "3"], "writer": ["a", "b", "c"],
            "post_date": ["1420210800", "1420210800", "1420210800"],  # 2015-01-02 10:00 New York
            "body": ["Buy $AAPL &amp; hold", "RT @x: $AAPL up", "neutral $AAPL"],
            "comment_num": ["0", "0", "0"], "retweet_num": ["1", "2", "3"], "like_num": ["4", "5", "6"],
            "ticker": ["AAPL"] * 3}
    base.update(overrides)
    return pd.DataFrame(base)


def test_clean_tweets_normalises_and_flags_retweets():
    clean, rejects = clean_tweets(_tweets())
    assert rejects.empty
    assert clean["text"].tolist()[0] == "Buy $AAPL & hold"
    assert clean["is_retweet"].tolist() == [False, True, False]
    assert (clean["trading_day"] == pd.Timestamp("2015-01-02")).all()
    assert clean["like_num"].dtype == "int64"


def test_each_bad_tweet_row_is_counted_under_its_reason():
    raw = pd.concat([_tweets(), pd.DataFrame({
        "tweet_id": ["1", "7", "8", "9", "10"], "writer": ["a"] * 5,
        "post_date": ["1420210800", "not-a-date", "1420210800", "1420210800", "1420210800"],
        "body": ["Buy $AAPL &amp; hold", "x", "   ", "bad \udcff bytes", "fine"],
        "comment_num": ["0"] * 5, "retweet_num": ["0"] * 5, "like_num": ["0", "0", "0", "0", "-3"],
        "ticker": ["AAPL"] * 5})], ignore_index=True)
    clean, rejects = clean_tweets(raw)
    assert sorted(rejects["reason"]) == sorted(["duplicate_tweet_id", "unparseable_post_date", "empty_text",
                                                "invalid_utf8", "negative_engagement_count"])
    assert rejects.loc[rejects.reason == "unparseable_post_date", "day"].isna().all()
    assert rejects.loc[rejects.reason == "empty_text", "day"].iloc[0] == pd.Timestamp("2015-01-02")
    assert len(clean) == 3


def test_same_tweet_under_two_tickers_is_not_a_duplicate():
    raw = _tweets(ticker=["AAPL", "AAPL", "AAPL"])
    raw = pd.concat([raw, raw.iloc[[0]].assign(ticker="GOOG")], ignore_index=True)
    clean, rejects = clean_tweets(raw)
    assert rejects.empty and len(clean) == 4


def _prices(rows):
    cols = ["ticker", "date", "open", "high", "low", "close", "adj_close", "volume"]
    return pd.DataFrame(rows, columns=cols)


def test_each_bad_price_row_is_counted_under_its_reason():
    raw = _prices([
        ["A", "2024-01-02", "10", "11", "9", "10.5", "10.4", "100"],
        ["A", "02/30/2024", "10", "11", "9", "10.5", "10.4", "100"],
        ["A", "2024-01-03", "ten", "11", "9", "10.5", "10.4", "100"],
        ["A", "2024-01-04", "-1", "11", "9", "10.5", "10.4", "100"],
        ["A", "2024-01-05", "10", "11", "9", "10.5", "10.4", "-5"],
        ["A", "2024-01-08", "10", "10.2", "9", "10.5", "10.4", "100"],
        ["A", "2024-01-09", "10", "11", "10.2", "10.5", "10.4", "100"],
        ["A", "2024-01-02", "10", "11", "9", "10.5", "10.4", "100"],
        ["A", "2024-01-10", "10", "11", "9", "10.5", "10.4", ""],
    ])
    clean, rejects = clean_prices(raw)
    assert clean["date"].tolist() == [pd.Timestamp("2024-01-02")]
    assert rejects["reason"].tolist() == ["unparseable_date", "non_numeric_price", "non_numeric_volume",
                                          "non_positive_price", "negative_volume", "high_below_open_or_close",
                                          "low_above_open_or_close", "duplicate_date"]


def test_a_valid_row_after_a_rejected_one_of_the_same_day_is_kept():
    raw = _prices([["A", "2024-01-04", "10", "9", "9", "10.5", "10.4", "100"],
                   ["A", "2024-01-04", "10", "11", "9", "10.5", "10.4", "100"]])
    clean, rejects = clean_prices(raw)
    assert len(clean) == 1 and rejects["reason"].tolist() == ["high_below_open_or_close"]


def test_price_dates_keep_the_date_as_written():
    raw = _prices([["A", "2024-03-08 00:00:00-05:00", "10", "11", "9", "10.5", "10.4", "100"],
                   ["A", "2024-03-11 00:00:00-04:00", "10", "11", "9", "10.5", "10.4", "100"],
                   ["A", "03/12/2024", "10", "11", "9", "10.5", "10.4", "100"]])
    clean, rejects = clean_prices(raw)
    assert rejects.empty
    assert clean["date"].dt.strftime("%Y-%m-%d").tolist() == ["2024-03-08", "2024-03-11", "2024-03-12"]
