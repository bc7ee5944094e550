"""LSTM training: reproducible, early stopping keeps the best epoch, safetensors+JSON round trip,
and beats the baselines on an easy signal."""

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from finpulse_assets.features.price import FEATURE_COLUMNS
from finpulse_assets.models.lstm.dataset import Scaler, Split, Windows, build_windows, time_split_fractions
from finpulse_assets.models.lstm.evaluate import (
    LSTM, LSTM_NO_SENTIMENT, MOVING_AVERAGE, RANDOM_WALK, choose_pooling, compare_models, without_features,
)
from finpulse_assets.models.lstm.model import LSTMConfigParams, load_model, predict, save_model, train_lstm
from finpulse_assets.models.lstm.synthetic import SYNTHETIC_SENTIMENT_COLUMNS, synthetic_frame

SMALL = LSTMConfigParams(hidden_size=16, window=5, epochs=30, patience=5, lr=3e-3, batch_size=32)


def _random_windows(n, y_sign, start, seed, window=5, n_features=3):
    """Windows whose target is y_sign * 0.01 * (last day's first feature)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, window, n_features)).astype(np.float32)
    dates = pd.bdate_range(start, periods=n).to_numpy(dtype="datetime64[ns]")
    close = np.full(n, 100.0)
    y = (y_sign * 0.01 * X[:, -1, 0]).astype(np.float32)
    return Windows(X=X, y=y, dates=dates, target_dates=dates + np.timedelta64(1, "D"),
                   tickers=np.full(n, "AAA"), close_t=close, target_close=close * np.exp(y),
                   close_history=np.tile(close[:, None], (1, window)),
                   feature_columns=tuple(f"f{i}" for i in range(n_features)))


@pytest.fixture(scope="module")
def split() -> Split:
    frame = synthetic_frame(n_tickers=2, n_days=260, seed=0)
    windows = build_windows(frame, FEATURE_COLUMNS + SYNTHETIC_SENTIMENT_COLUMNS, window=SMALL.window)
    return time_split_fractions(windows, val_frac=0.2, test_frac=0.2)


@pytest.fixture(scope="module")
def trained(split):
    return train_lstm(split.train, split.val, SMALL)


def test_training_is_reproducible_and_leaves_global_torch_state_alone(split, trained):
    model, history = trained
    rng_before, det_before = torch.get_rng_state(), torch.are_deterministic_algorithms_enabled()
    again, history_again = train_lstm(split.train, split.val, SMALL)
    assert torch.equal(rng_before, torch.get_rng_state())
    assert det_before == torch.are_deterministic_algorithms_enabled()
    assert history == history_again
    np.testing.assert_array_equal(predict(model, split.test.X), predict(again, split.test.X))


def test_scaler_and_target_scale_come_from_train_only(split, trained):
    model, _ = trained
    np.testing.assert_array_equal(model.scaler.mean, Scaler.fit(split.train.X).mean)
    assert model.target_scale == pytest.approx(np.sqrt(np.mean(split.train.y.astype(np.float64) ** 2)))


def test_early_stopping_restores_the_best_epoch():
    # Validation reverses the training relationship, so validation loss rises as training fits.
    train = _random_windows(256, +1, "2020-01-01", seed=1)
    val = _random_windows(64, -1, "2022-01-01", seed=2)
    params = replace(SMALL, epochs=40, patience=3, lr=1e-2)
    model, history = train_lstm(train, val, params)
    best = history["best_epoch"]
    assert history["stopped_early"] and best < len(history["val_loss"]) - 1
    assert history["best_val_loss"] == min(history["val_loss"])

    # The restored model IS the one after best+1 epochs: retrain exactly that long, no early stop.
    exact, _ = train_lstm(train, val, replace(params, epochs=best + 1, patience=10_000))
    np.testing.assert_array_equal(predict(model, val.X), predict(exact, val.X))


def test_save_load_round_trip_is_exact_and_pickle_free(tmp_path, split, trained):
    model, _ = trained
    save_model(model, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.safetensors"]
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["feature_columns"] == list(model.feature_columns) and config["window"] == SMALL.window
    header_len = int.from_bytes((tmp_path / "model.safetensors").read_bytes()[:8], "little")
    assert (tmp_path / "model.safetensors").read_bytes()[8:8 + header_len].startswith(b"{")  # safetensors, not pickle
    loaded = load_model(tmp_path)
    np.testing.assert_array_equal(predict(loaded, split.test.X), predict(model, split.test.X))


def test_lstm_with_sentiment_beats_baselines_and_the_ablation(split):
    price_only = Split(*(without_features(part, SYNTHETIC_SENTIMENT_COLUMNS) for part in split))
    result = compare_models(split, price_only, SMALL)
    test = result.test_metrics
    assert set(test) == {LSTM, LSTM_NO_SENTIMENT, RANDOM_WALK, MOVING_AVERAGE}
    assert test[LSTM]["mae"] < 0.6 * test[RANDOM_WALK]["mae"]
    assert test[LSTM]["mae"] < 0.6 * test[LSTM_NO_SENTIMENT]["mae"]
    assert test[LSTM]["directional_accuracy"] > 0.75 and test[LSTM]["mcc"] > 0.5
    assert test[RANDOM_WALK]["mcc"] == 0.0
    assert set(result.val_metrics) == set(test)
    assert "| lstm |" in result.table()


def test_compare_models_refuses_misaligned_ablation(split):
    shorter = Split(split.train, split.val, split.test.take(np.arange(len(split.test) - 1)))
    with pytest.raises(ValueError):
        compare_models(split, shorter, SMALL)


def test_choose_pooling_reports_both_on_validation(split):
    params = replace(SMALL, epochs=10)
    result = choose_pooling(split.train, split.val, params)
    assert result["choice"] in {"pooled", "per_ticker"}
    assert result["pooled"]["n"] == result["per_ticker"]["n"] == len(split.val)
    better = "per_ticker" if result["per_ticker"]["mae"] < result["pooled"]["mae"] else "pooled"
    assert result["choice"] == better
    assert set(result["by_ticker"]) == {"T0", "T1"}
