"""Scores of one variant on one split, pooled and per ticker.

Movement (accuracy, MCC) on the labelled samples only, as StockNet does; price
(MAE, RMSE of the next adjusted close, and MAE over the random walk's MAE) on
every sample of the split, the left-out days included: a price forecast is
made for every day.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from finpulse_assets.evaluation.protocol import LEFT_OUT, UP
from finpulse_assets.evaluation.samples import Samples
from finpulse_assets.models.metrics import mcc

POOLED_ROW = "pooled"


def movement_metrics(label: np.ndarray, predicted_up: np.ndarray) -> dict:
    keep = label != LEFT_OUT
    actual, predicted = label[keep] == UP, np.asarray(predicted_up, dtype=bool)[keep]
    if not len(actual):
        return {"n_samples": 0, "accuracy": None, "mcc": None}
    return {"n_samples": int(len(actual)), "accuracy": float(np.mean(actual == predicted)),
            "mcc": mcc(actual, predicted)}


def price_metrics(target_close: np.ndarray, predicted_close: np.ndarray, close_t: np.ndarray) -> dict:
    if not np.isfinite(predicted_close).all():
        raise ValueError("predicted closes contain NaN or inf")
    err, rw_err = predicted_close - target_close, close_t - target_close
    rw_mae = float(np.mean(np.abs(rw_err)))
    mae = float(np.mean(np.abs(err)))
    return {"n_price": int(len(err)), "mae": mae, "rmse": float(np.sqrt(np.mean(err ** 2))),
            "mae_random_walk": rw_mae, "mae_ratio_random_walk": mae / rw_mae if rw_mae > 0 else None}


def _score_rows(truth: pd.DataFrame, predicted_up, predicted_close) -> dict:
    row = {} if predicted_up is None else movement_metrics(truth["label"].to_numpy(), predicted_up)
    if predicted_close is not None:
        row |= price_metrics(truth["target_close"].to_numpy(), np.asarray(predicted_close, dtype=float),
                             truth["close_t"].to_numpy())
    return row


def score(truth: pd.DataFrame, predicted_up: np.ndarray | None, predicted_close: np.ndarray | None) -> dict:
    """{"pooled": metrics, "by_ticker": {ticker: metrics}}; a None prediction leaves its metrics out.

    truth: one row per sample with ticker, label, close_t and target_close (`truth_frame`).
    """
    if len(truth) == 0:
        raise ValueError("no samples to score")
    out = {POOLED_ROW: _score_rows(truth, predicted_up, predicted_close), "by_ticker": {}}
    tickers = truth["ticker"].to_numpy()
    for ticker in sorted(set(tickers)):
        rows = tickers == ticker
        out["by_ticker"][ticker] = _score_rows(
            truth[rows], None if predicted_up is None else np.asarray(predicted_up)[rows],
            None if predicted_close is None else np.asarray(predicted_close)[rows])
    return out


def truth_frame(samples: Samples) -> pd.DataFrame:
    """What every variant's predictions of `samples` are scored against, keyed by (ticker, target_date)."""
    w = samples.windows
    return pd.DataFrame({"ticker": w.tickers, "target_date": w.target_dates, "label": samples.label,
                         "movement": samples.movement, "close_t": w.close_t, "target_close": w.target_close})
