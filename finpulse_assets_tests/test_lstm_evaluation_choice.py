"""The graph trains and stages what the evaluation chose: lstm_model reads an evaluation report, trains its
headline model's chosen candidate, records the evaluation in MLflow, and the bento's forecaster is that model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dagster import asset, materialize

from finpulse_assets.assets.lstm import build_lstm_assets
from finpulse_assets.evaluation.candidates import CHOSEN_PER_FOLD, FINBERT, Candidate
from finpulse_assets.evaluation.choice import chosen_lstm_config
from finpulse_assets.models.mlflow_tracking import MlflowTracking
from finpulse_assets.models.store import ModelStore
from finpulse_assets_tests.serving_support import TICKERS, WINDOW, training_frame

CHOSEN = Candidate(window=WINDOW, layout="pooled", sentiment="mean_and_count", architecture="alstm", hidden_size=8,
                   lr=2e-3, dropout=0.05, weight_decay=1e-4, adversarial_epsilon=0.02, adversarial_beta=0.3)
OTHER = Candidate(window=10, layout="per_ticker", sentiment="all", hidden_size=64)


def _report(direction: Candidate) -> dict:
    """The fields of evaluation.json that name the choice (as `evaluation` writes them)."""
    return {"dataset": "synthetic", "test": {"model": FINBERT, "accuracy": 0.55, "mcc": 0.1, "mcc_ci": [0.01, 0.2]},
            "dev": {FINBERT: {"choice": {"price": OTHER.as_dict(),
                                         "direction": {"candidate": direction.as_dict(), "head": "regression"}}}},
            "walk_forward": {"settings": {"n_folds": 15},
                             "test": {CHOSEN_PER_FOLD: {"pooled": {"mcc": 0.07, "mcc_ci": [-0.01, 0.15]}}}}}


@asset(name="training_set")
def training_set_stand_in():
    return training_frame()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    import torch

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("chosen")
    report_path = root / "evaluation.json"
    report_path.write_text(json.dumps(_report(CHOSEN)))
    lstm_model, lstm_onnx = build_lstm_assets()
    mlflow = MlflowTracking(storage_dir=str(root))
    # The configured fields disagree with the report: the report's choice must win.
    config = {"evaluation_report": str(report_path), "window": 10, "architecture": "lstm", "hidden_size": 32,
              "epochs": 3, "patience": 2, "batch_size": 32}
    result = materialize([training_set_stand_in, lstm_model, lstm_onnx],
                         resources={"mlflow": mlflow, "model_store": ModelStore(base_dir=str(root / "models"))},
                         run_config={"ops": {"lstm_model": {"config": config}}})
    assert result.success
    return root, mlflow, result.output_for_node("lstm_model"), result.output_for_node("lstm_onnx")


def test_the_served_forecaster_is_the_evaluations_choice(trained, tmp_path):
    from finpulse_assets.serving.bundle import stage_forecaster

    _, _, model, onnx = trained
    manifest = stage_forecaster(onnx, TICKERS, tmp_path / "forecaster")
    served = json.loads((tmp_path / "forecaster" / manifest["models"]["*"]["subdir"] / "config.json").read_text())
    chosen = CHOSEN.as_dict()
    assert manifest["mode"] == chosen["layout"] and manifest["window"] == chosen["window"]
    assert manifest["feature_columns"] == CHOSEN.feature_columns == model["feature_columns"]
    assert served["window"] == chosen["window"] and served["model"] == "alstm_next_day_log_return"
    for key in ("hidden_size", "lr", "dropout", "weight_decay", "adversarial_epsilon", "adversarial_beta"):
        assert served["params"][key] == pytest.approx(chosen[key]), key
    assert manifest["chosen_by"]["finpulse.chosen_by.variant"] == FINBERT


def test_the_mlflow_run_says_which_evaluation_chose_the_model(trained):
    root, mlflow, model, _ = trained
    tags = mlflow.client().get_run(model["mlflow_run_id"]).data.tags
    assert tags["finpulse.chosen_by.report"] == str(root / "evaluation.json")
    assert tags["finpulse.chosen_by.variant"] == FINBERT and tags["finpulse.chosen_by.dataset"] == "synthetic"
    assert len(tags["finpulse.chosen_by.report_sha256"]) == 64
    assert json.loads(tags["finpulse.chosen_by.walk_forward_mcc_ci95"]) == [-0.01, 0.15]


def test_a_choice_the_graph_cannot_serve_is_refused_by_name(tmp_path):
    market = Candidate(window=5, layout="pooled", sentiment="all", market=True)
    with pytest.raises(ValueError, match="market context"):
        chosen_lstm_config(_report(market))
    with pytest.raises(ValueError, match="no headline model"):
        chosen_lstm_config({"test": {"model": FINBERT}, "dev": {}})
    from finpulse_assets.evaluation.choice import read_report

    with pytest.raises(ValueError, match="does not exist"):
        read_report(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="is not JSON"):
        read_report(tmp_path / "bad.json")


def test_the_bento_serves_a_direction_probability_that_agrees_with_torch_and_the_forecast(trained, tmp_path,
                                                                                         monkeypatch):
    import numpy as np

    from finpulse_assets.models.lstm.direction import PARITY_TOLERANCE, probability_up
    from finpulse_assets.models.lstm.model import load_model, predict
    from finpulse_assets.serving import schema
    from finpulse_assets.serving.bundle import stage_forecaster, stage_sentiment
    from finpulse_assets.serving.history import feature_rows, last_windows
    from finpulse_assets.serving.predictor import Forecast, Predictor
    from finpulse_assets.serving.schema import PredictItem
    from finpulse_assets_tests.serving_support import history, tiny_finbert_onnx

    _, _, model, onnx = trained
    assert onnx["parity"]["passed"] and onnx["direction_parity_bound"] <= PARITY_TOLERANCE
    sigma = model["direction_scales"]["*"]
    assert 0 < sigma < 0.2
    manifest = stage_forecaster(onnx, TICKERS, tmp_path / "forecaster")
    assert manifest["direction"]["scales"] == model["direction_scales"]
    stage_sentiment(tiny_finbert_onnx(tmp_path), tmp_path / "sentiment")
    predictor = Predictor(tmp_path / "forecaster", tmp_path / "sentiment")
    monkeypatch.setattr(schema, "_model_limits", predictor.limits)
    items = [PredictItem.model_validate(history(t, 30, seed=n)) for n, t in enumerate(TICKERS)]
    served = predictor.predict(items)
    assert all(isinstance(s, Forecast) for s in served), served
    windows, _ = last_windows(feature_rows(items, predictor.scorer), items, CHOSEN.feature_columns, WINDOW)
    torch_p = probability_up(predict(load_model(Path(model["model_dir"]) / "pooled"), windows.X), sigma)
    served_p = np.array([s.probability_up for s in served])
    np.testing.assert_allclose(served_p, torch_p, atol=PARITY_TOLERANCE)
    assert ((served_p > 0.5) == (np.array([s.predicted_return for s in served]) > 0)).all()
    assert all(0 < p < 1 for p in served_p)


def test_probability_up_is_the_normal_cdf_and_refuses_a_bad_scale():
    import numpy as np

    from finpulse_assets.models.lstm.direction import probability_up

    np.testing.assert_allclose(probability_up([0.0, 0.01, -0.01], 0.01), [0.5, 0.841344746, 0.158655254], atol=1e-8)
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="direction scale"):
            probability_up([0.0], bad)
