"""The service's OpenAPI document, served at /docs.json in place of BentoML's.

BentoML 1.4 declares OpenAPI 3.0.2 over pydantic's JSON Schema 2020-12 (numeric
`exclusiveMinimum`, `anyOf` with `null`), which is OpenAPI 3.1's dialect, and
documents a 400 whose `detail` is a string. This document declares 3.1.0 and
documents each error response the service really sends, with its body. The
request bodies are the service's own (`schema.PredictRequest`, `SentimentRequest`;
BentoML only sees a `ctx` parameter), marked required, tightened to the loaded
model (the tickers it serves, the days a history needs), with the rules JSON
Schema cannot say (consecutive trading days, high >= open/close >= low) in their
descriptions, and a runnable example each: `request_examples` builds them, and
docs/serving.md's curl lines post exactly these (a test checks both).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import os

from finpulse_assets.serving.auth import TOKEN_ENV
from finpulse_assets.serving.calendar import FIRST_DAY, LAST_DAY, day_at, position
from finpulse_assets.serving.schema import (
    ErrorMessage,
    ModelLimits,
    PredictRequest,
    ProblemReport,
    SentimentRequest,
    model_limits,
)

OPENAPI_VERSION = "3.1.0"
DOC_PATH = "/docs.json"
REF = "#/components/schemas/{model}"
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}}
REQUEST_ID = {"X-Request-ID": {"description": "The request id; log lines of this request carry it.",
                               "schema": {"type": "string"}}}
ERRORS = {  # status: (description, body model, extra headers)
    "400": ("The body does not validate: each problem with its `loc` (a path into the body) and `msg`.",
            "ProblemReport", {}),
    "401": ("Missing or wrong bearer token (only when FINPULSE_API_TOKEN is set).", "ErrorMessage", {}),
    "413": ("The body is larger than FINPULSE_SERVE_MAX_BODY_BYTES (`ErrorMessage`), or the request is over a "
            "per-request size limit, named in `detail` (`ProblemReport`).", "ProblemReport|ErrorMessage", {}),
    "415": ("The body is not JSON (`Content-Type` other than application/json).", "ErrorMessage", {}),
    "500": ("A bug: the body's `request_id` names the log line with the traceback.", "ErrorMessage", {}),
    "503": ("Overloaded: no batch could start within the latency budget; retry after `Retry-After` seconds.",
            "ErrorMessage", RETRY_AFTER),
    "504": ("Not answered within the request timeout; the request's queued work is dropped.", "ErrorMessage", {}),
}
PREDICT_422 = ("Valid, but the model gives no finite forecast for an item: `loc` names the item.",
               "ProblemReport", {})


EXAMPLE_LAST_DAY = dt.date(2024, 11, 29)
SENTIMENT_EXAMPLE = {"texts": ["$AAPL record quarter", "awful guidance"]}
DATE_RULES = (f"A NYSE trading day, written YYYY-MM-DD, from {FIRST_DAY} to {LAST_DAY}. The dates of a history are "
              "consecutive trading days, oldest first: no missing trading day, no repeat (the model was trained "
              "only on windows without gaps).")


def request_examples(limits: ModelLimits) -> dict[str, dict]:
    """A runnable body per endpoint: the first ticker served, the shortest history the model takes."""
    end = position(EXAMPLE_LAST_DAY)
    bars = []
    for k in range(limits.history_days):
        close = round(220.0 + 0.5 * k, 2)
        bars.append({"date": day_at(end - limits.history_days + 1 + k).isoformat(), "open": round(close - 0.3, 2),
                     "high": round(close + 1.0, 2), "low": round(close - 1.3, 2), "close": close,
                     "volume": 50_000_000 + 1_000 * k})
    bars[-1]["texts"] = ["beats on services", "guidance raised"]
    return {"/predict": {"requests": [{"ticker": sorted(limits.tickers)[0], "history": bars}]},
            "/sentiment": SENTIMENT_EXAMPLE}


def _request_schemas(schemas: dict, limits: ModelLimits) -> None:
    for model in (PredictRequest, SentimentRequest):
        document = model.model_json_schema(ref_template=REF)
        schemas.update(document.pop("$defs", {}))
        schemas[model.__name__] = document
    item = schemas["PredictItem"]["properties"]
    item["ticker"].update(enum=sorted(limits.tickers), description="A ticker this model serves.")
    item["history"].update(minItems=limits.history_days, description=(
        f"At least {limits.history_days} bars (the model's window plus the 20 earlier bars the price features "
        "look back), oldest first, consecutive trading days."))
    bar = schemas["Bar"]
    bar["description"] = "One trading day: high >= max(open, close) and low <= min(open, close). " + bar["description"]
    bar["properties"]["date"].update(pattern="^[0-9]{4}-[0-9]{2}-[0-9]{2}$", description=DATE_RULES)


def _response(description: str, models: str, headers: dict) -> dict:
    refs = [{"$ref": REF.format(model=model)} for model in models.split("|")]
    return {"description": description, "headers": {**REQUEST_ID, **headers},
            "content": {"application/json": {"schema": refs[0] if len(refs) == 1 else {"anyOf": refs}}}}


def service_document(bentoml_spec: dict, limits: ModelLimits | None = None) -> dict:
    """BentoML's document for the service, with the version, request bodies and error responses made true."""
    limits = limits or model_limits()
    spec = copy.deepcopy(bentoml_spec)
    spec["openapi"] = OPENAPI_VERSION
    components = spec.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for model in (ProblemReport, ErrorMessage):
        document = model.model_json_schema(ref_template=REF)
        schemas.update(document.pop("$defs", {}))
        schemas[model.__name__] = document
    _request_schemas(schemas, limits)
    components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer", "description": (
        f"`Authorization: Bearer <token>`, required when the server sets {TOKEN_ENV}; the probes stay open.")}}
    secured = bool(os.environ.get(TOKEN_ENV, "").strip())
    examples = request_examples(limits)
    for path, model, errors in (("/predict", "PredictRequest", {**ERRORS, "422": PREDICT_422}),
                                ("/sentiment", "SentimentRequest", ERRORS)):
        operation = spec["paths"][path]["post"]
        operation["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": {"$ref": REF.format(model=model)}, "example": examples[path]}}}
        operation["security"] = [{"bearer": []}] if secured else []
        if not secured:
            errors = {status: e for status, e in errors.items() if status != "401"}
        ok = {str(status): response for status, response in operation["responses"].items()}["200"]
        ok["headers"] = dict(REQUEST_ID)
        operation["responses"] = {"200": ok, **{status: _response(*errors[status]) for status in sorted(errors)}}
    used = json.dumps(spec["paths"])
    for name in ("InvalidArgument", "NotFound", "InternalServerError", "Input"):
        if REF.format(model=name) not in used:
            schemas.pop(name, None)
    return spec


class OpenAPIDocument:
    """ASGI middleware answering GET /docs.json with `service_document` of the service (built once)."""

    def __init__(self, app, service):
        self.app = app
        self.service = service
        self._body: bytes | None = None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] != DOC_PATH or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        if self._body is None:
            self._body = json.dumps(service_document(self.service.openapi_spec.asdict())).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(self._body)).encode())]})
        await send({"type": "http.response.body", "body": self._body if scope["method"] == "GET" else b""})
