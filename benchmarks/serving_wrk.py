"""wrk against the FinPulse bento and, in the same run, against two ceilings of the same shape.

The bare app (`benchmarks/bare_asgi.py`: uvicorn, the same worker count) reads
and parses the same JSON bodies and answers a small JSON: the ceiling any
Python ASGI service reaches on this machine. The trivial bento
(`benchmarks/serving_trivial_bento.py`) does the same behind BentoML's server:
the ceiling of any BentoML endpoint. Each row is measured right after its
ceilings' rows, so the ratios hold on a loaded machine where absolutes do not.

`--hostile SECONDS` then runs a hostile phase against each bento (error
amplification bodies, 2 MB of bad texts, requests at the cost limit, at 32
connections), records the largest worker's memory fresh, as wrk stops and once
the requests wrk left queued are done, and measures every row again ("after
hostile").

    .venv/bin/python benchmarks/serving_wrk.py --tiny           # bento from tiny test models (no demo storage)
    .venv/bin/python benchmarks/serving_wrk.py --bento finpulse:latest
    options: --connections 1,16,64 --seconds 10 --workers 2 --variants on,off --endpoints predict,sentiment
             --hostile 60

Needs `wrk` (Debian package `wrk`). Prints one table; `--json PATH` also writes the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from benchmarks.serving_load import (  # noqa: E402
    TWEETS, bento_under_test, free_port, predict_bodies, start_server, stop_server)

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def lua_script(bodies: list[bytes], path: Path, paths: list[str] | None = None) -> Path:
    """A wrk script that POSTs the bodies in turn (to `paths` in turn, when given, else the URL's path)."""
    quoted = ",\n".join(f"[==[{b.decode()}]==]" for b in bodies)
    targets = ", ".join(f'"{p}"' for p in paths) if paths else ""
    path.write_text(f"""bodies = {{ {quoted} }}
paths = {{ {targets} }}
counter = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  counter = counter % #bodies + 1
  local target = nil
  if #paths > 0 then target = paths[counter] end
  return wrk.format(nil, target, nil, bodies[counter])
end
""")
    return path


def hostile_bodies(tickers: list[str], days: int) -> list[tuple[str, bytes]]:
    """Issue 24's hostile mix as (path, body): error amplification, 2 MB of bad texts, legal requests at the cost
    limit."""
    from finpulse_assets.serving.schema import MAX_REQUEST_DAYS, MAX_REQUEST_TEXT_CHARS

    amplification = json.dumps({"requests": [{"ticker": "AAPL", "history": [{}] * 260}] * 64}).encode()
    bad_texts = json.dumps({"texts": [1] * 600_000}).encode()
    bad_day_texts = json.dumps({"requests": [{"ticker": tickers[0], "history": [{"texts": [{"a": 1}] * 500}] * 4}]})
    long_item = json.loads(predict_bodies(tickers, 256, n=1)[0])["requests"][0]
    per_item = MAX_REQUEST_TEXT_CHARS // 1000 // (MAX_REQUEST_DAYS // 256)
    for bar in long_item["history"][-per_item:]:
        bar["texts"] = ["w" * 999]
    at_limit = json.dumps({"requests": [long_item] * (MAX_REQUEST_DAYS // 256)}).encode()
    return [("/predict", amplification), ("/sentiment", bad_texts), ("/predict", bad_day_texts.encode()),
            ("/predict", at_limit)]


def hostile_script(tickers: list[str], days: int, path: Path) -> Path:
    requests = hostile_bodies(tickers, days)
    return lua_script([body for _, body in requests], path, [target for target, _ in requests])


def worker_rss_mib(server: subprocess.Popen) -> float:
    """The resident memory of the server's largest process (a worker, once models are loaded), MiB."""
    import psutil

    processes = [psutil.Process(server.pid), *psutil.Process(server.pid).children(recursive=True)]
    return max(p.memory_info().rss for p in processes) / 2**20


def drained(server: subprocess.Popen, quiet_s: float = 1.0, limit_s: float = 60) -> float:
    """Wait until the server's processes have used no CPU for `quiet_s` (requests a load generator left queued
    are done); returns the seconds waited."""
    import psutil

    processes = [psutil.Process(server.pid), *psutil.Process(server.pid).children(recursive=True)]
    busy = lambda: sum(sum(p.cpu_times()[:2]) for p in processes)  # noqa: E731
    start, before = time.monotonic(), busy()
    while time.monotonic() - start < limit_s:
        time.sleep(quiet_s)
        now = busy()
        if now - before < 0.05 * quiet_s:
            break
        before = now
    return time.monotonic() - start


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * UNITS[unit]


def run_wrk(url: str, script: Path, connections: int, seconds: float) -> dict:
    threads = min(connections, 2)
    done = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--latency", "--timeout",
                           "30s", "-s", str(script), url], capture_output=True, text=True, check=True)
    out = done.stdout
    latency = dict(re.findall(r"^\s+(50|99)(?:\.0+)?%\s+(\S+)\s*$", out, re.M))
    if set(latency) != {"50", "99"}:
        raise RuntimeError(f"unexpected wrk output:\n{out}\n{done.stderr}")
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {"req_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "requests": int(re.search(r"(\d+) requests in", out).group(1)),
            "p50_ms": _ms(latency["50"]), "p99_ms": _ms(latency["99"]),
            "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
            "socket_errors": sum(map(int, errors.groups())) if errors else 0}


def with_ok_rate(result: dict) -> dict:
    """2xx answers per second: the throughput that counts (a 503 is quick and useless)."""
    ok = result["requests"] - result["non_2xx"]
    return {**result, "ok_per_s": result["req_per_s"] * ok / max(result["requests"], 1)}


def start_trivial(port: int, workers: int) -> subprocess.Popen:
    env = os.environ | {"FINPULSE_SERVE_WORKERS": str(workers), "BENTOML_DO_NOT_TRACK": "True",
                        "PYTHONPATH": str(PROJECT_ROOT)}
    return start_server("benchmarks.serving_trivial_bento:Trivial", port, env, cwd=PROJECT_ROOT)


def start_bare(port: int, workers: int) -> subprocess.Popen:
    uvicorn = Path(sys.executable).parent / "uvicorn"
    server = subprocess.Popen([str(uvicorn), "benchmarks.bare_asgi:app", "--host", "127.0.0.1", "--port", str(port),
                               "--workers", str(workers), "--no-access-log", "--log-level", "warning"],
                              cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    for _ in range(120):
        try:
            urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/", data=b"{}"), timeout=2)
            return server
        except OSError:
            time.sleep(0.5)
    stop_server(server)
    raise RuntimeError("the bare ASGI app never answered")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bento", default="finpulse:latest")
    parser.add_argument("--tiny", action="store_true", help="build a bento from tiny test models in a temp home")
    parser.add_argument("--connections", default="1,16,64")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--variants", default="on,off",
                        help="bento variants: on, off (batching), or any FINPULSE_SERVE_BATCHING value, e.g. "
                             "predict; `/N` sets the latency budget to N ms, e.g. on/200; `:NAME=VALUE` adds to "
                             "that server's environment, e.g. on:FINPULSE_SERVE_ACCESS_LOG=0")
    parser.add_argument("--endpoints", default="predict,sentiment")
    parser.add_argument("--texts-per-request", type=int, default=8)
    parser.add_argument("--env", action="append", default=[], help="extra NAME=VALUE for the bento server")
    parser.add_argument("--hostile", type=float, default=0, help="seconds of hostile load, then every row again")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        parser.error("wrk is not installed (Debian: apt-get install -y wrk)")

    with tempfile.TemporaryDirectory(prefix="finpulse-wrk-") as tmp:
        bento, tickers, window = bento_under_test(args, Path(tmp))
        texts = [TWEETS[k % len(TWEETS)] + f" #{k}" for k in range(1024)]
        scripts = {"predict": lua_script(predict_bodies(tickers, window + 20), Path(tmp) / "predict.lua"),
                   "sentiment": lua_script([json.dumps({"texts": texts[i:i + args.texts_per_request]}).encode()
                                            for i in range(0, len(texts), args.texts_per_request)][:64],
                                           Path(tmp) / "sentiment.lua")}
        hostile = hostile_script(tickers, window + 20, Path(tmp) / "hostile.lua")
        servers, ports, memory, rows = {}, {}, {}, []
        variants = args.variants.split(",")
        try:
            ports["bare"] = free_port()
            servers["bare"] = start_bare(ports["bare"], args.workers)
            ports["trivial"] = free_port()
            servers["trivial"] = start_trivial(ports["trivial"], args.workers)
            for variant in variants:
                variant_env = dict(e.split("=", 1) for e in variant.split(":")[1:])
                batching, _, latency = variant.split(":")[0].partition("/")
                env = os.environ | {"FINPULSE_SERVE_BATCHING": {"on": "1", "off": "0"}.get(batching, batching),
                                    **({"FINPULSE_SERVE_MAX_LATENCY_MS": latency} if latency else {}),
                                    "FINPULSE_SERVE_WORKERS": str(args.workers), "BENTOML_DO_NOT_TRACK": "True",
                                    **dict(e.split("=", 1) for e in args.env), **variant_env}
                ports[variant] = free_port()
                servers[variant] = start_server(bento, ports[variant], env)
                memory[variant] = {"fresh_mib": worker_rss_mib(servers[variant])}

            def measure(phase: str) -> None:
                for endpoint in args.endpoints.split(","):
                    for connections in [int(c) for c in args.connections.split(",")]:
                        ceilings = {}
                        for name in ["bare", "trivial", *variants]:
                            url = f"http://127.0.0.1:{ports[name]}/{endpoint}"
                            run_wrk(url, scripts[endpoint], connections, args.warmup)
                            result = with_ok_rate(run_wrk(url, scripts[endpoint], connections, args.seconds))
                            if name in ("bare", "trivial"):
                                ceilings[name] = result
                            rows.append({"phase": phase, "endpoint": f"/{endpoint}", "connections": connections,
                                         "server": name, "ratio": result["ok_per_s"] / ceilings["bare"]["ok_per_s"],
                                         "ratio_trivial": result["ok_per_s"] / ceilings.get("trivial", result)["ok_per_s"],
                                         "load": os.getloadavg()[0], **result})
                            print(rows[-1], flush=True)

            measure("fresh")
            for variant in variants:
                memory[variant]["warm_mib"] = worker_rss_mib(servers[variant])
            if args.hostile:
                for variant in variants:
                    url = f"http://127.0.0.1:{ports[variant]}/predict"
                    result = run_wrk(url, hostile, 32, args.hostile)
                    memory[variant].update(hostile_requests=result["requests"], hostile_non_2xx=result["non_2xx"],
                                           at_end_mib=worker_rss_mib(servers[variant]),
                                           drain_s=drained(servers[variant]),
                                           after_mib=worker_rss_mib(servers[variant]))
                    print({"hostile": variant, **memory[variant]}, flush=True)
                measure("after hostile")
        finally:
            for server in servers.values():
                stop_server(server)

    print(f"\nbento {bento}, {args.workers} worker(s) each, {os.cpu_count()} cores (load {os.getloadavg()[0]:.1f}), "
          f"history {window + 20} days, {args.texts_per_request} texts per /sentiment request, "
          f"{args.seconds:g} s per run")
    print("| phase | endpoint | conns | server | 2xx req/s | ratio to bare | ratio to trivial bento | p50 ms | p99 ms "
          "| non-2xx | requests | load |")
    print("|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    names = {"bare": "bare ASGI", "trivial": "trivial bento"}
    for r in rows:
        server = names.get(r["server"], f"finpulse, batching {r['server']}")
        print(f"| {r['phase']} | {r['endpoint']} | {r['connections']} | {server} | {r['ok_per_s']:,.0f} | "
              f"{r['ratio']:.2f} | {r['ratio_trivial']:.2f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
              f"{r['non_2xx']} | {r['requests']} | {r['load']:.1f} |")
    for variant, m in memory.items():
        print(f"worker memory, batching {variant}: fresh {m['fresh_mib']:.0f} MiB, after the fresh rows "
              f"{m['warm_mib']:.0f} MiB"
              + (f", after {m['hostile_requests']} hostile requests ({m['hostile_non_2xx']} non-2xx) "
                 f"{m['at_end_mib']:.0f} MiB as wrk stopped, {m['after_mib']:.0f} MiB once the requests it left "
                 f"queued were done ({m['drain_s']:.0f} s later; {m['after_mib'] / m['warm_mib'] - 1:+.1%} on the "
                 "warm worker)"
                 if "after_mib" in m else ""))
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "memory": memory}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
