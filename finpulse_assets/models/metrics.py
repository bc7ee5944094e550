"""Forecast metrics on next-day closes, a Markdown table of them, and a forecast-vs-actual plot.

Direction is binary: "up" when the close moves above today's close, "not up"
otherwise. A flat move (exactly today's close) counts as "not up", for the
actual and for the prediction alike. So a random walk, which always predicts
flat, predicts "not up" every day: its directional accuracy is just the share of
days that did not rise, and its MCC is 0 (a constant prediction carries no
information), which is why MCC is reported next to accuracy.
"""

from __future__ import annotations

import io
from typing import Mapping, Sequence

import numpy as np

METRIC_ORDER = ["n", "mae", "rmse", "mape", "directional_accuracy", "mcc"]


def _as_float_array(name: str, values) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).ravel()
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or inf")
    return arr


def mcc(actual_up: np.ndarray, predicted_up: np.ndarray) -> float:
    """Matthews correlation of two boolean arrays; 0 when either is constant (undefined denominator)."""
    a, p = np.asarray(actual_up, dtype=bool), np.asarray(predicted_up, dtype=bool)
    tp = float(np.sum(a & p))
    tn = float(np.sum(~a & ~p))
    fp = float(np.sum(~a & p))
    fn = float(np.sum(a & ~p))
    denom = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return float((tp * tn - fp * fn) / denom) if denom > 0 else 0.0


def forecast_metrics(actual_close, predicted_close, today_close) -> dict:
    """MAE, RMSE, MAPE (percent) of the next-day close; directional accuracy and MCC of the move; n."""
    actual = _as_float_array("actual_close", actual_close)
    predicted = _as_float_array("predicted_close", predicted_close)
    today = _as_float_array("today_close", today_close)
    if not len(actual) == len(predicted) == len(today):
        raise ValueError("actual_close, predicted_close and today_close differ in length")
    if len(actual) == 0:
        raise ValueError("no forecasts to score")
    if np.any(actual == 0):
        raise ValueError("actual_close contains 0: MAPE undefined")
    err = predicted - actual
    actual_up, predicted_up = actual > today, predicted > today
    return {
        "n": int(len(actual)),
        "mae": float(np.mean(np.abs(err))),
        "rmse": float(np.sqrt(np.mean(err ** 2))),
        "mape": float(np.mean(np.abs(err / actual)) * 100.0),
        "directional_accuracy": float(np.mean(actual_up == predicted_up)),
        "mcc": mcc(actual_up, predicted_up),
    }


def _fmt(value) -> str:
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{value:.4f}"
    return str(value)


def metrics_table(rows: Mapping[str, Mapping[str, object]]) -> str:
    """Markdown table: one row per model, one column per metric (known metrics first, in METRIC_ORDER)."""
    seen = {k for metrics in rows.values() for k in metrics}
    columns = [c for c in METRIC_ORDER if c in seen] + sorted(seen - set(METRIC_ORDER))
    lines = ["| model | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
    for model, metrics in rows.items():
        lines.append(f"| {model} | " + " | ".join(_fmt(metrics.get(c, "")) for c in columns) + " |")
    return "\n".join(lines)


def forecast_plot(dates: Sequence, actual, predictions: Mapping[str, object], title: str = "") -> bytes:
    """PNG bytes of the actual close and each model's predicted close over `dates`."""
    # Figure + Agg canvas directly, not pyplot: no global figure state, no GUI backend, safe in workers.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    x = np.asarray(dates)
    ax.plot(x, np.asarray(actual, dtype=float), color="black", linewidth=1.6, label="actual")
    for name, pred in predictions.items():
        ax.plot(x, np.asarray(pred, dtype=float), linewidth=1.0, alpha=0.85, label=name)
    ax.set_title(title)
    ax.set_ylabel("close")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    fig.autofmt_xdate()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
