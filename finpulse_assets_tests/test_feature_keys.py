"""Key helpers and the shortcuts they enable give what the pandas sort / merge / reindex would."""

import numpy as np
import pandas as pd
import pytest

from finpulse_assets.features.keys import is_key_sorted, lookup
from finpulse_assets.features.price import features_by_ticker
from finpulse_assets.features.training_set import join_features
from finpulse_assets.sentiment.daily import SENTIMENT_FEATURE_COLUMNS, fill_missing_pairs
from finpulse_assets_tests.serving_support import bars

DAYS = pd.to_datetime(["2024-01-02", "2024-01-03", "2024-01-04"]).to_numpy()


def test_is_key_sorted():
    assert is_key_sorted(np.array(["A", "A", "B"], dtype=object), DAYS[[1, 2, 0]], strict=True)
    assert not is_key_sorted(np.array(["B", "A", "A"], dtype=object), DAYS, strict=True)
    assert not is_key_sorted(np.array(["A", "A", "A"], dtype=object), DAYS[[0, 0, 1]], strict=True)
    assert is_key_sorted(np.array(["A", "A", "A"], dtype=object), DAYS[[0, 0, 1]], strict=False)
    # Strings are not days yet: never reported as sorted.
    assert not is_key_sorted(pd.Series(["A"]), pd.Series(["2024-01-02"]), strict=False)


def test_lookup_finds_keys_and_rejects_duplicates():
    found = lookup(np.array(["A", "B"], dtype=object), DAYS[:2],
                   np.array(["B", "A", "A", "C"], dtype=object), DAYS[[1, 0, 1, 0]])
    assert found.tolist() == [1, 0, -1, -1]
    with pytest.raises(ValueError):
        lookup(np.array(["A", "A"], dtype=object), DAYS[[0, 0]], np.array(["A"], dtype=object), DAYS[:1])


def _price_and_sentiment():
    price = features_by_ticker(pd.concat([bars("AAA", days=30, seed=1), bars("BBB", days=25, seed=2)]))
    rng = np.random.default_rng(0)
    daily = price[["ticker", "date"]].rename(columns={"date": "trading_day"}).iloc[::3]
    for column in SENTIMENT_FEATURE_COLUMNS:
        daily[column] = rng.integers(1, 9, len(daily)) if column == "tweet_count" else rng.uniform(-1, 1, len(daily))
    return price, daily


def test_aligned_join_equals_the_merge():
    price, daily = _price_and_sentiment()
    aligned = fill_missing_pairs(daily, price[["ticker", "date"]].rename(columns={"date": "trading_day"}))
    shuffled = aligned.sample(frac=1.0, random_state=1)
    fast, fast_stats = join_features(price, aligned)
    merged, merged_stats = join_features(price, shuffled)
    pd.testing.assert_frame_equal(fast, merged)
    assert fast_stats == merged_stats
    assert (fast["tweet_count"] == 0).sum() == len(price) - len(daily)


def test_join_still_rejects_duplicates_and_drops_unmatched_rows():
    price, daily = _price_and_sentiment()
    with pytest.raises(ValueError, match="duplicate"):
        join_features(price, pd.concat([daily, daily.iloc[:1]]))
    joined, stats = join_features(price, daily)
    assert len(joined) == len(daily) and stats["price_rows_without_sentiment"] == len(price) - len(daily)
