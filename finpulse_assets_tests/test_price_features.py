"""Price features: no look-ahead (data after t never changes features of t) and sane values."""

import numpy as np
import pandas as pd
import pytest

from finpulse_assets.features.price import FEATURE_COLUMNS, MIN_HISTORY_BARS, TARGET_COLUMNS, price_features


def _bars(n=80, seed=0):
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
    open_ = close * (1 + rng.normal(0, 0.005, n))
    return pd.DataFrame({
        "ticker": "AAA",
        "date": pd.bdate_range("2024-01-01", periods=n),
        "open": open_, "high": np.maximum(open_, close) * 1.01, "low": np.minimum(open_, close) * 0.99,
        "close": close, "adj_close": close * 0.98, "volume": rng.integers(1_000, 5_000, n).astype(float),
    })


@pytest.mark.parametrize("t", [MIN_HISTORY_BARS, 40, 79])
def test_changing_anything_after_t_leaves_features_of_t_unchanged(t):
    bars = _bars()
    altered = bars.copy()
    rng = np.random.default_rng(t)
    later = altered.index > t
    for col in ["open", "high", "low", "close", "adj_close", "volume"]:
        altered.loc[later, col] = altered.loc[later, col] * rng.uniform(0.5, 2.0, later.sum())
    altered = altered[~later | (rng.uniform(size=len(altered)) > 0.3)]  # and drop some later days
    before = price_features(bars).iloc[t]
    after = price_features(altered).set_index("date").loc[before["date"]]
    pd.testing.assert_series_equal(before[FEATURE_COLUMNS].astype(float), after[FEATURE_COLUMNS].astype(float),
                                   check_names=False)


def test_features_do_not_depend_on_how_much_earlier_history_is_loaded():
    bars = _bars()
    full = price_features(bars).set_index("date")
    part = price_features(bars.iloc[30:]).set_index("date")
    common = part.index[part["history_complete"]]
    np.testing.assert_allclose(full.loc[common, FEATURE_COLUMNS].to_numpy(float),
                               part.loc[common, FEATURE_COLUMNS].to_numpy(float), rtol=1e-9, atol=1e-12)


def test_targets_are_the_next_bar_and_only_targets_read_it():
    feats = price_features(_bars())
    assert feats["target_close"].iloc[10] == feats["close"].iloc[11]
    assert feats["target_date"].iloc[10] == feats["date"].iloc[11]
    assert np.isclose(feats["target_return"].iloc[10], feats["adj_close"].iloc[11] / feats["adj_close"].iloc[10] - 1)
    assert feats[TARGET_COLUMNS].iloc[-1].isna().all()
    assert not set(FEATURE_COLUMNS) & set(TARGET_COLUMNS)


def test_complete_history_gives_finite_features_and_bounded_rsi():
    feats = price_features(_bars())
    complete = feats[feats["history_complete"]]
    assert len(complete) == 80 - MIN_HISTORY_BARS + 1
    assert np.isfinite(complete[FEATURE_COLUMNS].to_numpy(float)).all()
    assert complete["rsi_14"].between(0, 100).all()
