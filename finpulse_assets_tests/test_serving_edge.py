"""The serving layers without models: per-request batching (isolation, overload, cancellation) and the HTTP edge."""

import asyncio
import json
import logging
import time

import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from finpulse_assets.serving.batching import ItemBatcher, Overloaded
from finpulse_assets.serving.http import QuietClientErrors, RequestEdge


def run(coroutine):
    return asyncio.run(coroutine)


def test_a_failing_item_fails_only_its_own_request():
    calls = []

    def work(items):
        calls.append(list(items))
        if "poison" in items:
            raise ValueError("poison in the batch")
        return [f"ok:{x}" for x in items]

    async def main():
        batcher = ItemBatcher(work, max_batch_size=64, max_latency_ms=5000)
        requests = [[f"a{k}", f"b{k}"] for k in range(16)] + [["x", "poison"]]
        return await asyncio.gather(*(batcher(r) for r in requests), return_exceptions=True)

    results = run(main())
    assert isinstance(results[-1], ValueError)
    assert results[:16] == [[f"ok:a{k}", f"ok:b{k}"] for k in range(16)]
    assert any(len(batch) > 2 for batch in calls), "requests were never batched together"


def test_overload_is_an_overloaded_error_not_a_failure():
    def slow(items):
        time.sleep(0.05)
        return list(items)

    async def main():
        batcher = ItemBatcher(slow, max_batch_size=1, max_latency_ms=20)
        return await asyncio.gather(*(batcher([k]) for k in range(40)), return_exceptions=True)

    results = run(main())
    shed = [r for r in results if isinstance(r, Overloaded)]
    assert shed and "latency budget of 20 ms" in str(shed[0])
    assert [r for r in results if isinstance(r, list)], "nothing was served"
    assert not [r for r in results if isinstance(r, Exception) and not isinstance(r, Overloaded)]


def test_a_cancelled_request_drops_its_queued_work():
    seen = []

    def work(items):
        seen.extend(items)
        time.sleep(0.5)
        return list(items)

    async def main():
        batcher = ItemBatcher(work, max_batch_size=1, max_latency_ms=10_000)
        first = asyncio.create_task(batcher(["first"]))
        await asyncio.sleep(0.05)  # "first" computes; "late" waits in the queue
        late = asyncio.create_task(batcher(["late"]))
        await asyncio.sleep(0.02)
        late.cancel()
        await first
        await asyncio.sleep(0.8)
        return late

    late = run(main())
    assert late.cancelled()
    assert seen == ["first"]


def test_batching_off_runs_each_request_alone():
    def work(items):
        return [len(items)] * len(items)

    async def main():
        batcher = ItemBatcher(work, max_batch_size=64, max_latency_ms=100, enabled=False)
        return await asyncio.gather(*(batcher([1, 2]) for _ in range(5)))

    assert run(main()) == [[2, 2]] * 5


def crashing_app():
    async def boom(request):
        raise RuntimeError("a bug")

    async def bad(request):
        return JSONResponse({"error": "1 validation error", "detail": [{"loc": ["x"], "msg": "m", "type": "t"}] * 3},
                            status_code=400)
    return Starlette(routes=[Route("/predict", boom, methods=["POST"]), Route("/sentiment", bad, methods=["POST"])])


def test_a_500_names_its_request_id_in_body_header_and_log(caplog):
    client = TestClient(RequestEdge(crashing_app()), raise_server_exceptions=False)
    caplog.set_level(logging.INFO)
    response = client.post("/predict", json={}, headers={"x-request-id": "client-id-7"})
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "client-id-7"
    assert json.loads(response.content)["request_id"] == "client-id-7"
    assert any(r.levelno == logging.ERROR and "-> 500" in r.getMessage() and "client-id-7" in r.getMessage()
               for r in caplog.records)


def test_a_400_logs_its_problem_count_and_an_unsafe_request_id_is_replaced(caplog):
    client = TestClient(RequestEdge(crashing_app()))
    caplog.set_level(logging.INFO)
    response = client.post("/sentiment", json={}, headers={"x-request-id": "bad id\nINJECTED"})
    assert response.status_code == 400
    request_id = response.headers["x-request-id"]
    assert "INJECTED" not in request_id and len(request_id) == 32
    (line,) = [r.getMessage() for r in caplog.records if r.name == "finpulse.serving"]
    assert line == f"POST /sentiment -> 400 (3 problems) request_id={request_id}"


def test_body_limit_is_configurable(monkeypatch):
    monkeypatch.setenv("FINPULSE_SERVE_MAX_BODY_BYTES", "100")
    client = TestClient(RequestEdge(crashing_app()))
    assert client.post("/sentiment", content=b"{" + b" " * 100 + b"}",
                       headers={"content-type": "application/json"}).status_code == 413
    assert client.post("/sentiment", json={}).status_code == 400
    monkeypatch.setenv("FINPULSE_SERVE_MAX_BODY_BYTES", "0")
    with pytest.raises(ValueError, match="positive integer"):
        RequestEdge(crashing_app())


def test_bentoml_client_error_tracebacks_are_dropped_and_500s_tagged():
    from pydantic import BaseModel, ValidationError

    class M(BaseModel):
        x: int

    try:
        M.model_validate({})
    except ValidationError:
        import sys

        record = logging.LogRecord("bentoml", logging.ERROR, __file__, 1, "Exception on /predict [POST]", (),
                                   sys.exc_info())
    assert QuietClientErrors().filter(record) is False
    try:
        raise RuntimeError("bug")
    except RuntimeError:
        import sys

        record = logging.LogRecord("bentoml", logging.ERROR, __file__, 1, "Exception on /predict [POST]", (),
                                   sys.exc_info())
    assert QuietClientErrors().filter(record) is True


def test_a_large_request_leaves_no_state_that_sheds_later_small_ones():
    """Issue 24: after one big request BentoML's batcher shed 32-40 % of normal requests for 1-2 minutes."""
    def work(items):
        time.sleep(0.002 * len(items))
        return list(items)

    async def main():
        batcher = ItemBatcher(work, max_batch_size=64, max_latency_ms=1000)
        await batcher(list(range(64)))
        await asyncio.gather(*(batcher([k]) for k in range(64)))  # load
        after = []
        for _ in range(5):  # lone requests after load: each is its own batch, nothing corked or shed
            after.append(await batcher(["lone"]))
        return after, await asyncio.gather(*(batcher([k]) for k in range(32)), return_exceptions=True)

    after, burst = run(main())
    assert after == [["lone"]] * 5
    assert not [r for r in burst if isinstance(r, Exception)]


def test_a_full_queue_sheds_at_once():
    def work(items):
        time.sleep(0.2)
        return list(items)

    async def main():
        batcher = ItemBatcher(work, max_batch_size=2, max_latency_ms=10_000, max_queue_size=4)
        return await asyncio.gather(*(batcher([k]) for k in range(12)), return_exceptions=True)

    results = run(main())
    full = [r for r in results if isinstance(r, Overloaded)]
    assert full and all(r.reason == "queue_full" for r in full)
    assert len([r for r in results if isinstance(r, list)]) >= 4


def test_fresh_request_ids_are_unique_32_hex_digits():
    from finpulse_assets.serving.http import new_request_id

    ids = [new_request_id() for _ in range(1000)]
    assert len(set(ids)) == 1000 and all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
