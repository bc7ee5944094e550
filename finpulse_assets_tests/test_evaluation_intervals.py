"""Bootstrap intervals over test days: accuracy and MCC of each variant and paired differences."""

import numpy as np
import pandas as pd
import pytest

from finpulse_assets.evaluation.intervals import accuracy_and_mcc, bootstrap, day_confusion
from finpulse_assets.evaluation.protocol import DOWN, LEFT_OUT, UP
from finpulse_assets.models.metrics import mcc


def _samples(n_days=60, n_tickers=1, seed=0):
    rng = np.random.default_rng(seed)
    days = np.repeat(pd.bdate_range("2015-10-01", periods=n_days).to_numpy(), n_tickers)
    label = rng.choice([UP, DOWN, LEFT_OUT], size=len(days), p=[0.45, 0.4, 0.15])
    return days, label, rng.random(len(days)) < 0.5


def test_confusion_counts_give_the_plain_accuracy_and_mcc():
    days, label, predicted = _samples()
    counts = day_confusion(days, label, predicted, np.unique(days)).sum(axis=0)
    keep = label != LEFT_OUT
    accuracy, value = accuracy_and_mcc(counts)
    assert accuracy == pytest.approx(np.mean((label[keep] == UP) == predicted[keep]))
    assert value == pytest.approx(mcc(label[keep] == UP, predicted[keep]))


def test_a_perfect_predictor_has_a_degenerate_interval_and_the_estimate_lies_inside():
    days, label, predicted = _samples()
    result = bootstrap(days, label, {"perfect": label == UP, "coin": predicted})
    assert result["variants"]["perfect"] == {"accuracy_ci": [1.0, 1.0], "mcc_ci": [1.0, 1.0]}
    keep = label != LEFT_OUT
    low, high = result["variants"]["coin"]["accuracy_ci"]
    assert low < np.mean((label[keep] == UP) == predicted[keep]) < high
    assert result["settings"]["n_days"] == 60 and result["settings"]["n_resamples"] == 2000


def test_fixed_seed_gives_the_same_intervals_and_another_seed_others():
    days, label, predicted = _samples()
    first = bootstrap(days, label, {"coin": predicted})
    assert first == bootstrap(days, label, {"coin": predicted})
    assert first["variants"] != bootstrap(days, label, {"coin": predicted}, seed=1)["variants"]


def test_tickers_that_move_together_do_not_narrow_the_interval():
    # Ten tickers with the same label and prediction each day carry one day's worth of evidence:
    # resampling whole days gives the single ticker's interval, not a sqrt(10)-times narrower one.
    days, label, predicted = _samples(n_days=80)
    one = bootstrap(days, label, {"m": predicted})["variants"]["m"]
    ten = bootstrap(np.repeat(days, 10), np.repeat(label, 10), {"m": np.repeat(predicted, 10)})["variants"]["m"]
    np.testing.assert_allclose(ten["accuracy_ci"], one["accuracy_ci"])
    np.testing.assert_allclose(ten["mcc_ci"], one["mcc_ci"])


def test_paired_difference_of_a_model_with_itself_is_zero_and_a_better_model_is_above():
    days, label, predicted = _samples(n_days=120)
    better = np.where(np.arange(len(label)) % 3 == 0, predicted, label == UP)
    result = bootstrap(days, label, {"a": predicted, "b": predicted.copy(), "better": better},
                       pairs=[("a", "b"), ("better", "a")])
    assert result["differences"]["a - b"]["mcc_ci"] == [0.0, 0.0]
    assert result["differences"]["better - a"]["mcc_ci"][0] > 0
    assert result["differences"]["better - a"]["share_of_resamples_mcc_a_above_b"] == 1.0


def test_bad_inputs_are_refused():
    days, label, predicted = _samples(n_days=5)
    with pytest.raises(ValueError, match="3 predictions for 5 samples"):
        bootstrap(days, label, {"m": predicted[:3]})
    with pytest.raises(ValueError, match="at least 2 test days"):
        bootstrap(days[:1], label[:1], {"m": predicted[:1]})
