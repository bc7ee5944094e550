"""The BentoML service over HTTP (in process, through `to_asgi()`), with tiny real models in a temp BentoML home."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from finpulse_assets.settings import PROJECT_ROOT
from finpulse_assets_tests.serving_support import (
    WINDOW,
    history,
    served,
)

HISTORY_DAYS = WINDOW + 20


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    shared = served(tmp_path_factory)
    return shared.root, shared.lstm_onnx, shared.finbert_onnx


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    return served(tmp_path_factory).service


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    return served(tmp_path_factory).client


def post_json(client, path, body):
    """Raw JSON text, so NaN and Infinity literals reach the server as a client could send them."""
    return client.post(path, content=json.dumps(body, allow_nan=True), headers={"content-type": "application/json"})


def test_health_probes_answer(client):
    # /metrics needs the Prometheus multiprocess setup of `bentoml serve`: test_bento_package.py checks it.
    assert client.get("/livez").status_code == 200
    assert client.get("/readyz").status_code == 200


def test_predict_answers_in_order_with_the_next_trading_day(client):
    items = [history("AAA", HISTORY_DAYS, seed=1), history("BBB", HISTORY_DAYS + 7, seed=2)]
    response = client.post("/predict", json={"requests": items})
    assert response.status_code == 200, response.text
    body = response.json()
    assert [row["ticker"] for row in body] == ["AAA", "BBB"]
    from finpulse_assets.features.market_calendar import next_trading_day

    for item, row in zip(items, body):
        last = item["history"][-1]
        assert row["date"] == str(next_trading_day(pd.Timestamp(last["date"]).date()))
        assert row["last_close"] == pytest.approx(last["close"])
        assert row["predicted_close"] == pytest.approx(last["close"] * (1 + row["predicted_return"]))
        assert row["model_version"] == "lstm-test0001/fp32"
        assert row["sentiment"].startswith("neutral: no texts given")
    assert body[0]["predicted_return"] != body[1]["predicted_return"]


def asset_path_forecast(items, lstm_onnx, finbert_onnx):
    """What the assets compute for these histories: price_features, finbert_sentiment (one ticker-day at a
    time), sentiment_features, join_features, predictions' forecast_frame."""
    from finpulse_assets.assets.sentiment import score_by_day
    from finpulse_assets.features.price import features_by_ticker
    from finpulse_assets.features.training_set import join_features
    from finpulse_assets.models.finbert.scoring import OnnxSentimentScorer
    from finpulse_assets.models.lstm.dataset import build_windows
    from finpulse_assets.models.lstm.forecast import forecast_frame
    from finpulse_assets.sentiment.daily import PROBABILITY_COLUMNS, daily_sentiment, fill_missing_days

    bars = pd.DataFrame([{"ticker": it["ticker"], **{k: v for k, v in bar.items() if k != "texts"}}
                         for it in items for bar in it["history"]])
    bars["date"] = pd.to_datetime(bars["date"])
    bars["adj_close"] = bars["close"]
    tweets = pd.DataFrame([{"ticker": it["ticker"], "trading_day": pd.Timestamp(bar["date"]), "text": text,
                            "like_num": 0, "retweet_num": 0}
                           for it in items for bar in it["history"] for text in bar.get("texts", [])])
    scorer = OnnxSentimentScorer(finbert_onnx["onnx_dir"], model_file=finbert_onnx["int8_file"])
    scores = score_by_day(scorer, tweets)
    scored = tweets.assign(**{c: scores[:, i] for i, c in enumerate(PROBABILITY_COLUMNS)})
    per_day = daily_sentiment(scored)
    sentiment = pd.concat([fill_missing_days(per_day[per_day["ticker"] == t], [t], bars.loc[bars.ticker == t, "date"])
                           for t in sorted(bars["ticker"].unique())], ignore_index=True)
    features, _ = join_features(features_by_ticker(bars), sentiment)
    windows = build_windows(features, lstm_onnx["feature_columns"], lstm_onnx["window"], target=None)
    return features, windows, forecast_frame(features, lstm_onnx)


def test_service_features_and_forecasts_are_the_assets(models, service, client):
    """The same histories through the asset functions and through the service give identical features."""
    from finpulse_assets.serving.history import feature_rows, item_key, last_windows
    from finpulse_assets.serving.schema import PredictItem

    _, lstm_onnx, finbert_onnx = models
    texts = {HISTORY_DAYS - 1: ["record quarter, strong upgrade", "lawsuit news"], 3: ["shares trade today"]}
    items = [history("AAA", HISTORY_DAYS + 3, seed=3, texts=texts), history("BBB", HISTORY_DAYS, seed=4)]
    features, windows, forecasts = asset_path_forecast(items, lstm_onnx, finbert_onnx)
    assert (features["tweet_count"] > 0).sum() == 2

    parsed = [PredictItem.model_validate(item) for item in items]
    from finpulse_assets.models.finbert.scoring import OnnxSentimentScorer

    scorer = OnnxSentimentScorer(finbert_onnx["onnx_dir"], model_file=finbert_onnx["int8_file"])
    served = feature_rows(parsed, scorer)
    for position, item in enumerate(items):
        mine = served[served["ticker"] == item_key(position)].drop(columns="ticker").reset_index(drop=True)
        theirs = features[features["ticker"] == item["ticker"]].drop(columns="ticker").reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, theirs, check_exact=True)
    served_windows, found = last_windows(served, parsed, lstm_onnx["feature_columns"], lstm_onnx["window"])
    assert found.all()
    last = [np.flatnonzero((windows.tickers == it["ticker"])
                           & (windows.dates == np.datetime64(pd.Timestamp(it["history"][-1]["date"]), "ns")))[0]
            for it in items]
    assert np.array_equal(served_windows.X, windows.X[last])

    response = client.post("/predict", json={"requests": items})
    assert response.status_code == 200, response.text
    for item, row in zip(items, response.json()):
        expected = forecasts[(forecasts["ticker"] == item["ticker"])
                             & (forecasts["date"] == pd.Timestamp(item["history"][-1]["date"]))].iloc[0]
        assert row["predicted_close"] == pytest.approx(expected["predicted_close"], rel=1e-12)
    assert response.json()[0]["sentiment"] == "scored 3 texts on 2 of 28 days; days without texts count as neutral"


def test_batched_items_get_the_results_they_get_alone(models):
    """Adaptive batching concatenates requests: each item's forecast must not depend on its batch mates."""
    from finpulse_assets.serving.bundle import FORECASTER_MODEL, SENTIMENT_MODEL
    from finpulse_assets.serving.predictor import Predictor
    from finpulse_assets.serving.schema import PredictItem

    root = models[0]
    store = root / "bentoml" / "models"
    forecaster_dir = next((store / FORECASTER_MODEL).glob("lstm-*"))
    sentiment_dir = next((store / SENTIMENT_MODEL).glob("finbert-*"))
    predictor = Predictor(forecaster_dir, sentiment_dir)
    items = [PredictItem.model_validate(history(t, HISTORY_DAYS + n, seed=n, texts={n: ["great quarter"]}))
             for n, t in enumerate(["AAA", "AAA", "BBB"])]
    together = predictor.predict(items)
    alone = [predictor.predict([item])[0] for item in items]
    assert together == alone


def test_sentiment_returns_labels_and_probabilities_in_order(models, client):
    from finpulse_assets.models.finbert.scoring import OnnxSentimentScorer

    texts = ["strong upgrade, record quarter", "awful lawsuit", "shares trade today"]
    response = client.post("/sentiment", json={"texts": texts})
    assert response.status_code == 200, response.text
    body = response.json()
    scorer = OnnxSentimentScorer(models[2]["onnx_dir"], model_file=models[2]["int8_file"])
    expected = scorer.score(texts)
    for row, probs in zip(body, expected):
        got = [row["probabilities"][k] for k in ("positive", "negative", "neutral")]
        np.testing.assert_allclose(got, probs, atol=1e-6)
        assert row["label"] == ("positive", "negative", "neutral")[int(np.argmax(probs))]


def _item(**changes):
    item = history("AAA", HISTORY_DAYS, seed=9)
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        target = item
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        if value is DELETE:
            del target[leaf]
        else:
            target[leaf] = value
    return {"requests": [item]}


DELETE = object()
NEXT_SATURDAY = "2024-02-10"


@pytest.mark.parametrize("body, loc, words", [
    ({}, ["requests"], "Field required"),
    (_item(ticker=DELETE), ["requests", 0, "ticker"], "Field required"),
    (_item(history__3__close=DELETE), ["requests", 0, "history", 3, "close"], "Field required"),
    (_item(history__3__close="abc"), ["requests", 0, "history", 3, "close"], "valid number"),
    (_item(history__3__volume=[1]), ["requests", 0, "history", 3, "volume"], "valid number"),
    (_item(history__3__close=float("nan")), ["requests", 0, "history", 3, "close"], "finite number"),
    (_item(history__3__open=float("inf")), ["requests", 0, "history", 3, "open"], "finite number"),
    (_item(history__3__close=-1.0), ["requests", 0, "history", 3, "close"], "greater than or equal to 0.000001"),
    (_item(history__3__high=1.0), ["requests", 0, "history", 3], "high 1.0 is below"),
    (_item(history__3__date="2024-13-01"), ["requests", 0, "history", 3, "date"], "valid date"),
    (_item(history__3__date=NEXT_SATURDAY), ["requests", 0, "history", 3, "date"], "not a trading day"),
    (_item(history__4__date="2024-01-03"), ["requests", 0, "history"], "duplicate date: history[4].date 2024-01-03 "
                                                                         "repeats history[1].date"),
    (_item(ticker="ZZZ"), ["requests", 0, "ticker"], "unknown ticker 'ZZZ'"),
    (_item(history__0__surprise=1), ["requests", 0, "history", 0, "surprise"], "Extra inputs"),
    (_item(history__3__texts=["x" * 1001]), ["requests", 0, "history", 3, "texts", 0], "at most 1000"),
    (_item(history__3__texts="not a list"), ["requests", 0, "history", 3, "texts"], "valid list"),
])
def test_bad_predict_requests_get_400_naming_the_field(client, body, loc, words):
    response = post_json(client, "/predict", body)
    assert response.status_code == 400, response.text
    problems = response.json()["detail"]
    assert any(p["loc"] == loc and words in p["msg"] for p in problems), problems


def test_too_short_history_and_too_many_items_get_400(client):
    from finpulse_assets.serving.schema import MAX_ITEMS

    short = history("AAA", HISTORY_DAYS - 1)
    response = client.post("/predict", json={"requests": [short]})
    assert response.status_code == 400
    (problem,) = response.json()["detail"]
    assert problem["loc"] == ["requests", 0, "history"]
    assert f"too short: {HISTORY_DAYS - 1} days; the model needs at least {HISTORY_DAYS}" in problem["msg"]
    response = client.post("/predict", json={"requests": [history("AAA", HISTORY_DAYS)] * (MAX_ITEMS + 1)})
    assert response.status_code == 400 and response.json()["detail"][0]["loc"] == ["requests"]
    assert f"at most {MAX_ITEMS} items" in response.json()["detail"][0]["msg"]
    assert client.post("/predict", json={"requests": []}).status_code == 400


@pytest.mark.parametrize("body, loc", [
    ({}, ["texts"]), ({"texts": []}, ["texts"]), ({"texts": [3]}, ["texts", 0]), ({"texts": ["  "]}, ["texts", 0]),
    ({"texts": ["y" * 1001]}, ["texts", 0]), ({"texts": ["ok"] * 257}, ["texts"]),
])
def test_bad_sentiment_requests_get_400_naming_the_field(client, body, loc):
    response = post_json(client, "/sentiment", body)
    assert response.status_code == 400, response.text
    assert response.json()["detail"][0]["loc"] == loc


def test_malformed_json_is_a_400_not_a_500(client):
    response = client.post("/predict", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 400


def test_bearer_token_is_required_when_configured_and_probes_stay_open(service, monkeypatch):
    """The middleware the service installs, around a plain app (a second BentoML app in one process
    would register its Prometheus metrics twice)."""
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from finpulse_assets.serving.auth import BearerTokenAuth

    assert (BearerTokenAuth, {}) in service.middlewares
    ok = Starlette(routes=[Route(p, lambda request: PlainTextResponse("ok"), methods=["GET", "POST"])
                           for p in ("/readyz", "/livez", "/sentiment")])
    monkeypatch.setenv("FINPULSE_API_TOKEN", "s3cret")
    secured = TestClient(BearerTokenAuth(ok))
    assert secured.get("/readyz").status_code == 200 and secured.get("/livez").status_code == 200
    missing = secured.post("/sentiment")
    assert missing.status_code == 401 and "missing bearer token" in missing.json()["error"]
    wrong = secured.post("/sentiment", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and "invalid bearer token" in wrong.json()["error"]
    assert secured.post("/sentiment", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    monkeypatch.delenv("FINPULSE_API_TOKEN")
    assert TestClient(BearerTokenAuth(ok)).post("/sentiment").status_code == 200


def test_serving_imports_neither_torch_nor_dagster():
    code = ("import sys; import bentos.finpulse.service; "
            "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'dagster', 'transformers', 'mlflow'}); "
            "print(heavy)")
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=300, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"
