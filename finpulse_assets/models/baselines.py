"""Naive next-day close forecasts that any model must beat, and return <-> close conversions.

Every forecaster here answers the same question as the LSTM: given everything up
to day t, what is the close of the next trading day.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def close_from_log_return(close_t: np.ndarray, log_return: np.ndarray) -> np.ndarray:
    """Predicted next close = close_t * exp(predicted log return)."""
    return np.asarray(close_t, dtype=np.float64) * np.exp(np.asarray(log_return, dtype=np.float64))


def close_from_return(close_t: np.ndarray, simple_return: np.ndarray) -> np.ndarray:
    """Predicted next close = close_t * (1 + predicted simple return)."""
    return np.asarray(close_t, dtype=np.float64) * (1.0 + np.asarray(simple_return, dtype=np.float64))


def log_return_from_close(close_t: np.ndarray, predicted_close: np.ndarray) -> np.ndarray:
    return np.log(np.asarray(predicted_close, dtype=np.float64) / np.asarray(close_t, dtype=np.float64))


def random_walk(close_t: np.ndarray) -> np.ndarray:
    """Tomorrow's close = today's close (predicted return 0)."""
    return np.array(close_t, dtype=np.float64, copy=True)


def moving_average(close_history: np.ndarray, k: int = 5) -> np.ndarray:
    """Next close = mean of the last k closes up to and including t.

    close_history: [n, m] closes per forecast, oldest first, last column = day t
    (e.g. `Windows.close_history`); needs m >= k.
    """
    close_history = np.asarray(close_history, dtype=np.float64)
    if close_history.ndim != 2 or close_history.shape[1] < k or k < 1:
        raise ValueError(f"need close_history of shape [n, >= {k}], got {close_history.shape}")
    return close_history[:, -k:].mean(axis=1)


def moving_average_series(closes: pd.Series | np.ndarray, k: int = 5) -> np.ndarray:
    """The same forecast along ONE ticker's close series: value at t predicts t+1; NaN for the first k-1 days."""
    return pd.Series(np.asarray(closes, dtype=np.float64)).rolling(k, min_periods=k).mean().to_numpy()
