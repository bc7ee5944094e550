"""A bento worker's memory: fresh, after normal requests, after N hostile requests, and after normal ones again.

    .venv/bin/python benchmarks/serving_memory.py --tiny --hostile 1000
    .venv/bin/python benchmarks/serving_memory.py --bento finpulse:latest --env FINPULSE_SERVE_ORT_ARENA=1

Serves the bento with one worker and sends, from `--clients` threads, `--normal` valid requests (the bodies of
`serving_wrk.py`, /predict and /sentiment in turn), then exactly `--hostile` requests of issue 24's hostile mix
(`serving_wrk.hostile_bodies`: error amplification, 2 MB of bad texts, bad day texts, legal requests at the
cost limit), then the normal requests again. Prints the worker's resident memory (RSS) after each phase and
the change against the worker after its first normal requests (the issue's "fresh worker").
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from benchmarks.serving_load import (  # noqa: E402
    TWEETS, bento_under_test, free_port, predict_bodies, start_server, stop_server)
from benchmarks.serving_wrk import hostile_bodies, worker_rss_mib  # noqa: E402


def send_all(port: int, requests: list[tuple[str, bytes]], clients: int) -> dict[int, int]:
    """POST every (path, body), `clients` at a time, each client on its own keep-alive connection."""
    jobs = iter(requests)
    statuses: dict[int, int] = {}

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for path, body in jobs:
            connection.request("POST", path, body, {"content-type": "application/json"})
            response = connection.getresponse()
            response.read()
            statuses[response.status] = statuses.get(response.status, 0) + 1
            if response.getheader("connection", "").lower() == "close":
                connection.close()
        connection.close()

    with ThreadPoolExecutor(clients) as pool:
        for future in [pool.submit(client) for _ in range(clients)]:
            future.result()
    return statuses


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bento", default="finpulse:latest")
    parser.add_argument("--tiny", action="store_true", help="build a bento from tiny test models in a temp home")
    parser.add_argument("--hostile", type=int, default=1000)
    parser.add_argument("--normal", type=int, default=500)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--mix", default="0,1,2,3", help="which of the hostile bodies to send, by position in "
                        "serving_wrk.hostile_bodies (amplification, bad texts, bad day texts, at the cost limit)")
    parser.add_argument("--env", action="append", default=[], help="extra NAME=VALUE for the bento server")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="finpulse-mem-") as tmp:
        bento, tickers, window = bento_under_test(args, Path(tmp))
        texts = [TWEETS[k % len(TWEETS)] + f" #{k}" for k in range(512)]
        normal = list(itertools.islice(itertools.cycle(
            [("/predict", b) for b in predict_bodies(tickers, window + 20)]
            + [("/sentiment", json.dumps({"texts": texts[i:i + 2]}).encode()) for i in range(0, 128, 2)]),
            args.normal))
        hostile = list(itertools.islice(itertools.cycle(
            [hostile_bodies(tickers, window + 20)[int(k)] for k in args.mix.split(",")]), args.hostile))
        env = os.environ | {"FINPULSE_SERVE_WORKERS": "1", "BENTOML_DO_NOT_TRACK": "True",
                            **dict(e.split("=", 1) for e in args.env)}
        port = free_port()
        server = start_server(bento, port, env)
        try:
            phases = [("fresh", None), ("after normal requests", normal), (f"after {args.hostile} hostile", hostile),
                      ("after normal requests again", normal)]
            memory = {}
            worker = max([server.pid, *(p.pid for p in psutil.Process(server.pid).children(recursive=True))],
                         key=lambda pid: psutil.Process(pid).memory_info().rss)
            print(f"worker PYTHONMALLOC={psutil.Process(worker).environ().get('PYTHONMALLOC', '(unset)')}")
            for name, requests in phases:
                statuses = send_all(port, requests, args.clients) if requests else {}
                memory[name] = worker_rss_mib(server)
                print(f"{name}: {memory[name]:.0f} MiB {statuses or ''}", flush=True)
        finally:
            stop_server(server)
    base = memory["after normal requests"]
    for name in list(memory)[2:]:
        print(f"{name}: {memory[name] - base:+.0f} MiB ({memory[name] / base - 1:+.1%}) on the worker after its "
              "first normal requests")
    return 0


if __name__ == "__main__":
    sys.exit(main())
