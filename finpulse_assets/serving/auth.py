"""Optional bearer-token auth as ASGI middleware; health probes stay open for the orchestrator."""

from __future__ import annotations

import hmac
import json
import os

TOKEN_ENV = "FINPULSE_API_TOKEN"
OPEN_PATHS = frozenset({"/livez", "/readyz", "/healthz"})


class BearerTokenAuth:
    """401 unless `Authorization: Bearer <token>` matches; a no-op when no token is configured.

    The token is read from FINPULSE_API_TOKEN when the server starts (never logged).
    """

    def __init__(self, app, token: str | None = None):
        self.app = app
        configured = token if token is not None else os.environ.get(TOKEN_ENV, "")
        self.expected = f"Bearer {configured.strip()}".encode() if configured.strip() else None

    async def __call__(self, scope, receive, send):
        if self.expected is None or scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"authorization", b"")
        if hmac.compare_digest(given, self.expected):
            await self.app(scope, receive, send)
            return
        problem = "missing" if not given else "invalid"
        body = json.dumps({"error": f"Authorization header: {problem} bearer token"}).encode()
        await send({"type": "http.response.start", "status": 401,
                    "headers": [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")]})
        await send({"type": "http.response.body", "body": body})
