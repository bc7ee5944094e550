"""The service under hostile input (issue 13's reproducers), through its ASGI app and its batching layer."""

import json
import logging
import threading

import pytest

from finpulse_assets_tests.serving_support import WINDOW, history, served

HISTORY_DAYS = WINDOW + 20


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    return served(tmp_path_factory).client


def strict_json(response):
    """The body parsed as standard JSON: `Infinity` and `NaN` are not JSON, so they fail here."""
    def refuse(constant):
        raise ValueError(f"non-standard JSON constant {constant} in the response")
    return json.loads(response.content, parse_constant=refuse)


def post(client, path, body, **headers):
    return client.post(path, content=json.dumps(body, allow_nan=True),
                       headers={"content-type": "application/json", **headers})


def problems(response):
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    return strict_json(response)["detail"]


def shifted(item, start: str):
    """The same bars moved onto the consecutive trading days from `start` (beyond the calendar: weekdays)."""
    import datetime as dt

    day = dt.date.fromisoformat(start)
    for bar in item["history"]:
        while day.weekday() >= 5:
            day += dt.timedelta(days=1)
        bar["date"] = day.isoformat()
        day += dt.timedelta(days=1)
    return item


@pytest.mark.parametrize("start", ["2260-11-01", "3000-01-06", "1679-01-05", "1997-12-01"])
def test_dates_outside_the_calendar_are_400_not_an_overflow(client, start):
    detail = problems(post(client, "/predict", {"requests": [shifted(history("AAA", HISTORY_DAYS), start)]}))
    assert any("outside the calendar the service supports" in p["msg"] for p in detail), detail
    assert not any("OutOfBounds" in p["msg"] or "overflow" in p["msg"] for p in detail)


def test_the_last_supported_day_forecasts_into_the_next_year(client):
    item = history("AAA", HISTORY_DAYS)
    from finpulse_assets.serving.calendar import LAST_DAY, position, day_at

    last = position(LAST_DAY)
    for k, bar in enumerate(item["history"]):
        bar["date"] = str(day_at(last - len(item["history"]) + 1 + k))
    response = post(client, "/predict", {"requests": [item]})
    assert response.status_code == 200, response.text
    assert strict_json(response)[0]["date"] == "2100-01-04"


def test_extreme_price_jumps_are_400_and_never_infinity(client):
    item = history("AAA", HISTORY_DAYS)
    for k, bar in enumerate(item["history"]):
        price = 1e-300 if k % 2 else 1e300
        bar.update(open=price, high=price, low=price, close=price, adj_close=price)
    detail = problems(post(client, "/predict", {"requests": [item]}))
    assert any("greater than or equal to 1e-06" in p["msg"] or "less than or equal to 1000000000" in p["msg"]
               for p in detail), detail


def test_prices_at_the_bounds_give_finite_forecasts(client):
    item = history("AAA", HISTORY_DAYS)
    for k, bar in enumerate(item["history"]):
        price = 1e-6 if k % 2 else 1e9
        bar.update(open=price, high=price, low=price, close=price, volume=1e15 if k % 3 else 0.0)
    response = post(client, "/predict", {"requests": [item]})
    assert response.status_code in (200, 422), response.text
    body = strict_json(response)
    if response.status_code == 200:
        assert body[0]["predicted_close"] > 0


def test_a_missing_trading_day_is_400_like_training_windows(client):
    item = history("AAA", HISTORY_DAYS + 1)
    del item["history"][10]
    (problem,) = problems(post(client, "/predict", {"requests": [item]}))
    assert problem["loc"] == ["requests", 0, "history"]
    assert "missing trading days: 1 between history[9].date" in problem["msg"]


def test_a_year_gap_before_the_last_bar_is_400(client):
    item = history("AAA", HISTORY_DAYS + 1)
    item["history"][-1]["date"] = "2025-03-03"
    (problem,) = problems(post(client, "/predict", {"requests": [item]}))
    assert "missing trading days" in problem["msg"] and "consecutive trading days" in problem["msg"]


def test_duplicate_and_out_of_order_dates_are_named(client):
    item = history("AAA", HISTORY_DAYS + 1)
    item["history"][6]["date"] = item["history"][5]["date"]
    (problem,) = problems(post(client, "/predict", {"requests": [item]}))
    assert "duplicate date: history[6].date" in problem["msg"]
    item = history("AAA", HISTORY_DAYS + 1)
    item["history"][5]["date"], item["history"][6]["date"] = item["history"][6]["date"], item["history"][5]["date"]
    (problem,) = problems(post(client, "/predict", {"requests": [item]}))
    assert "dates out of order: history[6].date" in problem["msg"]


@pytest.mark.parametrize("field, value", [("volume", True), ("close", "280.46"), ("open", "1e3"), ("high", None)])
def test_numbers_are_strict(client, field, value):
    item = history("AAA", HISTORY_DAYS)
    item["history"][3][field] = value
    detail = problems(post(client, "/predict", {"requests": [item]}))
    assert any(p["loc"] == ["requests", 0, "history", 3, field] for p in detail), detail


@pytest.mark.parametrize("path", ["/predict", "/sentiment"])
@pytest.mark.parametrize("content_type", ["multipart/form-data", "text/plain", "application/x-www-form-urlencoded",
                                          "application/vnd.bentoml+pickle"])
def test_bodies_that_are_not_json_get_415(client, path, content_type):
    response = client.post(path, content=b"--x\r\n", headers={"content-type": content_type})
    assert response.status_code == 415, response.text
    body = strict_json(response)
    assert "application/json" in body["error"] and body["request_id"] == response.headers["x-request-id"]


def test_oversize_bodies_get_413_before_parsing(client):
    from finpulse_assets.serving.http import max_body_bytes

    limit = max_body_bytes()
    blob = b'{"texts": ["' + b"x" * limit + b'"]}'
    response = client.post("/sentiment", content=blob, headers={"content-type": "application/json"})
    assert response.status_code == 413 and "too large" in strict_json(response)["error"]

    def chunks():  # no Content-Length: the edge counts what arrives
        yield b'{"texts": ["'
        for _ in range(limit // 65536 + 2):
            yield b"y" * 65536
        yield b'"]}'
    response = client.post("/sentiment", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413


def test_texts_times_characters_are_bounded(client):
    from finpulse_assets.serving.schema import MAX_REQUEST_TEXTS, MAX_SENTIMENT_CHARS, MAX_SENTIMENT_TEXTS

    assert post(client, "/sentiment", {"texts": ["a b"] * 20_000}).status_code == 400
    many_chars = ["z" * 999] * (MAX_SENTIMENT_CHARS // 999 + 1)
    assert len(many_chars) <= MAX_SENTIMENT_TEXTS
    response = post(client, "/sentiment", {"texts": many_chars})
    assert response.status_code == 413
    assert f"at most {MAX_SENTIMENT_CHARS:,} (FINPULSE_SERVE_MAX_SENTIMENT_CHARS)" in problems(response)[0]["msg"]
    item = history("AAA", HISTORY_DAYS, texts={d: ["fine"] * 100 for d in range(HISTORY_DAYS)})
    response = post(client, "/predict", {"requests": [item]})
    assert response.status_code == 413
    assert f"at most {MAX_REQUEST_TEXTS:,} (FINPULSE_SERVE_MAX_REQUEST_TEXTS)" in problems(response)[0]["msg"]


def test_bad_requests_log_one_line_without_input_or_traceback(client, caplog):
    caplog.set_level(logging.INFO)
    secret = "SECRET-TICKER-PAYLOAD"
    post(client, "/predict", {"requests": [{"ticker": secret, "history": []}]})
    post(client, "/predict", {})
    assert not any(r.exc_info for r in caplog.records)
    assert not any(secret in r.getMessage() for r in caplog.records)
    lines = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.levelno for r in lines] == [logging.WARNING, logging.WARNING], [r.getMessage() for r in lines]
    assert "POST /predict -> 400 (2 problems) request_id=" in lines[0].getMessage()
    assert "POST /predict -> 400 (1 problem) request_id=" in lines[1].getMessage()


def test_a_bad_request_never_fails_the_valid_requests_sent_with_it(client):
    """17 concurrent requests, one hostile: the 16 valid ones all get their forecasts."""
    good = [history("AAA", HISTORY_DAYS, seed=k) for k in range(16)]
    bad = history("AAA", HISTORY_DAYS, seed=99)
    for k, bar in enumerate(bad["history"]):
        price = 1e-300 if k % 2 else 1e300
        bar.update(open=price, high=price, low=price, close=price)
    results: dict[int, object] = {}

    def call(k, item):
        results[k] = post(client, "/predict", {"requests": [item]})

    threads = [threading.Thread(target=call, args=(k, item)) for k, item in enumerate([*good, bad])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert 400 <= results[16].status_code < 500
    for k in range(16):
        assert results[k].status_code == 200, results[k].text
        assert strict_json(results[k])[0]["last_close"] == pytest.approx(good[k]["history"][-1]["close"])


def test_the_openapi_document_declares_31_and_the_real_error_shapes(client):
    document = strict_json(client.get("/docs.json"))
    assert document["openapi"] == "3.1.0"
    text = json.dumps(document)
    # 3.1 is JSON Schema 2020-12: numeric exclusive bounds, `null` as a type; 3.0's forms must not appear.
    assert '"nullable"' not in text and '"exclusiveMinimum": true' not in text and '"exclusiveMinimum": false' not in text
    responses = document["paths"]["/predict"]["post"]["responses"]
    assert responses["400"]["content"]["application/json"]["schema"]["$ref"].endswith("/ProblemReport")
    detail = document["components"]["schemas"]["ProblemReport"]["properties"]["detail"]
    assert detail["type"] == "array"
    assert {"413", "415", "422", "500", "503"} <= set(responses)
    assert "Retry-After" in responses["503"]["headers"]


@pytest.fixture(scope="module")
def predictor(tmp_path_factory):
    from finpulse_assets.serving.bundle import FORECASTER_MODEL, SENTIMENT_MODEL
    from finpulse_assets.serving.predictor import Predictor

    store = served(tmp_path_factory).root / "bentoml" / "models"
    return Predictor(next((store / FORECASTER_MODEL).glob("lstm-*")), next((store / SENTIMENT_MODEL).glob("finbert-*")))


def test_a_non_finite_forecast_is_that_items_422(predictor, monkeypatch):
    import sys

    import numpy as np

    from finpulse_assets.serving.predictor import Unforecastable
    from finpulse_assets.serving.schema import Forecast, PredictItem

    items = [PredictItem.model_validate(history("AAA", HISTORY_DAYS, seed=k)) for k in range(3)]
    real = predictor.models.predict_log_return
    monkeypatch.setattr(predictor.models, "predict_log_return",
                        lambda windows, tickers: real(windows, tickers) + np.array([0.0, 800.0, np.nan]))
    outcomes = predictor.predict(items)
    assert isinstance(outcomes[0], Forecast) and np.isfinite(outcomes[0].predicted_close)
    assert isinstance(outcomes[1], Unforecastable) and "not a finite number" in outcomes[1].msg
    assert isinstance(outcomes[2], Unforecastable)
    response = sys.modules["bentos.finpulse.service"].unforecastable(outcomes)
    assert response.status_code == 422
    assert [p["loc"] for p in json.loads(response.body)["detail"]] == [["requests", 1], ["requests", 2]]


def test_an_item_that_breaks_the_batch_is_redone_alone(predictor, monkeypatch):
    from finpulse_assets.serving import predictor as predictor_module
    from finpulse_assets.serving.schema import Forecast, PredictItem

    items = [PredictItem.model_validate(history("AAA", HISTORY_DAYS, seed=k)) for k in range(4)]
    poison = items[2]
    real = predictor_module.feature_columns

    def fragile(batch, scorer):
        if any(item is poison for item in batch):
            raise RuntimeError("an unforeseen failure on one item")
        return real(batch, scorer)

    monkeypatch.setattr(predictor_module, "feature_columns", fragile)
    outcomes = predictor.predict(items)
    assert [type(o) for o in outcomes] == [Forecast, Forecast, RuntimeError, Forecast]
    monkeypatch.setattr(predictor_module, "feature_columns", real)
    assert predictor.predict([items[0]]) == outcomes[:1]


def test_overload_answers_503_with_retry_after_saying_so():
    import sys

    from finpulse_assets.serving.batching import Overloaded

    module = sys.modules["bentos.finpulse.service"]
    response = module.overloaded(Overloaded("no batch could start within the latency budget of 2000 ms"))
    assert response.status_code == 503 and int(response.headers["retry-after"]) >= 1
    assert json.loads(response.body)["error"].startswith("server overloaded")
