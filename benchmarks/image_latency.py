"""/predict latency of the serving image (run by `buildah run`) next to `bentoml serve` of the same bento.

Both serve the same bento with the same settings (one worker unless --workers), at the same time on
loopback; each gets --requests sequential identical single-item /predict requests (after --warmup ones),
in alternating blocks of 10 so that both see the same load on the machine.
The image must exist (`make images`, or the `bento` asset with FINPULSE_CONTAINERIZE=buildah):

    .venv/bin/python benchmarks/image_latency.py                      # finpulse:latest and localhost/finpulse:<version>
    .venv/bin/python benchmarks/image_latency.py --bento finpulse:abc --requests 200
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from finpulse_assets.deploy.local_net import free_port, wait_for_http  # noqa: E402
from serving_load import bento_models, predict_bodies, start_server, stop_server  # noqa: E402

BENTO_ENTRYPOINT = "/home/bentoml/bento/env/docker/entrypoint.sh"


def post_ms(port: int, body: bytes) -> float:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/predict", data=body,
                                     headers={"content-type": "application/json"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()
        assert response.status == 200, response.status
    return (time.perf_counter() - started) * 1000


def summary(latencies: list[float]) -> dict:
    values = np.array(latencies)
    return {"requests": len(values), "p50_ms": round(float(np.percentile(values, 50)), 2),
            "p99_ms": round(float(np.percentile(values, 99)), 2), "mean_ms": round(float(values.mean()), 2)}


def interleaved_ms(ports: dict[str, int], body: bytes, requests: int, warmup: int, block: int = 10) -> dict:
    """`requests` sequential requests per server, in alternating blocks, so both see the same machine load."""
    for port in ports.values():
        for _ in range(warmup):
            post_ms(port, body)
    latencies: dict[str, list[float]] = {name: [] for name in ports}
    while any(len(values) < requests for values in latencies.values()):
        for name, port in ports.items():
            latencies[name] += [post_ms(port, body) for _ in range(min(block, requests - len(latencies[name])))]
    return {name: summary(values) for name, values in latencies.items()}


def main(argv=None) -> int:
    import bentoml

    from finpulse_assets.deploy.image_run import running_image
    from finpulse_assets.deploy.images import image_name, inspect_image

    parser = argparse.ArgumentParser()
    parser.add_argument("--bento", default="finpulse:latest")
    parser.add_argument("--image", help="default: localhost/<bento tag>")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--workers", default="1")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args(argv)

    tag = str(bentoml.bentos.get(args.bento).tag)
    image = args.image or image_name(tag)
    tickers, window = bento_models(tag)
    body = predict_bodies(tickers, window + 20, n=2)[1]  # one ticker, with texts on the last day
    settings = {"FINPULSE_SERVE_WORKERS": args.workers}
    figures = {"bento": tag, "image": image, **inspect_image(image), "workers": args.workers}

    ports = {"bentoml_serve": free_port(), "buildah_run": free_port()}
    server = start_server(tag, ports["bentoml_serve"], os.environ | settings)
    try:
        command = [BENTO_ENTRYPOINT, "--host", "127.0.0.1", "--port", str(ports["buildah_run"])]
        with running_image(image, command, env=settings):
            started = time.perf_counter()
            wait_for_http(f"http://127.0.0.1:{ports['buildah_run']}/readyz", 300)
            figures["image_ready_s"] = round(time.perf_counter() - started, 1)
            figures |= interleaved_ms(ports, body, args.requests, args.warmup)
    finally:
        stop_server(server)

    print(json.dumps(figures, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
