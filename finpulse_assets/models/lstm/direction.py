"""The probability that tomorrow's close is above today's, from the forecaster's log return.

P(up) = Phi(predicted log return / sigma), sigma the root mean squared error of
the model's log-return forecasts on its validation windows: the forecast read
as the mean of a normal distribution with the model's own validation error.
It is a monotone function of the served log return, so P(up) > 0.5 exactly when
the served forecast is up (the evaluation's "regression" direction head), and
ONNX and torch agree on it as closely as on the log return (the parity gate's
figure bounds both: |dP| <= |d log return| / (sigma * sqrt(2 pi))).
"""

from __future__ import annotations

from math import erf, pi, sqrt

import numpy as np

from finpulse_assets.models.lstm.dataset import Windows

POOLED_KEY = "*"
METHOD = "normal: Phi(predicted log return / validation RMSE of the log return)"
PARITY_TOLERANCE = 1e-3  # of P(up), on top of the log return's own tolerance


def probability_up(log_return, sigma) -> np.ndarray:
    """Phi(log_return / sigma), elementwise; sigma > 0."""
    sigma = np.asarray(sigma, dtype=np.float64)
    if not (np.isfinite(sigma).all() and (sigma > 0).all()):
        raise ValueError(f"the direction scale must be a positive finite number, got {sigma!r}")
    z = np.asarray(log_return, dtype=np.float64) / (sigma * sqrt(2.0))
    return 0.5 * (1.0 + np.vectorize(erf, otypes=[np.float64])(z))


def parity_bound(log_return_max_abs_diff: float, scales: dict[str, float]) -> float:
    """The largest |dP(up)| a log-return difference can cause: Phi's slope is at most 1 / (sigma sqrt(2 pi))."""
    return float(log_return_max_abs_diff / (min(scales.values()) * sqrt(2.0 * pi)))


def validation_scales(models: dict, val: Windows) -> dict[str, float]:
    """{POOLED_KEY or ticker: RMSE of that model's (a TrainedLSTM's) log-return forecasts on its validation
    windows}."""
    # Imported here: serving imports this module for probability_up and must not load torch.
    from finpulse_assets.models.lstm.model import predict

    out = {}
    for key, model in models.items():
        windows = val if key == POOLED_KEY else val.for_ticker(key)
        if not len(windows):
            raise ValueError(f"no validation windows for model {key!r}: its direction scale cannot be measured")
        residual = windows.y.astype(np.float64) - predict(model, windows.X)
        out[key] = float(np.sqrt(np.mean(residual ** 2)))
    return out


def scale_for(scales: dict[str, float], ticker: str) -> float:
    if POOLED_KEY in scales:
        return scales[POOLED_KEY]
    if ticker not in scales:
        raise KeyError(f"no direction scale for {ticker}")
    return scales[ticker]
