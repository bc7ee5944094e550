"""ONNX export: fp32 parity with torch, dynamic batch, int8 comparison, and torch-free serving."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import onnxruntime as ort
import pytest

from finpulse_assets.features.price import FEATURE_COLUMNS
from finpulse_assets.models.lstm.dataset import build_windows, time_split_fractions
from finpulse_assets.models.lstm.model import LSTMConfigParams, predict, save_model, train_lstm
from finpulse_assets.models.lstm.onnx_export import (
    OnnxForecaster, choose_variant, compare_onnx_variants, export_onnx_files, parity,
)
from finpulse_assets.models.lstm.synthetic import SYNTHETIC_SENTIMENT_COLUMNS, synthetic_frame

PARAMS = LSTMConfigParams(hidden_size=16, window=5, epochs=8, patience=3, lr=3e-3, batch_size=32)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    frame = synthetic_frame(n_tickers=2, n_days=160, seed=3)
    split = time_split_fractions(build_windows(frame, FEATURE_COLUMNS + SYNTHETIC_SENTIMENT_COLUMNS, PARAMS.window),
                                 0.2, 0.2)
    model, _ = train_lstm(split.train, split.val, PARAMS)
    model_dir = tmp_path_factory.mktemp("lstm_model")
    save_model(model, model_dir)
    paths = export_onnx_files(model, model_dir)
    return model, model_dir, paths, split.test.X


def test_fp32_onnx_matches_torch(exported):
    model, _, paths, X = exported
    assert parity(model, paths["fp32"], X) < 1e-4


def test_onnx_graph_has_named_io_and_dynamic_batch(exported):
    model, _, paths, X = exported
    session = ort.InferenceSession(str(paths["fp32"]), providers=["CPUExecutionProvider"])
    (inp,), (out,) = session.get_inputs(), session.get_outputs()
    assert inp.name == "features" and out.name == "predicted_log_return"
    assert inp.shape[1:] == [PARAMS.window, len(model.feature_columns)] and not isinstance(inp.shape[0], int)
    for n in (1, 7, len(X)):
        (pred,) = session.run(None, {"features": model.scaler.transform(X[:n])})
        assert pred.shape == (n,)
        np.testing.assert_allclose(pred, predict(model, X[:n]), atol=1e-4)


def test_onnx_forecaster_predicts_from_raw_windows(exported):
    model, model_dir, _, X = exported
    forecaster = OnnxForecaster(model_dir)
    np.testing.assert_allclose(forecaster.predict_log_return(X), predict(model, X), atol=1e-4)
    close = np.full(len(X), 80.0)
    np.testing.assert_allclose(forecaster.predict_close(X, close), close * np.exp(predict(model, X)), rtol=1e-4)
    with pytest.raises(ValueError):
        forecaster.predict_log_return(X[:, 1:])


def test_onnx_forecaster_does_not_import_torch(exported, tmp_path):
    model, model_dir, _, X = exported
    np.save(tmp_path / "X.npy", X)
    code = textwrap.dedent(f"""
        import json, sys
        import numpy as np
        from finpulse_assets.models.lstm.serving import OnnxForecaster
        pred = OnnxForecaster({str(model_dir)!r}).predict_log_return(np.load({str(tmp_path / "X.npy")!r}))
        print(json.dumps({{"torch_loaded": any(m == "torch" or m.startswith("torch.") for m in sys.modules),
                           "pred": pred.tolist()}}))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["torch_loaded"] is False
    np.testing.assert_allclose(result["pred"], predict(model, X), atol=1e-4)


def test_int8_comparison_reports_both_and_applies_the_rule(exported):
    model, model_dir, paths, X = exported
    report = compare_onnx_variants(model, model_dir, X, latency_runs=20, throughput_runs=3)
    for name in ("fp32", "int8"):
        assert report[name]["file_bytes"] == paths[name].stat().st_size
        assert report[name]["latency_ms_p50"] > 0 and report[name]["throughput_windows_per_s"] > 0
    assert report["fp32"]["max_abs_diff"] < 1e-4
    assert report["chosen"] == choose_variant(report)[0]
    assert OnnxForecaster(model_dir, onnx_file=paths["int8"].name).predict_log_return(X).shape == (len(X),)


def _report(fp32_ms, int8_ms, int8_diff):
    return {"fp32": {"latency_ms_p50": fp32_ms, "max_abs_diff": 0.0},
            "int8": {"latency_ms_p50": int8_ms, "max_abs_diff": int8_diff}}


@pytest.mark.parametrize("fp32_ms, int8_ms, diff, chosen", [
    (1.0, 0.80, 1e-5, "int8"),   # 25 % faster, accurate
    (1.0, 0.95, 1e-5, "fp32"),   # only ~5 % faster
    (1.0, 0.50, 1e-2, "fp32"),   # fast but too far from torch
    (1.0, 1.20, 1e-5, "fp32"),   # slower
])
def test_choose_variant_rule(fp32_ms, int8_ms, diff, chosen):
    assert choose_variant(_report(fp32_ms, int8_ms, diff), tolerance=5e-4, min_speedup=0.10)[0] == chosen
