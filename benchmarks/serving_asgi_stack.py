"""In process: the CPU one request costs in BentoML's ASGI stack (middleware, API path) beside a bare ASGI app.

    .venv/bin/python benchmarks/serving_asgi_stack.py

Calls each app directly (no sockets, no HTTP parsing) with a small JSON POST, `--requests` times in a row:
`benchmarks/bare_asgi.py`, the trivial bento (`serving_trivial_bento.py`) as written, and the trivial bento with
its routes left out of BentoML's OpenTelemetry middleware (FINPULSE_BENCH_UNTRACED=1, as the FinPulse service
does). Each BentoML app runs in its own process (BentoML registers its request metrics once per process).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BODY = json.dumps({"requests": [1, 2, 3]}).encode()


async def call(app, path: str) -> int:
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "", "state": {},
             "headers": [(b"host", b"local"), (b"content-type", b"application/json"),
                         (b"content-length", str(len(BODY)).encode())],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 2)}
    messages = [{"type": "http.request", "body": BODY, "more_body": False}]
    statuses = []

    async def receive():
        if messages:
            return messages.pop()
        await asyncio.sleep(3600)  # never disconnects

    async def send(message):
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    await app(scope, receive, send)
    return statuses[0]


async def per_request_us(app, requests: int) -> float:
    for _ in range(50):
        assert await call(app, "/predict") == 200
    start = time.process_time()
    for _ in range(requests):
        await call(app, "/predict")
    return (time.process_time() - start) / requests * 1e6


async def measure(which: str, requests: int) -> float:
    sys.path.insert(0, str(PROJECT_ROOT))
    if which == "bare":
        from benchmarks.bare_asgi import app

        return await per_request_us(app, requests)
    from benchmarks.serving_trivial_bento import Trivial

    app = Trivial.to_asgi()
    async with app.router.lifespan_context(app):
        return await per_request_us(app, requests)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--one", choices=["bare", "trivial", "untraced"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(asyncio.run(measure(args.one, args.requests)))
        return 0
    for which, label in [("bare", "bare ASGI app"), ("trivial", "trivial bento"),
                         ("untraced", "trivial bento, routes not traced")]:
        env = os.environ | {"FINPULSE_BENCH_UNTRACED": "1" if which == "untraced" else "0",
                            "BENTOML_DO_NOT_TRACK": "True"}
        done = subprocess.run([sys.executable, __file__, "--one", which, "--requests", str(args.requests)], env=env,
                              capture_output=True, text=True, check=True)
        print(f"{label:34s} {float(done.stdout.strip().splitlines()[-1]):7.0f} us of CPU per request", flush=True)
    print(f"load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
