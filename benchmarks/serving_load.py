"""Load test of the FinPulse bento on loopback: /predict (adaptive batching on and off) and /sentiment.

The server is `bentoml serve` in its own process group; the load generator
(asyncio + aiohttp, one connection per client) runs in this process. /predict
gets single-item requests from `--clients` concurrent clients for
`--seconds`; /sentiment gets `--texts-per-request` tweets per request.

    make benchmark-serving                              # the latest bento in $BENTOML_HOME (make demo builds it)
    .venv/bin/python benchmarks/serving_load.py --tiny  # no demo storage: builds a bento from tiny test models

Prints one table; `--json PATH` also writes the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import numpy as np

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from finpulse_assets.deploy.local_net import free_port, wait_for_http  # noqa: E402

TWEETS = ["$AAPL record quarter, strong upgrade from analysts", "awful guidance, lawsuit risk, selling here",
          "shares trade flat today ahead of the report", "bullish breakout on heavy volume",
          "weak iPhone numbers, bearish", "watching the chart into the close"]


def start_server(bento: str, port: int, env: dict, cwd: Path | None = None) -> subprocess.Popen:
    """`bentoml serve <bento or service>` on loopback, once it answers /readyz (stopped if it never does)."""
    bentoml = Path(sys.executable).parent / "bentoml"
    server = subprocess.Popen([str(bentoml), "serve", bento, "--host", "127.0.0.1", "--port", str(port)], cwd=cwd,
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/readyz", 180, server)
    except BaseException:
        stop_server(server)
        raise
    return server


def stop_server(server: subprocess.Popen) -> None:
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


async def load(url: str, bodies: list[bytes], clients: int, seconds: float, warmup: float) -> dict:
    latencies: list[float] = []
    errors = 0
    statuses: dict[int, int] = {}
    stop_at = time.perf_counter() + warmup + seconds
    measure_from = time.perf_counter() + warmup
    connector = aiohttp.TCPConnector(limit=clients)
    headers = {"content-type": "application/json"}
    if os.environ.get("FINPULSE_API_TOKEN"):
        headers["authorization"] = f"Bearer {os.environ['FINPULSE_API_TOKEN']}"
    async with aiohttp.ClientSession(connector=connector) as session:
        async def client(k: int) -> None:
            nonlocal errors
            n = k
            while (start := time.perf_counter()) < stop_at:
                async with session.post(url, data=bodies[n % len(bodies)], headers=headers) as response:
                    await response.read()
                    status = response.status
                n += clients
                if start >= measure_from:
                    latencies.append(time.perf_counter() - start)
                    statuses[status] = statuses.get(status, 0) + 1
                    errors += status != 200
        await asyncio.gather(*(client(k) for k in range(clients)))
    ms = np.asarray(latencies) * 1000
    return {"requests": len(ms), "errors": errors, "req_per_s": len(ms) / seconds,
            "p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)),
            "statuses": statuses}


def bento_under_test(args, tmp: Path) -> tuple[str, list[str], int]:
    """(bento tag, tickers, window): a tiny bento built under `tmp` with --tiny, else --bento."""
    if args.tiny:
        os.environ["BENTOML_HOME"] = str(tmp / "bentoml")
        return tiny_bento(tmp)
    return (args.bento, *bento_models(args.bento))


def predict_bodies(tickers: list[str], days: int, n: int = 64) -> list[bytes]:
    from finpulse_assets.models.tiny_exports import history

    bodies = []
    for k in range(n):
        item = history(tickers[k % len(tickers)], days, seed=k, texts={days - 1: TWEETS[k % 3:k % 3 + 2]}
                       if k % 2 else None)
        bodies.append(json.dumps({"requests": [item]}).encode())
    return bodies


def tiny_bento(home: Path) -> tuple[str, list[str], int]:
    """A bento of the tiny test models (seconds to build), for machines without the demo storage."""
    from finpulse_assets.deploy.bento_packaging import build_bento, save_serving_models
    from finpulse_assets.models.tiny_exports import TICKERS, WINDOW, tiny_finbert_onnx, tiny_lstm_onnx

    save_serving_models(tiny_lstm_onnx(home), tiny_finbert_onnx(home), TICKERS)
    return str(build_bento().tag), list(TICKERS), WINDOW


def bento_models(bento: str) -> tuple[list[str], int]:
    import bentoml

    from finpulse_assets.serving.bundle import FORECASTER_MODEL, read_forecaster

    info = bentoml.bentos.get(bento).info
    (tag,) = [m.tag for s in info.services for m in s.models if m.tag.name == FORECASTER_MODEL]
    manifest = read_forecaster(bentoml.models.get(tag).path)
    return manifest["tickers"], int(manifest["window"])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bento", default="finpulse:latest")
    parser.add_argument("--tiny", action="store_true", help="build a bento from tiny test models in a temp home")
    parser.add_argument("--clients", default="32,64")
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--workers", type=int, default=os.cpu_count(), help="server workers (the service default: one per CPU)")
    parser.add_argument("--texts-per-request", type=int, default=32)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="finpulse-bench-") as tmp:
        bento, tickers, window = bento_under_test(args, Path(tmp))
        days = window + 20
        bodies = predict_bodies(tickers, days)
        texts = [TWEETS[k % len(TWEETS)] + f" #{k}" for k in range(4096)]
        sentiment_bodies = [json.dumps({"texts": texts[i:i + args.texts_per_request]}).encode()
                            for i in range(0, len(texts), args.texts_per_request)]
        rows = []
        for batching in ("1", "0"):
            env = os.environ | {"FINPULSE_SERVE_BATCHING": batching, "FINPULSE_SERVE_WORKERS": str(args.workers),
                                "BENTOML_DO_NOT_TRACK": "True"}
            port = free_port()
            server = start_server(bento, port, env)
            try:
                for clients in [int(c) for c in args.clients.split(",")]:
                    result = asyncio.run(load(f"http://127.0.0.1:{port}/predict", bodies, clients, args.seconds,
                                              args.warmup))
                    rows.append({"endpoint": "/predict", "batching": batching == "1", "clients": clients, **result})
                    print(rows[-1], flush=True)
                result = asyncio.run(load(f"http://127.0.0.1:{port}/sentiment", sentiment_bodies, 8, args.seconds,
                                          args.warmup))
                result["tweets_per_s"] = result["statuses"].get(200, 0) / args.seconds * args.texts_per_request
                rows.append({"endpoint": "/sentiment", "batching": batching == "1", "clients": 8, **result})
                print(rows[-1], flush=True)
            finally:
                stop_server(server)

    print(f"\nbento {bento}, {args.workers} worker(s), {os.cpu_count()} cores, history {days} days, "
          f"{args.seconds:.0f} s per run")
    print("| endpoint | batching | clients | req/s (all) | ok req/s | p50 ms | p99 ms | tweets/s | non-200 |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        tweets = f"{r['tweets_per_s']:,.0f}" if "tweets_per_s" in r else ""
        ok = r["statuses"].get(200, 0) / args.seconds
        print(f"| {r['endpoint']} | {'on' if r['batching'] else 'off'} | {r['clients']} | {r['req_per_s']:,.0f} | {ok:,.0f} | "
              f"{r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {tweets} | {r['errors']} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
