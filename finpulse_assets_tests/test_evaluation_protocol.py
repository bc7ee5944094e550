"""The StockNet protocol on small data made here: movement labels, date splits, samples without look-ahead."""

import numpy as np
import pandas as pd
import pytest

from finpulse_assets.evaluation.protocol import DEV, DOWN, LEFT_OUT, TEST, TRAIN, UP, Protocol, movement_labels, split_of
from finpulse_assets.evaluation.samples import build_samples, split_counts
from finpulse_assets.features.price import FEATURE_COLUMNS, features_by_ticker

SMALL = Protocol(train_start="2021-01-01", dev_start="2021-07-01", test_start="2021-09-01", test_end="2022-01-01")


def _bars(ticker="AAA", start="2020-11-02", n=300, seed=0):
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range(start, periods=n)
    adj = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    return pd.DataFrame({"ticker": ticker, "date": dates, "open": adj, "high": adj * 1.01, "low": adj * 0.99,
                         "close": adj * 1.5, "adj_close": adj, "volume": rng.integers(1000, 2000, n).astype(float)})


def test_labels_use_the_protocol_thresholds_at_their_edges():
    movement = [0.0056, 0.0055, 0.0, -0.0049, -0.005, -0.02]
    np.testing.assert_array_equal(movement_labels(movement, Protocol()), [UP, LEFT_OUT, LEFT_OUT, LEFT_OUT, DOWN, DOWN])


def test_labels_refuse_missing_movements():
    with pytest.raises(ValueError, match="NaN"):
        movement_labels([0.01, np.nan], Protocol())


def test_splits_follow_the_stocknet_dates_with_exclusive_ends():
    days = ["2013-12-31", "2014-01-01", "2015-07-31", "2015-08-01", "2015-09-30", "2015-10-01", "2015-12-31",
            "2016-01-01"]
    assert list(split_of(days, Protocol())) == ["", TRAIN, TRAIN, DEV, DEV, TEST, TEST, ""]


@pytest.mark.parametrize("kwargs, match", [({"dev_start": "2013-01-01"}, "must increase"),
                                           ({"up_above": -0.01}, "below up threshold")])
def test_bad_protocols_are_refused_with_what_is_wrong(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Protocol(**kwargs)


def test_samples_label_the_next_days_adjusted_move_and_split_by_target_day():
    frame = features_by_ticker(_bars())
    samples = build_samples(frame, FEATURE_COLUMNS, 5, SMALL)
    w = samples.windows
    by_date = frame.set_index("date")["adj_close"]
    expected = by_date.loc[pd.to_datetime(w.target_dates)].to_numpy() / by_date.loc[pd.to_datetime(w.dates)].to_numpy() - 1
    np.testing.assert_allclose(samples.movement, expected)
    assert (w.target_dates > w.dates).all()
    np.testing.assert_array_equal(samples.split, split_of(w.target_dates, SMALL))
    counts = split_counts(samples)
    assert counts[TRAIN]["first_target_day"] >= "2021-01-01" and counts[TEST]["last_target_day"] < "2022-01-01"
    assert counts[DEV]["last_target_day"] < counts[TEST]["first_target_day"]


def test_a_samples_inputs_ignore_everything_from_its_target_day_on():
    frame = features_by_ticker(_bars())
    cut = pd.Timestamp("2021-09-15")
    bars = _bars()
    bars.loc[bars["date"] >= cut, ["open", "high", "low", "close", "adj_close"]] *= 3.0  # rewrite the future
    changed = features_by_ticker(bars)
    a, b = build_samples(frame, FEATURE_COLUMNS, 5, SMALL), build_samples(changed, FEATURE_COLUMNS, 5, SMALL)
    before = a.windows.target_dates <= np.datetime64(cut)
    np.testing.assert_array_equal(a.windows.X[before], b.windows.X[before])
    # Only the sample whose target day is the first rewritten one sees a different movement.
    moved = ~np.isclose(a.movement, b.movement)
    assert pd.Timestamp(a.windows.target_dates[moved & before].max()) == cut


def test_samples_name_missing_columns():
    with pytest.raises(ValueError, match="target_adj_close"):
        build_samples(features_by_ticker(_bars()).drop(columns=["target_adj_close"]), FEATURE_COLUMNS, 5, SMALL)
