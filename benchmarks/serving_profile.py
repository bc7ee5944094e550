"""py-spy on the FinPulse bento's worker under wrk load: where a /predict or /sentiment spends its time.

    .venv/bin/python benchmarks/serving_profile.py --tiny --endpoint predict --seconds 15 --connections 64

Serves the bento with one worker, drives it with wrk (the bodies of `serving_wrk.py`), records the worker
with `py-spy record --subprocesses --format raw` (py-spy is in the `profile` extra) and prints the share
of samples (inclusive) by package and the top functions. Needs root or ptrace rights, and `wrk`.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from benchmarks.serving_load import (  # noqa: E402
    TWEETS, bento_under_test, free_port, predict_bodies, start_server, stop_server)
from benchmarks.serving_wrk import lua_script  # noqa: E402

GROUPS = [("finpulse_assets/features", "features"), ("finpulse_assets/sentiment", "features"),
          ("finpulse_assets/models", "models (ONNX Runtime)"), ("finpulse_assets/serving/validation", "validation"),
          ("finpulse_assets/serving", "serving (other)"), ("opentelemetry", "OpenTelemetry middleware"),
          ("bentoml/_internal/server/http/access", "access log"), ("prometheus_client", "metrics"),
          ("bentoml/_internal/server/http/instruments", "metrics"), ("_bentoml_impl", "BentoML API path"),
          ("bentoml", "BentoML (other)"), ("starlette", "Starlette"), ("uvicorn", "uvicorn"),
          ("pydantic", "pydantic"), ("logging", "logging"), ("asyncio", "asyncio / event loop")]


def group(frame: str) -> str | None:
    return next((name for key, name in GROUPS if key in frame), None)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bento", default="finpulse:latest")
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--endpoint", default="predict", choices=["predict", "sentiment"])
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--env", action="append", default=[], help="extra NAME=VALUE for the bento server")
    args = parser.parse_args(argv)
    py_spy = Path(sys.executable).parent / "py-spy"
    with tempfile.TemporaryDirectory(prefix="finpulse-spy-") as tmp:
        bento, tickers, window = bento_under_test(args, Path(tmp))
        texts = [TWEETS[k % len(TWEETS)] + f" #{k}" for k in range(512)]
        bodies = predict_bodies(tickers, window + 20) if args.endpoint == "predict" else \
            [json.dumps({"texts": texts[i:i + 8]}).encode() for i in range(0, 512, 8)]
        script = lua_script(bodies, Path(tmp) / "load.lua")
        port = free_port()
        env = os.environ | {"FINPULSE_SERVE_WORKERS": "1", "BENTOML_DO_NOT_TRACK": "True",
                            **dict(e.split("=", 1) for e in args.env)}
        server = start_server(bento, port, env)
        raw = Path(tmp) / "profile.txt"
        try:
            load = subprocess.Popen(["wrk", "-t2", f"-c{args.connections}", f"-d{args.seconds + 4}s", "-s",
                                     str(script), f"http://127.0.0.1:{port}/{args.endpoint}"],
                                    stdout=subprocess.PIPE, text=True)
            subprocess.run([str(py_spy), "record", "--pid", str(server.pid), "--subprocesses", "--duration",
                            str(args.seconds), "--format", "raw", "--output", str(raw), "--nonblocking"],
                           check=True, capture_output=True)
            print(load.communicate()[0])
        finally:
            stop_server(server)
        inclusive, own, total = collections.Counter(), collections.Counter(), 0
        for line in raw.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            frames, n = stack.split(";"), int(count)
            if not any("serve_http" in f or "uvicorn" in f or "anyio" in f or "worker" in f for f in frames):
                continue
            total += n
            for name in {g for g in map(group, frames) if g}:
                inclusive[name] += n
            own[frames[-1].split(" (")[0]] += n
    print(f"{total} samples of the worker's threads ({args.endpoint}, {args.connections} connections)")
    for name, n in inclusive.most_common():
        print(f"  {name:28s} {n / total:6.1%} (inclusive)")
    print("top functions (own samples):")
    for name, n in own.most_common(15):
        print(f"  {n / total:6.1%}  {name[:110]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
