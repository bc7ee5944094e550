"""Tiny real models exported the way the assets export them, and request bodies, for tests and benchmarks.

`tiny_lstm_onnx` trains a small LSTM on price features + daily sentiment
features computed by the project's own functions and returns the document
the `lstm_onnx` asset would return; `tiny_finbert_onnx` exports a 2-layer BERT
with the bundled MiniLM tokenizer like `finbert_onnx` does. Each takes seconds.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from finpulse_assets.models.integrity import file_hashes

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

TICKERS = ("AAA", "BBB")
WINDOW = 5
CHAMPION = {"status": "champion", "model_name": "test", "model_version": "1"}


def bars(ticker: str, start: str = "2024-01-02", days: int = 120, seed: int = 0) -> pd.DataFrame:
    """Daily bars on NYSE trading days: a random walk with consistent open/high/low."""
    from finpulse_assets.features.market_calendar import trading_days

    dates = trading_days(pd.Timestamp(start).date(), (pd.Timestamp(start) + pd.Timedelta(days=days * 2)).date())[:days]
    rng = np.random.default_rng(seed)
    close = 50.0 * np.exp(np.cumsum(rng.normal(0, 0.01, len(dates))))
    open_ = close * (1 + rng.normal(0, 0.003, len(dates)))
    return pd.DataFrame({"ticker": ticker, "date": dates, "open": open_,
                         "high": np.maximum(open_, close) * 1.004, "low": np.minimum(open_, close) * 0.996,
                         "close": close, "adj_close": close, "volume": rng.integers(1_000, 9_000, len(dates))
                         .astype(float)})


def training_frame(seed: int = 0) -> pd.DataFrame:
    """join_features over price features and random daily sentiment, for TICKERS."""
    from finpulse_assets.features.price import features_by_ticker
    from finpulse_assets.features.training_set import join_features
    from finpulse_assets.sentiment.daily import NEUTRAL_VALUES, SENTIMENT_FEATURE_COLUMNS

    price = features_by_ticker(pd.concat([bars(t, seed=seed + i) for i, t in enumerate(TICKERS)], ignore_index=True))
    rng = np.random.default_rng(seed)
    sentiment = price[["ticker", "date"]].rename(columns={"date": "trading_day"})
    for column in SENTIMENT_FEATURE_COLUMNS:
        sentiment[column] = rng.uniform(-1, 1, len(sentiment)) if column != "tweet_count" else \
            rng.integers(0, 30, len(sentiment))
    assert set(NEUTRAL_VALUES) == set(SENTIMENT_FEATURE_COLUMNS)
    joined, _ = join_features(price, sentiment)
    return joined


def tiny_lstm_onnx(root: Path) -> dict:
    """A pooled LSTM exported to ONNX under root/lstm_onnx, described like the lstm_onnx asset's output."""
    import torch

    from finpulse_assets.features.training_set import MODEL_FEATURE_COLUMNS
    from finpulse_assets.models.lstm.dataset import build_windows, time_split_fractions
    from finpulse_assets.models.lstm.model import LSTMConfigParams, save_model, train_lstm
    from finpulse_assets.models.lstm.onnx_export import export_onnx_files

    torch.set_num_threads(1)
    params = LSTMConfigParams(hidden_size=8, window=WINDOW, epochs=2, patience=2, batch_size=32)
    windows = build_windows(training_frame(), MODEL_FEATURE_COLUMNS, WINDOW)
    split = time_split_fractions(windows, 0.2, 0.2)
    model, _ = train_lstm(split.train, split.val, params)
    model_dir = root / "lstm_onnx" / "pooled"
    save_model(model, model_dir)
    export_onnx_files(model, model_dir, int8=False)
    return {"model_dir": str(root / "lstm_onnx"), "version": "lstm-test0001", "mode": "pooled", "window": WINDOW,
            "sha256": file_hashes(root / "lstm_onnx"),
            "feature_columns": list(MODEL_FEATURE_COLUMNS),
            "models": {"*": {"dir": str(model_dir), "onnx_file": "model.onnx", "variant": "fp32", "reason": "test"}},
            "parity": {"passed": True, "max_abs_diff": 0.0, "tolerance": 1e-4},
            "registry": dict(CHAMPION), "mlflow_run_id": "run-lstm"}


def tiny_finbert_onnx(root: Path) -> dict:
    """A 2-layer BERT exported to fp32 + int8 ONNX under root/finbert_onnx, like the finbert_onnx asset's output."""
    import torch

    from finpulse_assets.models.finbert.onnx_export import export_onnx
    from finpulse_assets.models.finbert.train import load_finetuned
    from finpulse_assets.models.finbert.tiny import build_tiny_model

    torch.set_num_threads(1)
    base = build_tiny_model(root / "finbert_base")
    model, tokenizer = load_finetuned(base)
    result = export_onnx(model, tokenizer, root / "finbert_onnx", max_length=32)
    return {"onnx_dir": str(result.directory), "int8_file": result.int8_path.name,
            "sha256": file_hashes(result.directory),
            "fp32_file": result.fp32_path.name, "version": "finbert-test0001", "model_dir": str(base),
            "parity": {"n": 10, "agreement": 1.0, "max_abs_prob_diff": 0.0, "passed": True},
            "registry": dict(CHAMPION), "mlflow_run_id": "run-finbert"}


def history(ticker: str = "AAA", days: int = 30, seed: int = 5, texts: dict[int, list[str]] | None = None) -> dict:
    """A /predict item: the last `days` bars of a fresh random walk, JSON-ready, with texts on some days."""
    frame = bars(ticker, days=days, seed=seed)
    rows = [{"date": str(d.date()), "open": o, "high": h, "low": lo, "close": c, "volume": v}
            for d, o, h, lo, c, v in zip(frame["date"], frame["open"], frame["high"], frame["low"],
                                          frame["close"], frame["volume"])]
    for day, day_texts in (texts or {}).items():
        rows[day]["texts"] = day_texts
    return {"ticker": ticker, "history": rows}
