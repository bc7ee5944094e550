"""The default demo market's regime shift (2024-11-06) is what drift_report detects at the default settings.

Features are built as the assets build them, with one difference: tweets are scored by VADER's labels
(one-hot probabilities) instead of the fine-tuned FinBERT, which this test does not train.
"""

from datetime import date

import pandas as pd
import pytest

from finpulse_assets.sources.cleaning import clean_prices, clean_tweets
from finpulse_assets.features.price import features_by_ticker
from finpulse_assets.features.training_set import MODEL_FEATURE_COLUMNS, SENTIMENT_FEATURE_COLUMNS, join_features
from finpulse_assets.monitoring.drift import drift_inputs, run_drift_report
from finpulse_assets.monitoring.settings import MonitoringSettings
from finpulse_assets.sentiment.daily import daily_sentiment
from finpulse_assets.sentiment.vader import vader_scores
from finpulse_assets.settings import DEMO_END, DEMO_START, Settings
from finpulse_assets.sources.demo import DemoPriceSource, DemoTweetSource

TRAIN_END = date(2024, 9, 23)  # where the demo LSTM's training split ends (70 % of the joined dates)
BEFORE = [date(2024, 10, 10), date(2024, 10, 24), date(2024, 11, 5)]  # windows wholly before the shift
AFTER = [date(2024, 12, 6), date(2024, 12, 20), date(2024, 12, 30)]  # windows wholly after it


@pytest.fixture(scope="module")
def aapl_features():
    source = dict(seed=Settings().demo_seed, tickers=["AAPL"], start=DEMO_START, end=DEMO_END)
    bars, _ = clean_prices(DemoPriceSource(**source).load_prices(["AAPL"], date(2024, 1, 1), date(2024, 12, 31)))
    tweets, _ = clean_tweets(DemoTweetSource(**source).load_tweets(
        ["AAPL"], pd.Timestamp("2023-12-29", tz="UTC"), pd.Timestamp(DEMO_END, tz="UTC")))
    tweets = tweets.drop_duplicates(["tweet_id", "ticker"])
    label = vader_scores(tweets["text"])["label"].to_numpy()
    tweets = tweets.assign(p_positive=(label == "positive") * 1.0, p_negative=(label == "negative") * 1.0,
                           p_neutral=(label == "neutral") * 1.0)
    joined, _ = join_features(features_by_ticker(bars), daily_sentiment(tweets))
    return joined[joined["history_complete"]]


def shares(features, days):
    out = []
    for day in days:
        inputs = drift_inputs(features, features, "AAPL", day, 20, TRAIN_END)
        _, summary = run_drift_report(inputs.current, inputs.reference, MODEL_FEATURE_COLUMNS)
        out.append((summary.drift_share, summary.share_of(SENTIMENT_FEATURE_COLUMNS)))
    return out


def test_the_demo_shift_passes_the_default_thresholds_and_earlier_days_do_not(aapl_features):
    settings = MonitoringSettings()
    before, after = shares(aapl_features, BEFORE), shares(aapl_features, AFTER)
    assert max(s for s, _ in before) < settings.drift_share_threshold
    assert sum(s for s, _ in after) > sum(s for s, _ in before)
    assert max(s for s, _ in after) >= settings.drift_share_threshold
    assert max(s for _, s in before) < settings.sentiment_drift_share_threshold
    assert max(s for _, s in after) >= settings.sentiment_drift_share_threshold
