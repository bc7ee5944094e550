"""FinPulse BentoML service: POST /predict (next-day close) and POST /sentiment (tweet sentiment).

Request validation, features and inference live in `finpulse_assets.serving`
(the assets' own feature functions); this module only wires them into BentoML.
/livez, /readyz and /metrics are BentoML's own; /docs.json is the service's
OpenAPI 3.1 document (`serving.openapi`).

Status codes: 200; 400 the body does not validate (each problem with its `loc`);
413 body too large; 415 not JSON; 422 valid, but no finite forecast for an item;
401 bad token; 503 overload (with Retry-After); 500 a bug (the body and the log
line name the request id); 504 past the timeout.

Environment (read at server start):
  FINPULSE_SERVE_BATCHING             adaptive batching: 1 both endpoints (default), 0 none, or the endpoints
                                      to batch, e.g. `predict` (see docs/serving.md for the measurements)
  FINPULSE_SERVE_MAX_BATCH_SIZE       most /predict items in one batch (default 64; /sentiment: 4x, in texts)
  FINPULSE_SERVE_MAX_LATENCY_MS       latency budget the batcher plans for; beyond it, 503 (default 2000)
  FINPULSE_SERVE_TIMEOUT_S            request timeout, a 504 with the request id (default 30; BentoML's own
                                      timeout, 5 s later, is only a backstop)
  FINPULSE_SERVE_WORKERS              server worker processes (default cpu_count)
  FINPULSE_SERVE_ORT_THREADS          ONNX Runtime intra-op threads per session (default 1)
  FINPULSE_SERVE_MAX_BODY_BYTES       largest request body (default 2 MiB), 413 beyond
  FINPULSE_SERVE_ACCESS_LOG           1 (default): BentoML's access log line per request; 0: none (a sixth of a
                                      worker's time under load, see docs/serving.md)
  FINPULSE_SERVE_TRACING              0 (default): BentoML's OpenTelemetry middleware skips /predict and /sentiment
                                      (half of BentoML's own time per request; it samples no traces unless
                                      `tracing.sample_rate` is configured); 1: it traces them too
  FINPULSE_SERVE_LOG_FORMAT           json (default): the service's log lines are JSON in workers; text: BentoML's
  FINPULSE_API_TOKEN                  require `Authorization: Bearer <token>` (probes exempt)
  FINPULSE_SERVE_MAX_*                request size limits, see finpulse_assets/serving/schema.py
"""

from __future__ import annotations

import os

import anyio
import bentoml
from pydantic import TypeAdapter
from starlette.responses import JSONResponse, Response

from finpulse_assets.serving.auth import BearerTokenAuth
from finpulse_assets.serving.batching import ItemBatcher, Overloaded
from finpulse_assets.serving.bundle import FORECASTER_MODEL, SENTIMENT_MODEL
from finpulse_assets.serving.http import RequestEdge, install_json_logs, install_log_filter, request_body, timeout_s
from finpulse_assets.serving.memory import fixed_mmap_threshold, system_malloc_for_workers
from finpulse_assets.serving.metrics import RouteMetrics, known_endpoints_only, separate_multiproc_dir
from finpulse_assets.serving.metrics import rejected as count_rejected
from finpulse_assets.serving.openapi import OpenAPIDocument
from finpulse_assets.serving.predictor import Predictor, Unforecastable
from finpulse_assets.serving.schema import MAX_ITEMS, MAX_SENTIMENT_TEXTS, Forecast, SentimentResult, set_model_limits
from finpulse_assets.serving.validation import (
    INLINE_BODY_BYTES,
    Rejected,
    validate_predict,
    validate_sentiment,
    validated_or_rejected,
)



def batched_endpoints(setting: str) -> set[str]:
    """FINPULSE_SERVE_BATCHING -> the endpoints that batch: "1" both, "0" none, else a comma-separated list."""
    value = setting.strip().lower()
    endpoints = {"1": {"predict", "sentiment"}, "0": set()}.get(value, {e.strip() for e in value.split(",") if e.strip()})
    if not endpoints <= {"predict", "sentiment"}:
        raise ValueError(f"FINPULSE_SERVE_BATCHING={setting!r}: 1, 0, or a comma-separated list of predict, sentiment")
    return endpoints


BATCHED = batched_endpoints(os.environ.get("FINPULSE_SERVE_BATCHING", "1"))
MAX_BATCH_SIZE = max(int(os.environ.get("FINPULSE_SERVE_MAX_BATCH_SIZE", "64")), MAX_ITEMS)
MAX_SENTIMENT_BATCH_SIZE = max(MAX_BATCH_SIZE * 4, MAX_SENTIMENT_TEXTS)
MAX_LATENCY_MS = int(os.environ.get("FINPULSE_SERVE_MAX_LATENCY_MS", "2000"))
TIMEOUT_S = timeout_s()
_workers = os.environ.get("FINPULSE_SERVE_WORKERS", "cpu_count").strip()
WORKERS = _workers if _workers == "cpu_count" else int(_workers)
ORT_THREADS = int(os.environ.get("FINPULSE_SERVE_ORT_THREADS", "1"))
RETRY_AFTER_S = max(1, round(MAX_LATENCY_MS / 1000))
ACCESS_LOG = os.environ.get("FINPULSE_SERVE_ACCESS_LOG", "1").strip() != "0"
TRACE_API = os.environ.get("FINPULSE_SERVE_TRACING", "0").strip() == "1"

install_log_filter()
separate_multiproc_dir()
system_malloc_for_workers()

# Serialized here: BentoML 1.4 rebuilds the output model's JSON schema on every response it serializes
# (a quarter of a worker's time under load, measured with py-spy); a Response it passes through as is.
FORECASTS = TypeAdapter(list[Forecast])
SENTIMENTS = TypeAdapter(list[SentimentResult])


def json_response(adapter: TypeAdapter, value) -> Response:
    return Response(adapter.dump_json(value), media_type="application/json")


def rejected(exc: Rejected) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status)


def overloaded(exc: Overloaded) -> JSONResponse:
    return JSONResponse({"error": f"server overloaded: {exc}; retry after {RETRY_AFTER_S} s"}, status_code=503,
                        headers={"Retry-After": str(RETRY_AFTER_S)})


def unforecastable(outcomes: list) -> JSONResponse:
    problems = [{"type": "forecast", "loc": ["requests", i], "msg": o.msg}
                for i, o in enumerate(outcomes) if isinstance(o, Unforecastable)]
    return JSONResponse({"error": f"no finite forecast for {len(problems)} item(s)", "detail": problems},
                        status_code=422)


# The image starts FROM the local Debian base as it is (docs/images.md); a distro name BentoML does not know
# keeps it from adding its default `apt-get install build-essential git ...` layer.
IMAGE = bentoml.images.Image(base_image=os.environ.get("FINPULSE_BASE_IMAGE") or "localhost/finpulse-base:bookworm",
                             distro="finpulse-base")


@bentoml.service(name="finpulse", image=IMAGE, workers=WORKERS, traffic={"timeout": TIMEOUT_S + 5},
                 logging={"access": {"enabled": ACCESS_LOG}},
                 tracing={} if TRACE_API else {"excluded_urls": ["/predict", "/sentiment"]})
class FinPulse:
    # "latest" is resolved when the bento is built: the bento ships exactly the versions the `bento` asset saved.
    forecaster_model = bentoml.models.BentoModel(f"{FORECASTER_MODEL}:latest")
    sentiment_model = bentoml.models.BentoModel(f"{SENTIMENT_MODEL}:latest")

    def __init__(self) -> None:
        install_json_logs()
        fixed_mmap_threshold()
        self.predictor = Predictor(self.forecaster_model.path, self.sentiment_model.path,
                                   intra_op_num_threads=ORT_THREADS)
        set_model_limits(self.predictor.limits)
        self.forecasts = ItemBatcher(self.predictor.predict, max_batch_size=MAX_BATCH_SIZE,
                                     max_latency_ms=MAX_LATENCY_MS, enabled="predict" in BATCHED,
                                     observer=RouteMetrics("/predict"))
        self.sentiments = ItemBatcher(self.predictor.sentiment, max_batch_size=MAX_SENTIMENT_BATCH_SIZE,
                                      max_latency_ms=MAX_LATENCY_MS, enabled="sentiment" in BATCHED,
                                      observer=RouteMetrics("/sentiment"))
        self._large_bodies: anyio.CapacityLimiter | None = None
        # One real call through each session before /readyz says yes, so the first request pays no warm-up.
        self.ready = len(self.predictor.sentiment(["warming up the sentiment model"])) == 1

    def __is_ready__(self) -> bool:
        return self.ready

    def __metrics__(self, exposition: str) -> str:
        return known_endpoints_only(exposition)

    async def validated(self, ctx: bentoml.Context, validate):
        """The validated body, or the 400/413 response; a large body is validated in a thread, one at a time,
        so it never holds the event loop (other requests, health checks) or a second thread."""
        body = request_body(ctx.request.state)
        if len(body) <= INLINE_BODY_BYTES:
            outcome = validated_or_rejected(validate, body)
        else:
            if self._large_bodies is None:
                self._large_bodies = anyio.CapacityLimiter(1)
            outcome = await anyio.to_thread.run_sync(validated_or_rejected, validate, body, limiter=self._large_bodies)
        if isinstance(outcome, Rejected):
            count_rejected(ctx.request.url.path, outcome.status,
                           outcome.problems[0]["type"] if outcome.problems else "invalid")
            return rejected(outcome)
        return outcome

    # The body is read and validated by `serving.validation` (strict JSON, bounded errors), not by BentoML:
    # the request model is documented in /docs.json (`serving.openapi`). With a `ctx` parameter BentoML gives
    # the response `ctx.response.status_code`, so `answered` copies the status there.
    @bentoml.api
    async def predict(self, ctx: bentoml.Context) -> list[Forecast]:
        """Next-trading-day close per item, in order. Items need the model's window of consecutive trading
        days (see the 400 message); without `texts` a day's sentiment counts as neutral."""
        return answered(ctx, await self._predict(ctx))

    @bentoml.api
    async def sentiment(self, ctx: bentoml.Context) -> list[SentimentResult]:
        """Label and probabilities per text, in order."""
        return answered(ctx, await self._sentiment(ctx))

    async def _predict(self, ctx: bentoml.Context) -> Response:
        requests = await self.validated(ctx, validate_predict)
        if isinstance(requests, Response):
            return requests
        try:
            outcomes = await self.forecasts(requests)
        except Overloaded as exc:
            return overloaded(exc)
        failed = next((o for o in outcomes if isinstance(o, Exception)), None)
        if failed is not None:
            raise failed
        if any(isinstance(o, Unforecastable) for o in outcomes):
            return unforecastable(outcomes)
        return json_response(FORECASTS, outcomes)

    async def _sentiment(self, ctx: bentoml.Context) -> Response:
        texts = await self.validated(ctx, validate_sentiment)
        if isinstance(texts, Response):
            return texts
        try:
            return json_response(SENTIMENTS, await self.sentiments(texts))
        except Overloaded as exc:
            return overloaded(exc)


def answered(ctx: bentoml.Context, response: Response) -> Response:
    ctx.response.status_code = response.status_code
    return response


# Starlette runs the first added outermost: request ids and the 415/413 checks see every request.
FinPulse.add_asgi_middleware(RequestEdge)
FinPulse.add_asgi_middleware(BearerTokenAuth)
FinPulse.add_asgi_middleware(OpenAPIDocument, service=FinPulse)
