"""Memory after large requests: the edge hands it back once a large request is over, rejections leave no cycle."""

import json
import os

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from finpulse_assets.serving import memory
from finpulse_assets.serving.http import BODY_STATE_KEY, RequestEdge
from finpulse_assets.serving.validation import Rejected, validate_sentiment, validated_or_rejected


def test_the_edge_trims_after_a_large_request_and_not_after_small_ones(monkeypatch):
    trims, bodies_seen = [], []

    async def sentiment(request):
        bodies_seen.append(len(getattr(request.state, BODY_STATE_KEY)))
        return JSONResponse([], status_code=200)

    monkeypatch.setattr(memory, "trim", lambda: trims.append(bodies_seen[-1]))
    client = TestClient(RequestEdge(Starlette(routes=[Route("/sentiment", sentiment, methods=["POST"])])))
    small = json.dumps({"texts": ["fine"]}).encode()
    large = json.dumps({"texts": ["x" * 100] * 3000}).encode()
    assert len(small) < memory.TRIM_AFTER_BYTES <= len(large)
    for body in (small, large, small):
        assert client.post("/sentiment", content=body, headers={"content-type": "application/json"}).status_code == 200
    assert trims == [len(large)], "one trim, after the large request (its body was read by then)"


def test_a_rejection_comes_back_as_a_value_without_frames_holding_the_document():
    outcome = validated_or_rejected(validate_sentiment, json.dumps({"texts": [1] * 5000}).encode())
    assert isinstance(outcome, Rejected) and outcome.status == 400
    assert outcome.__traceback__ is None  # its frames held the parsed 5,000-item list
    assert validated_or_rejected(validate_sentiment, b'{"texts": ["fine"]}') == ["fine"]


def test_workers_get_the_system_allocator_unless_one_is_chosen(monkeypatch):
    monkeypatch.delenv("PYTHONMALLOC", raising=False)
    memory.system_malloc_for_workers()
    assert os.environ["PYTHONMALLOC"] == "malloc"
    monkeypatch.setenv("PYTHONMALLOC", "pymalloc")
    memory.system_malloc_for_workers()
    assert os.environ["PYTHONMALLOC"] == "pymalloc"
