"""The HTTP edge of the service, as ASGI middleware in front of BentoML's app.

Before any parsing: a body that is not JSON gets a 415, one larger than
FINPULSE_SERVE_MAX_BODY_BYTES a 413. Every response carries an X-Request-ID
(the client's, when it sent a sane one). An error response is logged in one
line (status, endpoint, problem count, request id), never with the input; a
4xx never with a traceback, a 5xx keeps BentoML's traceback with the request id
added, and its body names the request id.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import re
import uuid
from http import HTTPStatus

REQUEST_ID = contextvars.ContextVar("finpulse_request_id", default=None)
API_PATHS = frozenset({"/predict", "/sentiment"})
JSON_TYPE = re.compile(r"^application/([a-z0-9.+-]+\+)?json$")
CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
DEFAULT_MAX_BODY_BYTES = 2 * 1024 * 1024

logger = logging.getLogger("finpulse.serving")


def max_body_bytes() -> int:
    raw = os.environ.get("FINPULSE_SERVE_MAX_BODY_BYTES", "").strip()
    value = int(raw) if raw else DEFAULT_MAX_BODY_BYTES
    if value < 1:
        raise ValueError(f"FINPULSE_SERVE_MAX_BODY_BYTES={raw!r}: must be a positive integer")
    return value


async def _send_json(send, status: int, body: dict, headers: list[tuple[bytes, bytes]] = ()) -> None:
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": data})


def problem_count(status: int, body: bytes) -> int:
    """How many problems an error body lists: the length of `detail` when it is a list, else 1."""
    try:
        detail = json.loads(body).get("detail")
    except (ValueError, AttributeError):
        return 1
    return len(detail) if isinstance(detail, list) else 1


class RequestEdge:
    """415 / 413 before parsing, request ids, and one log line per error response."""

    def __init__(self, app, max_body: int | None = None):
        self.app = app
        self.max_body = max_body if max_body is not None else max_body_bytes()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = given if CLIENT_REQUEST_ID.match(given) else uuid.uuid4().hex
        token = REQUEST_ID.set(request_id)
        id_header = (b"x-request-id", request_id.encode())
        path = scope["path"]
        try:
            if scope["method"] == "POST" and path in API_PATHS:
                rejected = self._reject(headers)
                if rejected:
                    status, message = rejected
                    logger.warning("%s %s -> %d (1 problem: %s) request_id=%s", scope["method"], path, status,
                                   message.split(":")[0], request_id)
                    await _send_json(send, status, {"error": message, "request_id": request_id}, [id_header])
                    return
                if b"content-length" not in headers:
                    receive = await self._buffered(receive, send, path, request_id, id_header)
                    if receive is None:
                        return
            await self.app(scope, receive, _ErrorResponses(send, scope, request_id, id_header))
        finally:
            REQUEST_ID.reset(token)

    def _reject(self, headers: dict) -> tuple[int, str] | None:
        media = headers.get(b"content-type", b"application/json").decode("latin-1").split(";")[0].strip().lower()
        if not JSON_TYPE.match(media):
            return 415, f"unsupported media type {media!r}: send the request body as application/json"
        length = headers.get(b"content-length", b"0").decode("latin-1").strip()
        if length.isdigit() and int(length) > self.max_body:
            return 413, f"request body too large: {int(length)} bytes, at most {self.max_body}"
        return None

    async def _buffered(self, receive, send, path, request_id, id_header):
        """Read a body sent without Content-Length (chunked), up to the limit; None after answering 413."""
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > self.max_body:
                logger.warning("POST %s -> 413 (1 problem) request_id=%s", path, request_id)
                await _send_json(send, 413, {"error": f"request body too large: more than {self.max_body} bytes",
                                             "request_id": request_id}, [id_header])
                return None
        body, replayed = b"".join(chunks), False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        return replay


class _ErrorResponses:
    """Wraps `send`: adds the request id header; holds an error body to log it and name the request id in it."""

    def __init__(self, send, scope, request_id: str, id_header):
        self.send, self.scope, self.request_id, self.id_header = send, scope, request_id, id_header
        self.start: dict | None = None
        self.chunks: list[bytes] = []

    async def __call__(self, message):
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), self.id_header]}
            if message["status"] < 400:
                await self.send(message)
                return
            self.start = message
            return
        if self.start is None or message["type"] != "http.response.body":
            await self.send(message)
            return
        self.chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        await self._send_error(b"".join(self.chunks))

    async def _send_error(self, body: bytes) -> None:
        status = self.start["status"]
        count = problem_count(status, body)
        line = "%s %s -> %d (%d problem%s) request_id=%s"
        args = (self.scope["method"], self.scope["path"], status, count, "" if count == 1 else "s", self.request_id)
        (logger.error if status >= 500 else logger.warning)(line, *args)
        headers = [(k, v) for k, v in self.start["headers"] if k.lower() != b"content-length"]
        try:
            document = json.loads(body)
        except ValueError:
            document = None
        if isinstance(document, list) and len(document) == 1 and isinstance(document[0], dict):
            document = document[0]  # BentoML 1.4 wraps the body of its own 4xx errors in a list
        if not isinstance(document, dict):
            # Starlette's plain-text errors (its 500 page, 404, 405): the same JSON shape as every other error.
            text = body.decode("utf-8", "replace").strip() or HTTPStatus(status).phrase
            document = {"error": text}
            headers = [(k, v) for k, v in headers if k.lower() != b"content-type"]
            headers.append((b"content-type", b"application/json"))
        if "request_id" not in document:
            document = {**document, "request_id": self.request_id}
        body = json.dumps(document).encode()
        headers.append((b"content-length", str(len(body)).encode()))
        await self.send({**self.start, "headers": headers})
        await self.send({"type": "http.response.body", "body": body})


class QuietClientErrors(logging.Filter):
    """On BentoML's request-error logger: drop the ERROR + traceback it writes for a 4xx; tag 5xx with the request id."""

    def filter(self, record: logging.LogRecord) -> bool:
        from pydantic import ValidationError

        from bentoml.exceptions import BentoMLException

        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, ValidationError):
            return False
        if isinstance(exc, BentoMLException) and int(exc.error_code) < 500:
            return False
        request_id = REQUEST_ID.get()
        if request_id:
            record.msg = f"{record.msg} request_id={request_id}"
        return True


def install_log_filter() -> None:
    # The logger BentoML's request handler writes "Exception on <path>" to, with the traceback.
    target = logging.getLogger("bentoml._internal.server.http_app")
    if not any(isinstance(f, QuietClientErrors) for f in target.filters):
        target.addFilter(QuietClientErrors())
