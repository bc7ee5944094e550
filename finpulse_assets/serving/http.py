"""The HTTP edge of the service, as ASGI middleware in front of BentoML's app.

Before any parsing: a body that is not JSON gets a 415 (one Content-Type header
only: a second one could make this check and BentoML's parser read different
ones), one larger than FINPULSE_SERVE_MAX_BODY_BYTES a 413. The body is read
here in full (a client that goes away mid-body is logged at INFO and answered
nothing: there is nobody to answer) and handed to the service in the request's
state. Every response carries an X-Request-ID (the client's, when it sent a sane
one), including the 504 this edge sends when FINPULSE_SERVE_TIMEOUT_S passes
(BentoML's own timeout, outside this middleware, is set later as a backstop).
An error response is logged in one line (status, endpoint, problem count,
request id), never with the input; a 4xx never with a traceback, 503/504 at
WARNING with a running count, a 5xx bug at ERROR with BentoML's traceback and the
request id; its body names the request id. Once a request with a large body is
over, the memory it held goes back to the system (`serving.memory`).
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import json
import logging
import os
import re
import itertools
import secrets
from http import HTTPStatus

from finpulse_assets.serving import memory
from finpulse_assets.serving.metrics import rejected as rejected_request
from finpulse_assets.serving.metrics import route_label

REQUEST_ID = contextvars.ContextVar("finpulse_request_id", default=None)
API_PATHS = frozenset({"/predict", "/sentiment"})
JSON_TYPE = re.compile(r"^application/([a-z0-9.+-]+\+)?json$")
CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
DEFAULT_MAX_BODY_BYTES = 2 * 1024 * 1024
DEFAULT_TIMEOUT_S = 30
# uvicorn's httptools parser (what BentoML runs) sets no limit on headers; past these, a 431 before anything else.
MAX_HEADERS = 100
MAX_HEADER_BYTES = 32 * 1024
BODY_STATE_KEY = "finpulse_body"
# Overload and timeouts are expected under load: counted and logged as warnings, not as errors.
LOAD_STATUSES = frozenset({503, 504})
load_counts: collections.Counter[int] = collections.Counter()

logger = logging.getLogger("finpulse.serving")

# A fresh request id: 16 random hex digits per process (after a fork too) + a 16-digit counter. uuid4 per
# request read os.urandom every time: 5 % of a worker's samples under load (py-spy).
_id_state: tuple[int, str, itertools.count] = (0, "", itertools.count())


def new_request_id() -> str:
    global _id_state
    pid, prefix, counter = _id_state
    if pid != os.getpid():
        _id_state = pid, prefix, counter = os.getpid(), secrets.token_hex(8), itertools.count()
    return f"{prefix}{next(counter):016x}"


def _positive_env(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    value = int(raw) if raw else default
    if value < 1:
        raise ValueError(f"{name}={raw!r}: must be a positive integer")
    return value


def max_body_bytes() -> int:
    return _positive_env("FINPULSE_SERVE_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES)


def timeout_s() -> int:
    return _positive_env("FINPULSE_SERVE_TIMEOUT_S", DEFAULT_TIMEOUT_S)


def _header_problem(raw_headers) -> str | None:
    if len(raw_headers) > MAX_HEADERS:
        return f"too many headers: {len(raw_headers)}, at most {MAX_HEADERS}"
    size = sum(len(k) + len(v) for k, v in raw_headers)
    if size > MAX_HEADER_BYTES:
        return f"headers too large: {size} bytes, at most {MAX_HEADER_BYTES}"
    return None


def request_body(state) -> bytes:
    """The body the edge read, from a Starlette `request.state`."""
    return getattr(state, BODY_STATE_KEY)


async def _send_json(send, status: int, body: dict, headers: list[tuple[bytes, bytes]] = ()) -> None:
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": data})


def problem_count(status: int, body: bytes) -> int:
    """How many problems an error body reports: `problem_count`, else the length of a `detail` list, else 1."""
    try:
        document = json.loads(body)
        detail = document.get("detail")
    except (ValueError, AttributeError):
        return 1
    if isinstance(document.get("problem_count"), int):
        return document["problem_count"]
    return len(detail) if isinstance(detail, list) else 1


def log_error_response(method: str, path: str, status: int, count: int, request_id: str) -> None:
    path = path if path in API_PATHS else repr(path[:80])  # a client's path is quoted, never a raw line break
    if status in LOAD_STATUSES:
        load_counts[status] += 1
        logger.warning("%s %s -> %d (%d since start) request_id=%s", method, path, status, load_counts[status],
                       request_id)
        return
    line = "%s %s -> %d (%d problem%s) request_id=%s"
    (logger.error if status >= 500 else logger.warning)(line, method, path, status, count,
                                                        "" if count == 1 else "s", request_id)


class RequestEdge:
    """415 / 413 before parsing, the body read once, the timeout, request ids, one log line per error."""

    def __init__(self, app, max_body: int | None = None, timeout: float | None = None):
        self.app = app
        self.max_body = max_body if max_body is not None else max_body_bytes()
        self.timeout = timeout if timeout is not None else timeout_s()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope["headers"] if k == b"x-request-id"), b"").decode("latin-1")
        request_id = given if CLIENT_REQUEST_ID.match(given) else new_request_id()
        token = REQUEST_ID.set(request_id)
        id_header = (b"x-request-id", request_id.encode())
        path = scope["path"]
        try:
            too_many = _header_problem(scope["headers"])
            if too_many:
                rejected_request(path, 431, "headers")
                logger.warning("%s %s -> 431 (1 problem: headers) request_id=%s", scope["method"], route_label(path),
                               request_id)
                await _send_json(send, 431, {"error": too_many, "request_id": request_id}, [id_header])
                return
            if scope["method"] == "POST" and path in API_PATHS:
                rejected = self._reject(scope["headers"])
                if rejected:
                    status, message, reason = rejected
                    rejected_request(path, status, reason)
                    logger.warning("%s %s -> %d (1 problem: %s) request_id=%s", scope["method"], path, status,
                                   message.split(":")[0], request_id)
                    await _send_json(send, status, {"error": message, "request_id": request_id}, [id_header])
                    return
                receive = await self._buffered(scope, receive, send, path, request_id, id_header)
                if receive is None:
                    return
            responses = _ErrorResponses(send, scope, request_id, id_header)
            try:
                async with asyncio.timeout(self.timeout):
                    await self.app(scope, receive, responses)
            except TimeoutError:
                if responses.started:
                    raise
                rejected_request(path, 504, "timeout")
                log_error_response(scope["method"], path, 504, 1, request_id)
                await _send_json(send, 504, {"error": f"not answered within {self.timeout:g} s "
                                             "(FINPULSE_SERVE_TIMEOUT_S); the request's queued work is dropped",
                                             "request_id": request_id}, [id_header])
        finally:
            REQUEST_ID.reset(token)
            body = scope.get("state", {}).pop(BODY_STATE_KEY, b"")
            trim = memory.trim_after(len(body))
            del body
            if trim:
                await asyncio.to_thread(trim)  # answered already; a trim of a large heap takes milliseconds

    def _reject(self, raw_headers) -> tuple[int, str, str] | None:
        types = [v for k, v in raw_headers if k == b"content-type"]
        if len(types) > 1:
            return (400, "Content-Type header given more than once: send exactly one, application/json",
                    "duplicate_content_type")
        media = (types[0] if types else b"application/json").decode("latin-1").split(";")[0].strip().lower()
        if not JSON_TYPE.match(media):
            return 415, f"unsupported media type {media!r}: send the request body as application/json", "media_type"
        length = next((v for k, v in raw_headers if k == b"content-length"), b"0").decode("latin-1").strip()
        if length.isdigit() and int(length) > self.max_body:
            return 413, f"request body too large: {int(length)} bytes, at most {self.max_body}", "body_too_large"
        return None

    async def _buffered(self, scope, receive, send, path, request_id, id_header):
        """Read the whole body, up to the limit, into the request state; None when already answered or gone."""
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                logger.info("POST %s: client disconnected before sending its whole body request_id=%s", path,
                            request_id)
                return None
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > self.max_body:
                rejected_request(path, 413, "body_too_large")
                logger.warning("POST %s -> 413 (1 problem) request_id=%s", path, request_id)
                await _send_json(send, 413, {"error": f"request body too large: more than {self.max_body} bytes",
                                             "request_id": request_id}, [id_header])
                return None
        scope.setdefault("state", {})[BODY_STATE_KEY] = b"".join(chunks)
        replayed = False

        # BentoML parses whatever body it is handed into the API's input model (with only a `ctx` parameter, an
        # empty one): it gets none, so a body is parsed once, by the service (serving.validation).
        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"", "more_body": False}

        return replay


class _ErrorResponses:
    """Wraps `send`: adds the request id header; holds an error body to log it and name the request id in it."""

    def __init__(self, send, scope, request_id: str, id_header):
        self.send, self.scope, self.request_id, self.id_header = send, scope, request_id, id_header
        self.start: dict | None = None
        self.started = False
        self.chunks: list[bytes] = []

    async def __call__(self, message):
        if message["type"] == "http.response.start":
            self.started = True
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
        log_error_response(self.scope["method"], self.scope["path"], status, problem_count(status, body),
                           self.request_id)
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


class JsonLines(logging.Formatter):
    """One JSON object per log line: time, level, logger, message, request_id (when a request is being served)."""

    def format(self, record: logging.LogRecord) -> str:
        document = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"), "level": record.levelname,
                    "logger": record.name, "message": record.getMessage()}
        request_id = REQUEST_ID.get()
        if request_id:
            document["request_id"] = request_id
        if record.exc_info:
            document["traceback"] = self.formatException(record.exc_info)
        return json.dumps(document)


def install_json_logs() -> bool:
    """In a `bentoml serve` worker, the service's log lines (`finpulse.*`) go to stderr as JSON lines.

    Only in workers: in process (tests, notebooks) the lines propagate to whatever logging is configured."""
    from bentoml._internal.context import server_context  # the only place BentoML says "this is a worker"

    if server_context.worker_index is None or os.environ.get("FINPULSE_SERVE_LOG_FORMAT", "json") != "json":
        return False
    target = logging.getLogger("finpulse")
    if not any(isinstance(h.formatter, JsonLines) for h in target.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(JsonLines())
        target.addHandler(handler)
        target.setLevel(logging.INFO)
        target.propagate = False
    return True
