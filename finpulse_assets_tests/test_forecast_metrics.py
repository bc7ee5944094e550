"""Forecast metrics against hand-computed values; baselines; table and plot."""

import math

import numpy as np
import pytest

from finpulse_assets.models.baselines import (
    close_from_log_return, close_from_return, log_return_from_close, moving_average, moving_average_series,
    random_walk,
)
from finpulse_assets.models.metrics import forecast_metrics, forecast_plot, mcc, metrics_table

TODAY = np.array([100.0, 100.0, 100.0, 100.0])
ACTUAL = np.array([102.0, 98.0, 101.0, 100.0])    # up, down, up, flat (flat = "not up")
PREDICTED = np.array([101.0, 99.0, 99.0, 101.0])  # up, down, down, up


def test_metrics_match_hand_computation():
    m = forecast_metrics(ACTUAL, PREDICTED, TODAY)
    errors = np.array([1.0, 1.0, 2.0, 1.0])
    assert m["n"] == 4
    assert m["mae"] == pytest.approx(5 / 4)
    assert m["rmse"] == pytest.approx(math.sqrt(7 / 4))
    assert m["mape"] == pytest.approx(100 * np.mean(errors / ACTUAL))
    # actual up: T F T F ; predicted up: T F F T -> correct on days 1 and 2
    assert m["directional_accuracy"] == pytest.approx(0.5)
    # tp=1 tn=1 fp=1 fn=1 -> (1 - 1) / sqrt(2*2*2*2) = 0
    assert m["mcc"] == pytest.approx(0.0)


def test_mcc_hand_values_and_degenerate_cases():
    a = np.array([True, True, True, False, False, False])
    p = np.array([True, True, False, False, False, True])
    # tp=2 tn=2 fp=1 fn=1 -> (4 - 1) / sqrt(3*3*3*3) = 1/3
    assert mcc(a, p) == pytest.approx(1 / 3)
    assert mcc(a, a) == pytest.approx(1.0) and mcc(a, ~a) == pytest.approx(-1.0)
    assert mcc(a, np.zeros(6, bool)) == 0.0   # constant prediction
    assert mcc(np.ones(6, bool), p) == 0.0    # constant actual


def test_random_walk_metrics():
    pred = random_walk(TODAY)
    m = forecast_metrics(ACTUAL, pred, TODAY)
    assert m["mae"] == pytest.approx((2 + 2 + 1 + 0) / 4)
    assert m["mcc"] == 0.0                              # always "not up": no information
    assert m["directional_accuracy"] == pytest.approx(0.5)  # the two days that did not rise
    np.testing.assert_array_equal(log_return_from_close(TODAY, pred), 0.0)


def test_moving_average_and_return_conversions():
    history = np.array([[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [10.0, 10.0, 10.0, 10.0, 10.0, 40.0]])
    np.testing.assert_allclose(moving_average(history, k=5), [4.0, 16.0])
    np.testing.assert_allclose(moving_average(history, k=2), [5.5, 25.0])
    with pytest.raises(ValueError):
        moving_average(history, k=7)
    series = moving_average_series([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], k=5)
    assert np.isnan(series[:4]).all() and series[4:].tolist() == [3.0, 4.0]
    np.testing.assert_allclose(close_from_log_return([100.0], [math.log(1.05)]), [105.0])
    np.testing.assert_allclose(close_from_return([100.0], [-0.02]), [98.0])


def test_metrics_reject_bad_input():
    with pytest.raises(ValueError):
        forecast_metrics([1.0, np.nan], [1.0, 1.0], [1.0, 1.0])
    with pytest.raises(ValueError):
        forecast_metrics([1.0], [1.0, 2.0], [1.0])
    with pytest.raises(ValueError):
        forecast_metrics([], [], [])


def test_metrics_table_is_markdown():
    table = metrics_table({"lstm": forecast_metrics(ACTUAL, PREDICTED, TODAY),
                           "random_walk": forecast_metrics(ACTUAL, TODAY, TODAY)})
    lines = table.splitlines()
    assert lines[0] == "| model | n | mae | rmse | mape | directional_accuracy | mcc |"
    assert lines[1].startswith("|---|")
    assert lines[2].startswith("| lstm | 4 | 1.2500 |") and lines[3].startswith("| random_walk | 4 | 1.2500 |")


def test_forecast_plot_returns_png_bytes():
    dates = np.arange("2024-01-01", "2024-01-05", dtype="datetime64[D]")
    png = forecast_plot(dates, ACTUAL, {"lstm": PREDICTED, "random_walk": TODAY}, title="AAA")
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 1000
