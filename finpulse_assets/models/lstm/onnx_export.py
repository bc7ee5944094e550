"""Export the trained LSTM to ONNX, quantise it, and check it against torch.

The graph: input "features" [batch, window, n_features] (standardised with the
scaler in config.json), output "predicted_log_return" [batch]; the target scale
is folded into the graph so the output is a real log return.

Uses the TorchScript exporter (`dynamo=False`): it needs no onnxscript and
handles nn.LSTM with a dynamic batch dimension.

int8 is not assumed to help: dynamic quantisation quantises weights, but an
LSTM this small is dominated by per-op overhead, and the quantise/dequantise
steps can cost more than the int8 matmuls save. `compare_onnx_variants`
measures both side by side and `choose_variant` keeps int8 only when it pays.
"""

from __future__ import annotations

import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnxruntime.quantization import QuantType, quantize_dynamic
from onnxruntime.quantization.shape_inference import quant_pre_process
from torch import nn

from finpulse_assets.models.lstm.model import TrainedLSTM, predict
from finpulse_assets.models.ort_options import session_options as quiet_session_options
from finpulse_assets.models.lstm.serving import (
    INPUT_NAME, ONNX_FILE, ONNX_INT8_FILE, OUTPUT_NAME, OnnxForecaster, session_options,
)

__all__ = ["export_onnx", "quantize_int8", "export_onnx_files", "parity", "compare_onnx_variants",
           "choose_variant", "OnnxForecaster"]

OPSET = 17
# Largest |int8 - torch| difference in predicted log return still accepted: 5e-4 is
# 0.05 percentage points of daily return, small next to a typical ~1 % daily error.
INT8_TOLERANCE = 5e-4
INT8_MIN_SPEEDUP = 0.10


class _ExportGraph(nn.Module):
    def __init__(self, net: nn.Module, target_scale: float):
        super().__init__()
        self.net = net
        self.register_buffer("target_scale", torch.tensor(target_scale, dtype=torch.float32))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features) * self.target_scale


def export_onnx(model: TrainedLSTM, path: str | Path, opset: int = OPSET) -> Path:
    path = Path(path)
    graph = _ExportGraph(model.net, model.target_scale).eval()
    example = torch.zeros(1, model.window, len(model.feature_columns))
    with warnings.catch_warnings():
        # Expected with dynamo=False; and the LSTM batch-size warning does not apply:
        # the initial state is built from the runtime input shape (a test runs other batch sizes).
        warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
        warnings.filterwarnings("ignore", message=".*batch_size other than 1.*")
        # nn.LSTM's own input-size checks; constant for a fixed feature count.
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        torch.onnx.export(graph, (example,), str(path), input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                          dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
                          opset_version=opset, dynamo=False)
    onnx.checker.check_model(str(path))
    return path


def quantize_int8(fp32_path: str | Path, int8_path: str | Path) -> Path:
    """ONNX Runtime dynamic quantisation: int8 weights, activations quantised at run time."""
    with tempfile.TemporaryDirectory() as tmp:
        # The recommended pre-pass (shape inference + graph clean-up) so the quantiser sees every tensor's shape.
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(fp32_path), str(prepared))
        quantize_dynamic(str(prepared), str(int8_path), weight_type=QuantType.QInt8)
    return Path(int8_path)


def export_onnx_files(model: TrainedLSTM, model_dir: str | Path, int8: bool = True) -> dict[str, Path]:
    """model.onnx (and model.int8.onnx) next to config.json in `model_dir`."""
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    paths = {"fp32": export_onnx(model, model_dir / ONNX_FILE)}
    if int8:
        paths["int8"] = quantize_int8(paths["fp32"], model_dir / ONNX_INT8_FILE)
    return paths


def _run(session: ort.InferenceSession, Xs: np.ndarray) -> np.ndarray:
    return session.run([OUTPUT_NAME], {INPUT_NAME: Xs})[0]


def parity(model: TrainedLSTM, onnx_path: str | Path, X: np.ndarray) -> float:
    """Largest |ONNX - torch| predicted log return over raw windows X."""
    session = ort.InferenceSession(str(onnx_path), quiet_session_options(), providers=["CPUExecutionProvider"])
    onnx_pred = _run(session, model.scaler.transform(X)).astype(np.float64)
    return float(np.max(np.abs(onnx_pred - predict(model, X)))) if len(X) else 0.0


def _timed(session: ort.InferenceSession, Xs: np.ndarray) -> float:
    start = time.perf_counter()
    _run(session, Xs)
    return time.perf_counter() - start


def choose_variant(report: dict, tolerance: float = INT8_TOLERANCE,
                   min_speedup: float = INT8_MIN_SPEEDUP) -> tuple[str, str]:
    """("int8" | "fp32", reason).

    int8 only if its batch-1 latency (serving scores few windows per call) is at least
    `min_speedup` faster than fp32 AND its largest difference from torch is within `tolerance`.
    """
    fp32, int8 = report["fp32"], report["int8"]
    speedup = fp32["latency_ms_p50"] / int8["latency_ms_p50"] - 1
    if int8["max_abs_diff"] > tolerance:
        return "fp32", f"int8 max abs diff {int8['max_abs_diff']:.2e} > tolerance {tolerance:.0e}"
    if speedup < min_speedup:
        return "fp32", f"int8 latency speedup {speedup:+.1%} < {min_speedup:.0%}"
    return "int8", f"int8 {speedup:+.1%} faster, max abs diff {int8['max_abs_diff']:.2e}"


def compare_onnx_variants(model: TrainedLSTM, model_dir: str | Path, X: np.ndarray, *,
                          latency_runs: int = 200, throughput_runs: int = 10,
                          intra_op_num_threads: int | None = 1, tolerance: float = INT8_TOLERANCE,
                          min_speedup: float = INT8_MIN_SPEEDUP) -> dict:
    """File size, max abs diff vs torch, latency and throughput of model.onnx and model.int8.onnx.

    Both sessions run interleaved, one call each in turn, so machine noise hits both alike.
    latency: one window per call (serving); throughput: all of X in one call.
    Returns {"fp32": {...}, "int8": {...}, "chosen": "fp32"|"int8", "reason": str}.
    """
    model_dir = Path(model_dir)
    files = {"fp32": model_dir / ONNX_FILE, "int8": model_dir / ONNX_INT8_FILE}
    missing = [str(p) for p in files.values() if not p.exists()]
    if missing:
        raise FileNotFoundError(f"export first (export_onnx_files): {missing}")
    sessions = {name: ort.InferenceSession(str(p), session_options(intra_op_num_threads),
                                           providers=["CPUExecutionProvider"]) for name, p in files.items()}
    Xs = model.scaler.transform(X)
    one = Xs[:1]
    latency = {name: [] for name in sessions}
    throughput = {name: [] for name in sessions}
    for session in sessions.values():  # warm-up: first runs allocate and optimise
        for _ in range(5):
            _run(session, one)
        _run(session, Xs)
    for i in range(latency_runs):
        order = list(sessions) if i % 2 == 0 else list(sessions)[::-1]
        for name in order:
            latency[name].append(_timed(sessions[name], one))
    for i in range(throughput_runs):
        order = list(sessions) if i % 2 == 0 else list(sessions)[::-1]
        for name in order:
            throughput[name].append(_timed(sessions[name], Xs))

    report = {}
    for name, path in files.items():
        report[name] = {
            "file_bytes": path.stat().st_size,
            "max_abs_diff": parity(model, path, X),
            "latency_ms_p50": float(np.median(latency[name]) * 1e3),
            "latency_ms_p90": float(np.percentile(latency[name], 90) * 1e3),
            "throughput_windows_per_s": float(len(Xs) / np.median(throughput[name])),
            "batch_size_for_throughput": len(Xs),
        }
    report["chosen"], report["reason"] = choose_variant(report, tolerance, min_speedup)
    return report
