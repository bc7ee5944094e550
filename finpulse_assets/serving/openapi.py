"""The service's OpenAPI document, served at /docs.json in place of BentoML's.

BentoML 1.4 declares OpenAPI 3.0.2 over pydantic's JSON Schema 2020-12 (numeric
`exclusiveMinimum`, `anyOf` with `null`), which is OpenAPI 3.1's dialect, and
documents a 400 whose `detail` is a string. This document declares 3.1.0 and
documents each error response the service really sends, with its body.
"""

from __future__ import annotations

import copy
import json

from finpulse_assets.serving.schema import ErrorMessage, ProblemReport

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
    "413": ("The body is larger than FINPULSE_SERVE_MAX_BODY_BYTES.", "ErrorMessage", {}),
    "415": ("The body is not JSON (`Content-Type` other than application/json).", "ErrorMessage", {}),
    "500": ("A bug: the body's `request_id` names the log line with the traceback.", "ErrorMessage", {}),
    "503": ("Overloaded: no batch could start within the latency budget; retry after `Retry-After` seconds.",
            "ErrorMessage", RETRY_AFTER),
    "504": ("Not answered within the request timeout; the request's queued work is dropped.", "ErrorMessage", {}),
}
PREDICT_422 = ("Valid, but the model gives no finite forecast for an item: `loc` names the item.",
               "ProblemReport", {})


def _response(description: str, model: str, headers: dict) -> dict:
    return {"description": description, "headers": {**REQUEST_ID, **headers},
            "content": {"application/json": {"schema": {"$ref": REF.format(model=model)}}}}


def service_document(bentoml_spec: dict) -> dict:
    """BentoML's document for the service, with the version and error responses made true."""
    spec = copy.deepcopy(bentoml_spec)
    spec["openapi"] = OPENAPI_VERSION
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    for model in (ProblemReport, ErrorMessage):
        document = model.model_json_schema(ref_template=REF)
        schemas.update(document.pop("$defs", {}))
        schemas[model.__name__] = document
    for path, errors in (("/predict", {**ERRORS, "422": PREDICT_422}), ("/sentiment", ERRORS)):
        operation = spec["paths"][path]["post"]
        ok = {str(status): response for status, response in operation["responses"].items()}["200"]
        ok["headers"] = dict(REQUEST_ID)
        operation["responses"] = {"200": ok, **{status: _response(*errors[status]) for status in sorted(errors)}}
    used = json.dumps(spec["paths"])
    for name in ("InvalidArgument", "NotFound", "InternalServerError"):
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
