"""ONNX inference for the LSTM forecaster with onnxruntime + numpy only.

Must never import torch (directly or through `model`/`onnx_export`): the serving
image does not ship it. A test checks `sys.modules` in a fresh interpreter.

Model directory layout (written by `model.save_model` and `onnx_export.export_onnx_files`):
    config.json        feature columns, window, scaler, target scale, hyper-parameters
    model.safetensors  torch weights (training side only)
    model.onnx         fp32 graph: scaled features -> next-day log return
    model.int8.onnx    dynamically quantised graph (optional)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort

from finpulse_assets.runs.cpu_share import process_threads
from finpulse_assets.models.ort_options import session_options as quiet_session_options
from finpulse_assets.models.lstm.dataset import Scaler, Windows

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
ONNX_FILE = "model.onnx"
ONNX_INT8_FILE = "model.int8.onnx"
CONFIG_FORMAT_VERSION = 1
INPUT_NAME = "features"
OUTPUT_NAME = "predicted_log_return"


def read_config(model_dir: str | Path) -> dict:
    config = json.loads((Path(model_dir) / CONFIG_FILE).read_text())
    if config.get("format_version") != CONFIG_FORMAT_VERSION:
        raise ValueError(f"unsupported config format_version {config.get('format_version')!r}")
    return config


def check_windows_shape(X: np.ndarray, window: int, n_features: int) -> np.ndarray:
    X = np.asarray(X)
    if X.ndim != 3 or X.shape[1:] != (window, n_features):
        raise ValueError(f"expected windows of shape [n, {window}, {n_features}], got {X.shape}")
    return X


def session_options(intra_op_num_threads: int | None = None) -> ort.SessionOptions:
    """intra_op_num_threads None: the CPUs this process may use (cpu_share.process_threads), not ORT's every core."""
    opts = quiet_session_options()
    opts.intra_op_num_threads = process_threads() if intra_op_num_threads is None else intra_op_num_threads
    opts.inter_op_num_threads = 1
    return opts


class OnnxForecaster:
    """Next-day log return (and close) from raw, unscaled feature windows.

    The ONNX graph takes standardised features; the scaler from config.json is
    applied here, in numpy, exactly as training applied it.
    """

    def __init__(self, model_dir: str | Path, onnx_file: str = ONNX_FILE,
                 intra_op_num_threads: int | None = None):
        model_dir = Path(model_dir)
        self.config = read_config(model_dir)
        self.feature_columns: tuple[str, ...] = tuple(self.config["feature_columns"])
        self.window: int = int(self.config["window"])
        self.scaler = Scaler.from_dict(self.config["scaler"])
        self.session = ort.InferenceSession(str(model_dir / onnx_file), session_options(intra_op_num_threads),
                                            providers=["CPUExecutionProvider"])

    def predict_log_return(self, X: np.ndarray) -> np.ndarray:
        X = check_windows_shape(X, self.window, len(self.feature_columns))
        (out,) = self.session.run([OUTPUT_NAME], {INPUT_NAME: self.scaler.transform(X)})
        return out.astype(np.float64)

    def predict_close(self, X: np.ndarray, close_t: np.ndarray) -> np.ndarray:
        return np.asarray(close_t, dtype=np.float64) * np.exp(self.predict_log_return(X))

    def predict_windows(self, windows: Windows) -> np.ndarray:
        """Predicted log returns; refuses windows built with other feature columns or order."""
        if windows.feature_columns != self.feature_columns:
            raise ValueError("windows were built with different feature columns than the model")
        return self.predict_log_return(windows.X)
