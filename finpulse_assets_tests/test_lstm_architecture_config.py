"""lstm_model / lstm_onnx train what the evaluation chooses: the attentive LSTM, adversarial training, the inputs.

A tiny ALSTM with adversarial training on price + (sentiment mean, tweet count)
goes through the two assets (Dagster's `materialize`, real MLflow and model store
in a temp dir), passes the blocking ONNX parity check, and is served by the
serving predictor with the same answer as the torch model on the same window.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from dagster import AssetKey, asset, materialize

from finpulse_assets.assets.lstm import LSTMConfig, _params, build_lstm_assets
from finpulse_assets.features.price import FEATURE_COLUMNS
from finpulse_assets.models.mlflow_tracking import MlflowTracking
from finpulse_assets.models.store import ModelStore
from finpulse_assets_tests.serving_support import TICKERS, WINDOW, history, tiny_finbert_onnx, training_frame

CONFIG = {"architecture": "alstm", "adversarial": True, "adversarial_epsilon": 0.05, "adversarial_beta": 0.5,
          "sentiment_features": "mean_and_count", "hidden_size": 8, "window": WINDOW, "epochs": 3, "patience": 2,
          "pooling": "pooled", "batch_size": 32}
CHOSEN_COLUMNS = list(FEATURE_COLUMNS) + ["sentiment_mean", "tweet_count"]


@asset(name="training_set")
def training_set_stand_in():
    return training_frame()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    import torch

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("alstm_assets")
    lstm_model, lstm_onnx = build_lstm_assets()
    result = materialize([training_set_stand_in, lstm_model, lstm_onnx],
                         resources={"mlflow": MlflowTracking(storage_dir=str(root)),
                                    "model_store": ModelStore(base_dir=str(root / "models"))},
                         run_config={"ops": {"lstm_model": {"config": CONFIG}}})
    assert result.success
    checks = result.get_asset_check_evaluations()
    return (root, result.output_for_node("lstm_model"), result.output_for_node("lstm_onnx"), checks)


def test_the_asset_trains_an_adversarial_alstm_on_the_chosen_inputs(trained):
    _, model, onnx, _ = trained
    assert model["architecture"] == "alstm" and model["mode"] == "pooled"
    assert model["feature_columns"] == CHOSEN_COLUMNS == onnx["feature_columns"]
    config = json.loads((Path(model["model_dir"]) / "pooled" / "config.json").read_text())
    assert config["model"] == "alstm_next_day_log_return"
    assert config["feature_columns"] == CHOSEN_COLUMNS and config["window"] == WINDOW
    assert config["params"]["adversarial_epsilon"] == 0.05 and config["params"]["adversarial_beta"] == 0.5


def test_the_alstm_export_passes_the_blocking_parity_check(trained):
    _, _, onnx, checks = trained
    (check,) = [c for c in checks if c.asset_key == AssetKey("lstm_onnx")]
    assert check.passed and onnx["parity"]["passed"]
    assert onnx["parity"]["max_abs_diff"] <= onnx["parity"]["tolerance"]


def test_the_served_alstm_answers_like_the_torch_model(trained, tmp_path, monkeypatch):
    from finpulse_assets.models.lstm.model import load_model, predict
    from finpulse_assets.serving import schema
    from finpulse_assets.serving.bundle import stage_forecaster, stage_sentiment
    from finpulse_assets.serving.history import feature_rows, last_windows
    from finpulse_assets.serving.predictor import Forecast, Predictor
    from finpulse_assets.serving.schema import PredictItem

    _, model, onnx, _ = trained
    stage_forecaster(onnx, TICKERS, tmp_path / "forecaster")
    stage_sentiment(tiny_finbert_onnx(tmp_path), tmp_path / "sentiment")
    predictor = Predictor(tmp_path / "forecaster", tmp_path / "sentiment")
    assert predictor.models.feature_columns == tuple(CHOSEN_COLUMNS)
    # What the service does when it loads its models (requests are validated against them); undone afterwards.
    monkeypatch.setattr(schema, "_model_limits", predictor.limits)
    items = [PredictItem.model_validate(history(t, 30, seed=n, texts={25: ["record quarter, strong upgrade"]}))
             for n, t in enumerate(TICKERS)]
    served = predictor.predict(items)
    assert all(isinstance(s, Forecast) for s in served), served

    windows, found = last_windows(feature_rows(items, predictor.scorer), items, CHOSEN_COLUMNS, WINDOW)
    assert found.all() and windows.X.shape[1:] == (WINDOW, len(CHOSEN_COLUMNS))
    torch_model = load_model(Path(model["model_dir"]) / "pooled")
    expected = windows.close_t * np.exp(predict(torch_model, windows.X))
    np.testing.assert_allclose([s.predicted_close for s in served], expected, rtol=1e-4)


@pytest.mark.parametrize("changes, message", [
    ({"architecture": "transformer"}, "architecture='transformer'"),
    ({"adversarial": True}, "adversarial=True needs architecture='alstm'"),
    ({"architecture": "alstm", "adversarial": True, "adversarial_epsilon": 0.0}, "adversarial_epsilon > 0"),
])
def test_bad_architecture_settings_are_refused_naming_the_field(changes, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _params(LSTMConfig(**changes))


def test_an_unknown_sentiment_feature_set_is_refused():
    from finpulse_assets.features.training_set import model_feature_columns

    with pytest.raises(ValueError, match="unknown sentiment feature set 'vader'"):
        model_feature_columns("vader")
    assert model_feature_columns("none") == list(FEATURE_COLUMNS)


def test_the_default_config_trains_what_it_trained_before():
    params = _params(LSTMConfig())
    assert (params.architecture, params.adversarial_epsilon, params.adversarial_beta) == ("lstm", 0.0, 0.0)
