"""Shared serving-test helpers: a BentoML home, a served bento, HTTP calls (no tests here). The tiny models
and request bodies come from `finpulse_assets.models.tiny_exports`.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from finpulse_assets.models.tiny_exports import (  # noqa: F401 (re-exported for the tests)
    CHAMPION, TICKERS, WINDOW, bars, history, tiny_finbert_onnx, tiny_lstm_onnx, training_frame,
)


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
