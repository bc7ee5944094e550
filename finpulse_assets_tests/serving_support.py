"""Shared builders for the serving tests: tiny real models exported the way the assets export them (no tests here).

`tiny_lstm_onnx` trains a small LSTM on price features + daily sentiment
features computed by the project's own functions and returns the document
the `lstm_onnx` asset would return; `tiny_finbert_onnx` exports a 2-layer BERT
with the bundled MiniLM tokenizer like `finbert_onnx` does. Each takes seconds.
"""

from __future__ import annotations

import contextlib
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
    from finpulse_assets_tests.test_finbert_support import build_tiny_model

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


@contextlib.contextmanager
def bentoml_home(home: Path):
    """Point BentoML's stores (in this process and in child processes) at `home`, restored afterwards."""
    from bentoml._internal.bento import BentoStore
    from bentoml._internal.configuration.containers import BentoMLContainer
    from bentoml._internal.models import ModelStore

    for sub in ("bentos", "models", "envs", "tmp"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    previous = os.environ.get("BENTOML_HOME")
    os.environ["BENTOML_HOME"] = str(home)
    container = BentoMLContainer
    with contextlib.ExitStack() as stack:
        for provider, value in ((container.bentoml_home, str(home)),
                                (container.bento_store_dir, str(home / "bentos")),
                                (container.model_store_dir, str(home / "models")),
                                (container.env_store_dir, str(home / "envs")),
                                (container.tmp_bento_store_dir, str(home / "tmp")),
                                (container.bento_store, BentoStore(str(home / "bentos"))),
                                (container.model_store, ModelStore(str(home / "models")))):
            stack.enter_context(provider.patch(value))
        try:
            yield home
        finally:
            if previous is None:
                os.environ.pop("BENTOML_HOME", None)
            else:
                os.environ["BENTOML_HOME"] = previous


class Served:
    """Tiny models saved into a temp BentoML home, the service imported from them, and a client on its ASGI app."""

    def __init__(self, root: Path):
        import importlib
        import sys

        from starlette.testclient import TestClient

        from finpulse_assets.deploy.bento_packaging import SERVICE_MODULE, forget_service, save_serving_models
        from finpulse_assets.settings import PROJECT_ROOT

        self.root = root
        self.lstm_onnx, self.finbert_onnx = tiny_lstm_onnx(root), tiny_finbert_onnx(root)
        with bentoml_home(root / "bentoml"):
            save_serving_models(self.lstm_onnx, self.finbert_onnx, TICKERS)
            sys.path.insert(0, str(PROJECT_ROOT))
            try:
                forget_service()
                self.service = importlib.import_module(SERVICE_MODULE).FinPulse
                # The models load when the app starts; afterwards nothing reads the store.
                self.client = TestClient(self.service.to_asgi(), raise_server_exceptions=False)
                self.client.__enter__()
            finally:
                sys.path.remove(str(PROJECT_ROOT))


_served: Served | None = None


def served(tmp_path_factory) -> Served:
    """One Served per test process: a second BentoML app in one process would register its metrics twice."""
    global _served
    if _served is None:
        _served = Served(tmp_path_factory.mktemp("serving"))
    return _served


def call(port: int, path: str, body=None) -> tuple[int, object]:
    """GET (no body) or POST JSON to 127.0.0.1:port; (status, parsed JSON or text), HTTP errors included."""
    import json
    import urllib.error
    import urllib.request

    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method="POST" if body is not None else "GET",
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            text, status = response.read().decode(), response.status
    except urllib.error.HTTPError as error:
        text, status = error.read().decode(), error.code
    try:
        return status, json.loads(text)
    except json.JSONDecodeError:
        return status, text


def check_served_endpoints(port: int) -> list[dict]:
    """What any running FinPulse server (bento, image) must answer: /predict and /sentiment, 400 for bad input.
    Returns the /predict answer for the caller's own checks."""
    days = WINDOW + 20
    status, predicted = call(port, "/predict", {"requests": [history("AAA", days, texts={days - 1: ["great"]}),
                                                             history("BBB", days)]})
    assert status == 200 and [row["ticker"] for row in predicted] == ["AAA", "BBB"], predicted
    assert predicted[0]["sentiment"].startswith("scored 1 texts") and predicted[1]["sentiment"].startswith("neutral")
    status, body = call(port, "/sentiment", {"texts": ["strong upgrade", "awful lawsuit"]})
    assert status == 200 and len(body) == 2 and set(body[0]["probabilities"]) == {"positive", "negative", "neutral"}
    status, body = call(port, "/predict", {"requests": [history("AAA", days - 1)]})
    assert status == 400 and body["detail"][0]["loc"] == ["requests", 0, "history"], body
    status, body = call(port, "/sentiment", {"texts": "not a list"})
    assert status == 400 and body["detail"][0]["loc"] == ["texts"], body
    return predicted
