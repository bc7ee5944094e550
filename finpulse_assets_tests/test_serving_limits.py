"""Issue 24's reproducers: bounded validation, strict JSON, admission limits, the edge's timeout and disconnects."""

import asyncio
import json
import logging
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finpulse_assets.serving.validation import MAX_REPORTED_PROBLEMS
from finpulse_assets_tests.serving_support import WINDOW, history, served

HISTORY_DAYS = WINDOW + 20
SMALL_ANSWER_BYTES = 8_000


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    return served(tmp_path_factory).client


def post_raw(client, path, content: bytes, **headers):
    return client.post(path, content=content, headers={"content-type": "application/json", **headers})


def small_rejection(response, status=(400,)):
    assert response.status_code in status, (response.status_code, response.text[:500])
    assert len(response.content) < SMALL_ANSWER_BYTES, len(response.content)
    body = response.json()
    assert len(body["detail"]) <= MAX_REPORTED_PROBLEMS
    assert body["request_id"] == response.headers["x-request-id"]
    return body


def test_many_empty_bars_get_a_small_answer(client):
    """Issue 24: 64 items x 260 empty bars (68 KB) got a 14.7 MB 400 after 4.4 s."""
    body = json.dumps({"requests": [{"ticker": "AAPL", "history": [{}] * 260}] * 64}).encode()
    answer = small_rejection(post_raw(client, "/predict", body), status=(413,))
    assert "FINPULSE_SERVE_MAX_REQUEST_DAYS" in answer["error"]
    # Within the cost limit: validated, and checking stops after the first problems.
    body = json.dumps({"requests": [{"ticker": "AAA", "history": [{}] * 260}] * 7}).encode()
    answer = small_rejection(post_raw(client, "/predict", body))
    assert len(answer["detail"]) == MAX_REPORTED_PROBLEMS and answer["problem_count"] >= MAX_REPORTED_PROBLEMS
    assert "checking stopped at requests[0]" in answer["error"]


def test_two_megabytes_of_bad_texts_get_a_small_answer(client):
    """Issue 24: a 2 MB body of bad texts got a 182 MB 400 after 57 s."""
    from finpulse_assets.serving.http import max_body_bytes

    bad = {"not": "a text"}
    per_day = 40
    item = history("AAA", HISTORY_DAYS)
    for bar in item["history"]:
        bar["texts"] = [bad] * per_day
    body = json.dumps({"requests": [item]}).encode()
    answer = small_rejection(post_raw(client, "/predict", body))
    assert answer["detail"][0]["loc"] == ["requests", 0, "history", 0, "texts", 0]
    filler = max_body_bytes() // 2 - 100
    for texts in ([1] * (filler // 3), ["y" * 999] * 256, [["z" * 1000]] * 256, ["\u00e9" * 1000] * 65):
        body = json.dumps({"texts": texts}).encode()
        assert len(body) < max_body_bytes()
        small_rejection(post_raw(client, "/sentiment", body), status=(400, 413))


def test_a_request_over_the_cost_limit_is_413_naming_it(client):
    from finpulse_assets.serving.schema import MAX_REQUEST_DAYS, MAX_REQUEST_TEXT_CHARS

    items = [history("AAA", 260, seed=k) for k in range(MAX_REQUEST_DAYS // 260 + 1)]
    answer = small_rejection(post_raw(client, "/predict", json.dumps({"requests": items}).encode()), status=(413,))
    assert f"at most {MAX_REQUEST_DAYS:,} (FINPULSE_SERVE_MAX_REQUEST_DAYS)" in answer["detail"][0]["msg"]
    texts = {d: ["w" * 1000] * (MAX_REQUEST_TEXT_CHARS // 1000 // HISTORY_DAYS + 1) for d in range(HISTORY_DAYS)}
    item = history("AAA", HISTORY_DAYS, texts=texts)
    answer = small_rejection(post_raw(client, "/predict", json.dumps({"requests": [item]}).encode()), status=(413,))
    assert "FINPULSE_SERVE_MAX_REQUEST_TEXT_CHARS" in answer["detail"][0]["msg"]


def test_duplicate_keys_are_400(client):
    item = json.dumps(history("AAA", HISTORY_DAYS))
    first_close = item.index('"close"')
    doubled = item[:first_close] + '"close": 1e308, ' + item[first_close:]
    answer = small_rejection(post_raw(client, "/predict", ('{"requests": [' + doubled + "]}").encode()))
    assert answer["detail"][0]["type"] == "json_duplicate_key" and "'close'" in answer["detail"][0]["msg"]
    answer = small_rejection(post_raw(client, "/sentiment", b'{"texts": ["a"], "texts": ["b"]}'))
    assert "'texts'" in answer["detail"][0]["msg"]


def test_unknown_top_level_fields_are_400(client):
    body = {"requests": [history("AAA", HISTORY_DAYS)], "debug": True}
    answer = small_rejection(post_raw(client, "/predict", json.dumps(body).encode()))
    assert answer["detail"] == [{"type": "extra_forbidden", "loc": ["debug"], "msg": "Extra inputs are not permitted"}]
    answer = small_rejection(post_raw(client, "/sentiment", b'{"texts": ["ok"], "lang": "en"}'))
    assert answer["detail"][0]["loc"] == ["lang"]
    small_rejection(post_raw(client, "/sentiment", b'["ok"]'))
    small_rejection(post_raw(client, "/predict", b'[' * 100_000 + b']' * 100_000))
    small_rejection(post_raw(client, "/predict", b'{"requests": ' + b'9' * 5000 + b'}'))


@pytest.mark.parametrize("date", [1704412800, 1704412800000, "2024-01-05T00:00:00", "2024-01-05 00:00", "20240105",
                                  "2024-1-5", 20240105.0])
def test_dates_are_only_yyyy_mm_dd(client, date):
    item = history("AAA", HISTORY_DAYS)
    item["history"][2]["date"] = date
    answer = small_rejection(post_raw(client, "/predict", json.dumps({"requests": [item]}).encode()))
    assert answer["detail"][0]["loc"] == ["requests", 0, "history", 2, "date"], answer


def test_a_second_content_type_cannot_slip_past_the_415(client):
    headers = [("content-type", "application/json"), ("content-type", "multipart/form-data; boundary=x")]
    for order in (headers, headers[::-1]):
        response = client.post("/sentiment", content=b'{"texts": ["ok"]}', headers=order)
        assert response.status_code == 400 and "more than once" in response.json()["error"], response.text


@given(bars=st.lists(st.dictionaries(st.sampled_from(["date", "open", "close", "texts", "x"]),
                                     st.one_of(st.none(), st.integers(), st.text(max_size=5),
                                               st.lists(st.integers(), max_size=30)), max_size=5),
                     min_size=1, max_size=260),
       items=st.integers(1, 7))
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_any_bad_history_gets_a_small_answer(client, bars, items):
    body = json.dumps({"requests": [{"ticker": "AAA", "history": bars}] * items}).encode()
    small_rejection(post_raw(client, "/predict", body), status=(400, 413))


def test_batching_setting_names_the_endpoints_it_batches():
    module = sys.modules["bentos.finpulse.service"]
    assert module.batched_endpoints("predict") == {"predict"}
    assert module.batched_endpoints("sentiment") == {"sentiment"}
    assert module.batched_endpoints(" 1 ") == {"predict", "sentiment"}
    assert module.batched_endpoints("0") == set()
    with pytest.raises(ValueError, match="FINPULSE_SERVE_BATCHING"):
        module.batched_endpoints("forecast")




def _edge(app, **kwargs):
    from finpulse_assets.serving.http import RequestEdge

    return RequestEdge(app, **kwargs)


def test_a_client_gone_mid_body_is_no_500_and_no_traceback(caplog):
    called, sent = [], []

    async def app(scope, receive, send):
        called.append(scope)

    messages = [{"type": "http.request", "body": b'{"texts": [', "more_body": True}, {"type": "http.disconnect"}]

    async def receive():
        return messages.pop(0)

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/sentiment", "headers": [(b"content-type", b"application/json")]}
    caplog.set_level(logging.INFO)
    asyncio.run(_edge(app)(scope, receive, send))
    assert not called and not sent
    assert not any(r.exc_info or r.levelno >= logging.ERROR for r in caplog.records)
    assert any("disconnected before sending its whole body" in r.getMessage() for r in caplog.records)


def test_a_timeout_is_a_504_with_the_request_id_and_a_warning(caplog):
    from starlette.testclient import TestClient

    async def slow(scope, receive, send):
        await asyncio.sleep(5)

    caplog.set_level(logging.INFO)
    client = TestClient(_edge(slow, timeout=0.2))
    response = client.post("/predict", content=b"{}", headers={"content-type": "application/json",
                                                              "x-request-id": "slow-one"})
    assert response.status_code == 504 and response.headers["x-request-id"] == "slow-one"
    assert response.json()["request_id"] == "slow-one" and "FINPULSE_SERVE_TIMEOUT_S" in response.json()["error"]
    (line,) = [r for r in caplog.records if r.name == "finpulse.serving"]
    assert line.levelno == logging.WARNING and "-> 504 (1 since start) request_id=slow-one" in line.getMessage()


def test_too_many_or_too_large_headers_are_431(client):
    response = client.get("/livez", headers={f"x-h{k}": "v" for k in range(150)})
    assert response.status_code == 431 and "too many headers" in response.json()["error"]
    response = client.post("/predict", content=b"{}", headers={"content-type": "application/json",
                                                               "x-big": "b" * 40_000})
    assert response.status_code == 431 and response.headers["x-request-id"]


def test_metrics_count_rejections_and_batches_by_route_not_raw_path(client):
    client.post("/sentiment", content=b'{"texts": ["fine"]}', headers={"content-type": "application/json"})
    client.post("/sentiment", content=b'{"texts": [1]}', headers={"content-type": "application/json"})
    client.get("/random-1%00")
    # In process there is no multiprocess directory for BentoML's /metrics: read this process's registry.
    from prometheus_client import generate_latest

    from finpulse_assets.serving.metrics import known_endpoints_only

    raw = generate_latest().decode()
    assert "random-1" in raw  # BentoML's middleware labels by the raw path; the service's /metrics filters it
    text = known_endpoints_only(raw)
    assert 'finpulse_rejected_total{reason="string_type",route="/sentiment",status="400"}' in text
    assert 'finpulse_batch_items_count{route="/sentiment"}' in text
    assert 'finpulse_model_seconds_count{route="/sentiment"}' in text
    assert "random-" not in text
    bentoml_lines = ('bentoml_service_request_total{endpoint="/predict",http_response_code="200"} 3.0\n'
                     'bentoml_service_request_total{endpoint="/random-1\\x00",http_response_code="404"} 1.0\n'
                     '# HELP x y\n')
    assert known_endpoints_only(bentoml_lines) == ('bentoml_service_request_total{endpoint="/predict",'
                                                   'http_response_code="200"} 3.0\n# HELP x y\n')


def test_a_second_server_keeps_the_first_servers_metrics_files(tmp_path, monkeypatch):
    import os
    import subprocess

    from finpulse_assets.serving.metrics import separate_multiproc_dir

    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    first = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        root = tmp_path / "prometheus_multiproc_dir"
        (root / f"server-{first.pid}").mkdir(parents=True)
        (root / f"server-{first.pid}" / "counter_1.db").write_bytes(b"x")
        (root / "server-999999999").mkdir()
        mine = separate_multiproc_dir(str(tmp_path))
        assert mine == root / f"server-{os.getpid()}"
        assert (root / f"server-{first.pid}" / "counter_1.db").exists()
        assert not (root / "server-999999999").exists()
    finally:
        first.kill()
        first.wait()


def test_log_lines_can_be_json_with_the_request_id():
    from finpulse_assets.serving.http import REQUEST_ID, JsonLines

    token = REQUEST_ID.set("rid-42")
    try:
        record = logging.LogRecord("finpulse.serving", logging.WARNING, __file__, 1, "POST %s -> %d", ("/predict", 503),
                                   None)
        line = json.loads(JsonLines().format(record))
    finally:
        REQUEST_ID.reset(token)
    assert line["message"] == "POST /predict -> 503" and line["request_id"] == "rid-42" and line["level"] == "WARNING"
