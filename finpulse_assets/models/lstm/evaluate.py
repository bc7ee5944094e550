"""Train the LSTM with and without sentiment and score it against the naive baselines.

All models are scored on the same windows and on the same thing: the next
trading day's close, reconstructed from today's close for the LSTMs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from finpulse_assets.models.baselines import close_from_log_return, moving_average, random_walk
from finpulse_assets.models.lstm.dataset import Split, Windows
from finpulse_assets.models.lstm.model import LSTMConfigParams, TrainedLSTM, predict, train_lstm
from finpulse_assets.models.metrics import forecast_metrics, metrics_table

LSTM = "lstm"
LSTM_NO_SENTIMENT = "lstm_no_sentiment"
RANDOM_WALK = "random_walk"
MOVING_AVERAGE = "moving_average"


def without_features(windows: Windows, columns: Sequence[str]) -> Windows:
    """The same windows minus `columns` (the price-only ablation from the full feature set)."""
    drop = set(columns)
    return windows.select_features([c for c in windows.feature_columns if c not in drop])


def baseline_closes(windows: Windows, ma_k: int = 5) -> dict[str, np.ndarray]:
    return {RANDOM_WALK: random_walk(windows.close_t), MOVING_AVERAGE: moving_average(windows.close_history, ma_k)}


def lstm_closes(model: TrainedLSTM, windows: Windows) -> np.ndarray:
    return close_from_log_return(windows.close_t, predict(model, windows.X))


def score(windows: Windows, predicted_close: dict[str, np.ndarray]) -> dict[str, dict]:
    return {name: forecast_metrics(windows.target_close, pred, windows.close_t)
            for name, pred in predicted_close.items()}


@dataclass(eq=False)
class Comparison:
    test_metrics: dict[str, dict]
    val_metrics: dict[str, dict]
    test_predicted_close: dict[str, np.ndarray]   # aligned with the test windows (dates, tickers, target_close)
    models: dict[str, TrainedLSTM]
    histories: dict[str, dict]

    def table(self, split: str = "test") -> str:
        return metrics_table(self.test_metrics if split == "test" else self.val_metrics)


def _check_aligned(a: Windows, b: Windows, what: str) -> None:
    # The ablation must be scored on exactly the same forecasts, or the comparison is unfair.
    if len(a) != len(b) or not (np.array_equal(a.dates, b.dates) and np.array_equal(a.tickers, b.tickers)):
        raise ValueError(f"full and price-only {what} windows differ; build both from the same frame "
                         "(e.g. with without_features)")


def compare_models(full: Split, price_only: Split, params: LSTMConfigParams | None = None,
                   ma_k: int = 5) -> Comparison:
    """Test (and validation) metrics of LSTM, LSTM without sentiment, random walk and moving average.

    `full` and `price_only` are (train, val, test) windows over the same rows, with
    and without the sentiment columns. Validation drives early stopping; test is
    touched only for the final scores.
    """
    params = params or LSTMConfigParams()
    for what in ("val", "test"):
        _check_aligned(getattr(full, what), getattr(price_only, what), what)
    models, histories = {}, {}
    for name, split in ((LSTM, full), (LSTM_NO_SENTIMENT, price_only)):
        models[name], histories[name] = train_lstm(split.train, split.val, params)

    def closes(which: str) -> dict[str, np.ndarray]:
        preds = {LSTM: lstm_closes(models[LSTM], getattr(full, which)),
                 LSTM_NO_SENTIMENT: lstm_closes(models[LSTM_NO_SENTIMENT], getattr(price_only, which))}
        return preds | baseline_closes(getattr(full, which), ma_k)

    test_closes = closes("test")
    return Comparison(test_metrics=score(full.test, test_closes), val_metrics=score(full.val, closes("val")),
                      test_predicted_close=test_closes, models=models, histories=histories)


def choose_pooling(train: Windows, val: Windows, params: LSTMConfigParams | None = None) -> dict:
    """One model across tickers vs one model per ticker, decided by validation MAE of the close.

    Both are scored on the same validation windows: those of tickers that have
    training and validation windows. Early stopping also uses validation, which
    flatters both candidates alike. A tie goes to pooled (one model to serve).
    """
    params = params or LSTMConfigParams()
    tickers = sorted(set(train.tickers) & set(val.tickers))
    skipped = sorted(set(val.tickers) - set(tickers))
    if not tickers:
        raise ValueError("no ticker has both training and validation windows")
    scored = val.take(np.isin(val.tickers, tickers))

    pooled, _ = train_lstm(train, val, params)
    pooled_close = lstm_closes(pooled, scored)
    own_close = np.empty(len(scored))
    for ticker in tickers:
        rows = scored.tickers == ticker
        own, _ = train_lstm(train.for_ticker(ticker), val.for_ticker(ticker), params)
        own_close[rows] = lstm_closes(own, scored.take(rows))

    by_ticker = {}
    for ticker in tickers:
        rows = scored.tickers == ticker
        actual = scored.target_close[rows]
        by_ticker[ticker] = {"n": int(rows.sum()),
                             "pooled_mae": float(np.mean(np.abs(pooled_close[rows] - actual))),
                             "per_ticker_mae": float(np.mean(np.abs(own_close[rows] - actual)))}
    pooled_m = forecast_metrics(scored.target_close, pooled_close, scored.close_t)
    own_m = forecast_metrics(scored.target_close, own_close, scored.close_t)
    return {
        "choice": "per_ticker" if own_m["mae"] < pooled_m["mae"] else "pooled",
        "pooled": pooled_m,
        "per_ticker": own_m,
        "by_ticker": by_ticker,
        "skipped_tickers": skipped,
    }
