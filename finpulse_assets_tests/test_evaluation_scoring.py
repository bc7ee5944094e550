"""Scores, dev choices and the VADER aggregation of the evaluation, on data made here."""

import numpy as np
import pandas as pd
import pytest

from finpulse_assets.evaluation.candidates import ALSTM_EMBEDDINGS, PRICE_ONLY, VADER, Candidate, variant
from finpulse_assets.evaluation.protocol import DOWN, LEFT_OUT, UP
from finpulse_assets.evaluation.scoring import movement_metrics, price_metrics, score
from finpulse_assets.evaluation.selection import choose
from finpulse_assets.evaluation.vader_daily import replace_sentiment


def test_movement_metrics_leave_out_the_days_between_the_thresholds():
    label = np.array([UP, DOWN, LEFT_OUT, UP, DOWN])
    predicted = np.array([True, False, True, False, False])
    m = movement_metrics(label, predicted)
    assert m["n_samples"] == 4 and m["accuracy"] == pytest.approx(0.75)
    assert m["mcc"] == pytest.approx(1 / np.sqrt(3))


def test_the_random_walk_has_ratio_one_and_a_better_forecast_less():
    close_t, target = np.array([10.0, 10.0, 10.0]), np.array([11.0, 9.0, 10.5])
    assert price_metrics(target, close_t, close_t)["mae_ratio_random_walk"] == pytest.approx(1.0)
    better = price_metrics(target, np.array([10.8, 9.3, 10.4]), close_t)
    assert better["mae"] == pytest.approx((0.2 + 0.3 + 0.1) / 3)
    assert better["mae_ratio_random_walk"] == pytest.approx(0.2 / (2.5 / 3))


def test_score_gives_pooled_and_per_ticker_rows():
    truth = pd.DataFrame({"ticker": ["A", "A", "B", "B"], "label": [UP, DOWN, UP, UP],
                          "close_t": [1.0, 1.0, 2.0, 2.0], "target_close": [1.1, 0.9, 2.2, 2.1]})
    out = score(truth, np.array([True, True, True, False]), None)
    assert out["pooled"]["accuracy"] == pytest.approx(0.5)
    assert out["by_ticker"]["A"]["accuracy"] == pytest.approx(0.5) and out["by_ticker"]["B"]["n_samples"] == 2
    assert "mae" not in out["pooled"]


def _row(window, mae, clf, reg):
    return {"candidate": {"window": window, "layout": "pooled", "sentiment": "none"}, "price": {"mae": mae},
            "direction": {"classification": {"mcc": clf, "accuracy": 0.5}, "regression": {"mcc": reg, "accuracy": 0.5}}}


def test_choices_take_the_lowest_dev_mae_and_the_highest_dev_mcc():
    choice = choose([_row(5, 2.0, 0.05, 0.01), _row(10, 1.0, 0.02, 0.12)])
    assert choice["price"]["window"] == 10
    assert choice["direction"] == {"candidate": _row(10, 0, 0, 0)["candidate"], "head": "regression"}


def test_price_only_has_no_sentiment_choice_and_unknown_names_are_refused():
    assert variant(PRICE_ONLY).sentiment_sets == ("none",)
    assert "none" not in variant(VADER).sentiment_sets
    with pytest.raises(ValueError, match="unknown sentiment aggregation 'median'"):
        Candidate(5, "pooled", sentiment="median")
    with pytest.raises(ValueError, match="unknown model variant 'gpt'"):
        variant("gpt")


def test_a_candidate_names_its_columns_and_the_network_settings_it_sets():
    c = Candidate(10, "pooled", sentiment="mean_and_count", embeddings=2, architecture="alstm", hidden_size=16,
                  adversarial_epsilon=0.01, adversarial_beta=0.5)
    assert c.feature_columns[-4:] == ["sentiment_mean", "tweet_count", "text_pc_00", "text_pc_01"]
    assert c.param_overrides()["architecture"] == "alstm" and c.param_overrides()["window"] == 10
    assert "layout" not in c.param_overrides() and Candidate(**c.as_dict()) == c
    assert variant(ALSTM_EMBEDDINGS).architecture == "alstm" and variant(ALSTM_EMBEDDINGS).finpulse


def test_vader_features_are_label_shares_per_trading_day_and_neutral_without_tweets():
    days = pd.to_datetime(["2021-03-01", "2021-03-02"])
    frame = pd.DataFrame({"ticker": "A", "date": days, "adj_close": [1.0, 1.0], "sentiment_mean": [9.0, 9.0]})
    vader = pd.DataFrame({"tweet_id": ["1", "2", "3"], "ticker": "A", "trading_day": days[[0, 0, 0]],
                          "label": ["positive", "positive", "negative"]})
    raw = pd.DataFrame({"tweet_id": ["1", "2", "3"], "ticker": "A", "like_num": 0, "retweet_num": 0})
    out = replace_sentiment(frame, vader, raw).set_index("date")
    assert out.loc[days[0], "share_positive"] == pytest.approx(2 / 3)
    assert out.loc[days[0], "sentiment_mean"] == pytest.approx(1 / 3)
    assert out.loc[days[0], "tweet_count"] == 3
    assert out.loc[days[1], "sentiment_mean"] == 0.0 and out.loc[days[1], "tweet_count"] == 0


def test_unknown_vader_labels_are_named():
    frame = pd.DataFrame({"ticker": "A", "date": pd.to_datetime(["2021-03-01"])})
    vader = pd.DataFrame({"tweet_id": ["1"], "ticker": "A", "trading_day": pd.to_datetime(["2021-03-01"]),
                          "label": ["bullish"]})
    with pytest.raises(ValueError, match="bullish"):
        replace_sentiment(frame, vader, pd.DataFrame({"tweet_id": ["1"], "ticker": "A", "like_num": 0, "retweet_num": 0}))
