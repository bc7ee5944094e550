"""Train, compare, save and export the LSTM forecaster from a training-set frame (no Dagster here).

`fit_lstm` does what the `lstm_model` asset records:
  1. windows of `window` trading days per ticker, split by date (train < val < test,
     the same cut dates for every ticker);
  2. one model across tickers ("pooled") or one per ticker, chosen on VALIDATION
     MAE of the close by `evaluate.choose_pooling` (or forced by configuration);
  3. the chosen layout trained with sentiment and without (the ablation), scored
     with the random walk and the moving average on the same test windows.

A model directory (written by `save_lstm_run`):
    manifest.json           layout (pooled / per ticker), feature columns, split, metrics
    pooled/ or <TICKER>/    one `model.save_model` directory each (config.json, model.safetensors),
                            plus eval_windows.safetensors (validation and test windows for the ONNX parity check)
    forecast.png            test-split forecast vs actual per ticker
    test_forecasts.parquet  the test forecasts behind the plot and the metrics
"""

from __future__ import annotations

import io
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from safetensors.numpy import load_file as load_numpy
from safetensors.numpy import save_file as save_numpy

from finpulse_assets.models.lstm.dataset import Split, Windows, build_windows, time_split_fractions
from finpulse_assets.models.lstm.evaluate import (
    LSTM,
    LSTM_NO_SENTIMENT,
    MOVING_AVERAGE,
    RANDOM_WALK,
    baseline_closes,
    choose_pooling,
    compare_models,
    lstm_closes,
    score,
    without_features,
)
from finpulse_assets.models.lstm.model import LSTMConfigParams, TrainedLSTM, load_model, save_model
from finpulse_assets.models.metrics import metrics_table

MANIFEST_FILE = "manifest.json"
EVAL_WINDOWS_FILE = "eval_windows.safetensors"
PLOT_FILE = "forecast.png"
TEST_FORECASTS_FILE = "test_forecasts.parquet"
POOLED = "pooled"
PER_TICKER = "per_ticker"
POOLED_KEY = "*"  # the models-dict key of the one pooled model
MANIFEST_FORMAT_VERSION = 1
MODEL_ORDER = [LSTM, LSTM_NO_SENTIMENT, RANDOM_WALK, MOVING_AVERAGE]


@dataclass(eq=False)
class LSTMRun:
    mode: str
    pooling: dict | None                       # choose_pooling report; None when forced
    pooling_reason: str
    models: dict[str, TrainedLSTM]             # POOLED_KEY or ticker -> model with sentiment
    ablation_models: dict[str, TrainedLSTM]    # same keys, price-only
    split: Split
    val_metrics: dict[str, dict]
    test_metrics: dict[str, dict]
    test_windows: Windows                      # the scored test windows (rows of test_predicted_close)
    test_predicted_close: dict[str, np.ndarray]
    histories: dict[str, dict]
    feature_columns: tuple[str, ...]
    sentiment_columns: tuple[str, ...]
    params: LSTMConfigParams
    seconds: dict[str, float] = field(default_factory=dict)

    def split_summary(self) -> dict:
        def span(w: Windows) -> dict:
            if not len(w):
                return {"windows": 0}
            return {"windows": len(w), "first_day": str(pd.Timestamp(w.dates.min()).date()),
                    "last_day": str(pd.Timestamp(w.dates.max()).date())}
        return {"train": span(self.split.train), "val": span(self.split.val), "test": span(self.split.test)}

    def beats_random_walk_on_val(self) -> bool:
        return self.val_metrics[LSTM]["mae"] < self.val_metrics[RANDOM_WALK]["mae"]

    def key_for_ticker(self, ticker: str) -> str | None:
        if self.mode == POOLED:
            return POOLED_KEY
        return ticker if ticker in self.models else None


def _ordered(metrics: dict[str, dict]) -> dict[str, dict]:
    return {name: metrics[name] for name in MODEL_ORDER if name in metrics}


def _closes(models: dict[str, TrainedLSTM], ablations: dict[str, TrainedLSTM], full: Windows, price_only: Windows,
            mode: str, ma_k: int) -> dict[str, np.ndarray]:
    if mode == POOLED:
        lstm = lstm_closes(models[POOLED_KEY], full)
        ablation = lstm_closes(ablations[POOLED_KEY], price_only)
    else:
        lstm, ablation = np.empty(len(full)), np.empty(len(full))
        for ticker, model in models.items():
            rows = full.tickers == ticker
            lstm[rows] = lstm_closes(model, full.take(rows))
            ablation[rows] = lstm_closes(ablations[ticker], price_only.take(rows))
    return {LSTM: lstm, LSTM_NO_SENTIMENT: ablation} | baseline_closes(full, ma_k)


def fit_lstm(frame: pd.DataFrame, feature_columns: Sequence[str], sentiment_columns: Sequence[str],
             params: LSTMConfigParams, val_frac: float = 0.15, test_frac: float = 0.15, pooling: str = "auto",
             ma_k: int = 5) -> LSTMRun:
    """Windows, time split, pooled-vs-per-ticker decision, training with and without sentiment, test scores."""
    if pooling not in ("auto", POOLED, PER_TICKER):
        raise ValueError(f"pooling={pooling!r}: expected 'auto', {POOLED!r} or {PER_TICKER!r}")
    missing = [c for c in sentiment_columns if c not in feature_columns]
    if missing:
        raise ValueError(f"sentiment columns {missing} are not among the feature columns")
    started = time.perf_counter()
    windows = build_windows(frame, feature_columns, params.window)
    if len(windows) == 0:
        raise ValueError(f"no complete window of {params.window} consecutive trading days with a target "
                         f"in the training set ({len(frame)} rows)")
    split = time_split_fractions(windows, val_frac, test_frac)
    price_only = Split(*(without_features(w, sentiment_columns) for w in split))
    seconds = {"windows": time.perf_counter() - started}

    started = time.perf_counter()
    report = None
    if pooling == "auto":
        report = choose_pooling(split.train, split.val, params)
        mode = report["choice"]
        pooled_mae, own_mae = report["pooled"]["mae"], report["per_ticker"]["mae"]
        reason = (f"{mode}: validation MAE of the close {pooled_mae:.4f} with one model across tickers vs "
                  f"{own_mae:.4f} with one model per ticker, on the same {report['pooled']['n']} validation "
                  f"windows (a tie goes to pooled: one model to serve)")
    else:
        mode = pooling
        reason = f"{mode}: forced by configuration (pooling={pooling!r}); not measured"
    seconds["pooling_decision"] = time.perf_counter() - started

    started = time.perf_counter()
    models, ablations, histories = {}, {}, {}
    if mode == POOLED:
        comparison = compare_models(split, price_only, params, ma_k)
        models[POOLED_KEY], ablations[POOLED_KEY] = comparison.models[LSTM], comparison.models[LSTM_NO_SENTIMENT]
        histories = {f"{name}": h for name, h in comparison.histories.items()}
        test, test_price_only = split.test, price_only.test
        val, val_price_only = split.val, price_only.val
    else:
        tickers = sorted(set(split.train.tickers) & set(split.val.tickers) & set(split.test.tickers))
        if not tickers:
            raise ValueError("per-ticker models need a ticker with train, validation and test windows")
        for ticker in tickers:
            own = Split(*(w.for_ticker(ticker) for w in split))
            own_price_only = Split(*(w.for_ticker(ticker) for w in price_only))
            comparison = compare_models(own, own_price_only, params, ma_k)
            models[ticker], ablations[ticker] = comparison.models[LSTM], comparison.models[LSTM_NO_SENTIMENT]
            histories.update({f"{name}/{ticker}": h for name, h in comparison.histories.items()})
        keep_val, keep_test = np.isin(split.val.tickers, tickers), np.isin(split.test.tickers, tickers)
        val, val_price_only = split.val.take(keep_val), price_only.val.take(keep_val)
        test, test_price_only = split.test.take(keep_test), price_only.test.take(keep_test)
    seconds["training"] = time.perf_counter() - started

    test_closes = _closes(models, ablations, test, test_price_only, mode, ma_k)
    val_closes = _closes(models, ablations, val, val_price_only, mode, ma_k)
    return LSTMRun(mode=mode, pooling=report, pooling_reason=reason, models=models, ablation_models=ablations,
                   split=split, val_metrics=_ordered(score(val, val_closes)),
                   test_metrics=_ordered(score(test, test_closes)), test_windows=test,
                   test_predicted_close=test_closes, histories=histories,
                   feature_columns=tuple(feature_columns), sentiment_columns=tuple(sentiment_columns),
                   params=params, seconds=seconds)


def pooling_table(report: dict | None) -> str:
    """Markdown: validation MAE of the close, pooled vs per ticker, per ticker and overall."""
    if report is None:
        return "_pooling forced by configuration; not measured_"
    lines = ["| ticker | windows | pooled MAE | per-ticker MAE |", "|---|---:|---:|---:|"]
    for ticker, row in report["by_ticker"].items():
        lines.append(f"| {ticker} | {row['n']} | {row['pooled_mae']:.4f} | {row['per_ticker_mae']:.4f} |")
    lines.append(f"| **all** | {report['pooled']['n']} | **{report['pooled']['mae']:.4f}** | "
                 f"**{report['per_ticker']['mae']:.4f}** |")
    return "\n".join(lines)


def forecasts_frame(run: LSTMRun) -> pd.DataFrame:
    w = run.test_windows
    frame = pd.DataFrame({"ticker": w.tickers, "date": pd.to_datetime(w.dates),
                          "target_date": pd.to_datetime(w.target_dates), "close": w.close_t,
                          "actual_close": w.target_close})
    for name, pred in run.test_predicted_close.items():
        frame[f"predicted_close_{name}"] = pred
    return frame


def forecast_panels(forecasts: pd.DataFrame, title: str = "", max_tickers: int = 6) -> bytes:
    """PNG: one panel per ticker (at most `max_tickers`), actual next-day close and each model's forecast."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    tickers = sorted(forecasts["ticker"].unique())[:max_tickers]
    fig = Figure(figsize=(10, 2.6 * max(1, len(tickers))), dpi=80)
    FigureCanvasAgg(fig)
    styles = {LSTM: dict(color="tab:red", linewidth=1.3), LSTM_NO_SENTIMENT: dict(color="tab:orange", linewidth=1.0),
              RANDOM_WALK: dict(color="tab:gray", linewidth=0.9, linestyle="--"),
              MOVING_AVERAGE: dict(color="tab:blue", linewidth=0.9, linestyle=":")}
    for i, ticker in enumerate(tickers):
        ax = fig.add_subplot(len(tickers), 1, i + 1)
        rows = forecasts[forecasts["ticker"] == ticker].sort_values("target_date")
        ax.plot(rows["target_date"], rows["actual_close"], color="black", linewidth=1.6, label="actual")
        for name in MODEL_ORDER:
            column = f"predicted_close_{name}"
            if column in rows:
                ax.plot(rows["target_date"], rows[column], label=name, alpha=0.9, **styles[name])
        ax.set_ylabel(f"{ticker} close")
        ax.grid(True, alpha=0.3)
        if i == 0:
            ax.set_title(title)
            ax.legend(loc="best", fontsize="x-small", ncol=5)
    fig.autofmt_xdate()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _sub_dir(key: str) -> str:
    return POOLED if key == POOLED_KEY else key


def manifest(run: LSTMRun, extra: dict | None = None) -> dict:
    return {
        "format_version": MANIFEST_FORMAT_VERSION,
        "mode": run.mode,
        "models": {key: _sub_dir(key) for key in run.models},
        "feature_columns": list(run.feature_columns),
        "sentiment_columns": list(run.sentiment_columns),
        "window": run.params.window,
        "params": asdict(run.params),
        "split": run.split_summary(),
        "pooling_reason": run.pooling_reason,
        "val_metrics": run.val_metrics,
        "test_metrics": run.test_metrics,
        **(extra or {}),
    }


def save_lstm_run(run: LSTMRun, out_dir: str | Path, title: str = "", extra: dict | None = None) -> dict[str, Path]:
    """Model sub-directories, eval windows, manifest, test forecasts and the plot into `out_dir`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for key, model in run.models.items():
        sub = out / _sub_dir(key)
        save_model(model, sub)
        val, test = run.split.val, run.split.test
        if key != POOLED_KEY:
            val, test = val.for_ticker(key), test.for_ticker(key)
        save_numpy({"X_val": np.ascontiguousarray(val.X), "X_test": np.ascontiguousarray(test.X)},
                   str(sub / EVAL_WINDOWS_FILE))
    forecasts = forecasts_frame(run)
    forecasts.to_parquet(out / TEST_FORECASTS_FILE, index=False)
    (out / PLOT_FILE).write_bytes(forecast_panels(forecasts, title))
    (out / MANIFEST_FILE).write_text(json.dumps(manifest(run, extra), indent=2, default=str))
    return {"manifest": out / MANIFEST_FILE, "plot": out / PLOT_FILE, "test_forecasts": out / TEST_FORECASTS_FILE}


def read_manifest(model_dir: str | Path) -> dict:
    path = Path(model_dir) / MANIFEST_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no LSTM model at {str(model_dir)!r}: {MANIFEST_FILE} is missing")
    manifest = json.loads(path.read_text())
    if manifest.get("format_version") != MANIFEST_FORMAT_VERSION:
        raise ValueError(f"{path}: unsupported format_version {manifest.get('format_version')!r}")
    return manifest


def load_sub_models(model_dir: str | Path) -> dict[str, tuple[Path, TrainedLSTM]]:
    """key -> (directory, model) for every model in a saved run (torch; training side only)."""
    model_dir = Path(model_dir)
    subs = read_manifest(model_dir)["models"]
    return {key: (model_dir / sub, load_model(model_dir / sub)) for key, sub in subs.items()}


def eval_windows(sub_dir: str | Path) -> np.ndarray:
    """Validation then test windows saved next to a model, for parity checks."""
    arrays = load_numpy(str(Path(sub_dir) / EVAL_WINDOWS_FILE))
    return np.concatenate([arrays["X_val"], arrays["X_test"]])


def metrics_markdown(metrics: dict[str, dict]) -> str:
    return metrics_table(metrics)


FP32_TOLERANCE = 1e-4


def export_onnx_run(model_dir: str | Path, latency_runs: int = 200) -> dict:
    """model.onnx + model.int8.onnx next to every model of a saved run, both measured, one chosen per model.

    Returns {key: compare_onnx_variants report + "onnx_file", "tolerance", "parity_max_abs_diff", "passed"}:
    the chosen file's largest |ONNX - torch| predicted log return over the saved validation and test
    windows must be within 1e-4 for fp32, or within INT8_TOLERANCE for int8.
    """
    from finpulse_assets.models.lstm.onnx_export import INT8_TOLERANCE, compare_onnx_variants, export_onnx_files
    from finpulse_assets.models.lstm.serving import ONNX_FILE, ONNX_INT8_FILE

    reports = {}
    for key, (sub, model) in load_sub_models(model_dir).items():
        export_onnx_files(model, sub, int8=True)
        report = compare_onnx_variants(model, sub, eval_windows(sub), latency_runs=latency_runs)
        chosen = report["chosen"]
        tolerance = FP32_TOLERANCE if chosen == "fp32" else INT8_TOLERANCE
        diff = report[chosen]["max_abs_diff"]
        reports[key] = report | {"onnx_file": ONNX_FILE if chosen == "fp32" else ONNX_INT8_FILE,
                                 "tolerance": tolerance, "parity_max_abs_diff": diff,
                                 "passed": bool(diff <= tolerance)}
    return reports


def variants_table(reports: dict) -> str:
    """Markdown: file size, parity, latency and throughput of fp32 and int8 for every model, and the choice."""
    lines = ["| model | variant | file KiB | max abs diff vs torch | latency p50 ms | latency p90 ms | "
             "windows/s (batch) | chosen |", "|---|---|---:|---:|---:|---:|---:|---|"]
    for key, report in reports.items():
        for variant in ("fp32", "int8"):
            r = report[variant]
            lines.append(f"| {_sub_dir(key)} | {variant} | {r['file_bytes'] / 1024:.1f} | {r['max_abs_diff']:.2e} | "
                         f"{r['latency_ms_p50']:.3f} | {r['latency_ms_p90']:.3f} | "
                         f"{r['throughput_windows_per_s']:,.0f} ({r['batch_size_for_throughput']}) | "
                         f"{'**yes**' if report['chosen'] == variant else ''} |")
    return "\n".join(lines)
