"""The deployment's durable S3 store (s3rver, objects on disk) next to moto (objects in memory), one ticker-year.

    nice python benchmarks/object_store_durable.py --days 366 --repeat 3

Both servers run side by side on loopback, each timed with benchmarks/s3_storage.py's `time_table` (write the
ticker-year in one Delta commit, read it back, load one partition), alternating store by store per repeat.
Then s3rver is stopped and started again and the table read back: the check that chose it for make deploy-local.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from benchmarks.s3_storage import time_table, year_frames
from finpulse_assets.deploy.local_topology import S3_PACKAGE_DIR, S3RVER_CREDENTIALS, _http_ok, install_s3rver
from finpulse_assets.deploy.local_net import free_port
from finpulse_assets.storage.ticker_day_table import TickerDayTable
from finpulse_assets.deploy.moto_s3 import create_bucket, s3_server

BUCKET = "finpulse-bench"


def start_s3rver(data: Path, port: int) -> subprocess.Popen:
    process = subprocess.Popen(["node", str(S3_PACKAGE_DIR / "node_modules" / "s3rver" / "bin" / "s3rver.js"),
                                "-d", str(data), "-a", "127.0.0.1", "-p", str(port), "--silent",
                                "--configure-bucket", BUCKET])
    deadline = time.monotonic() + 30
    while not _http_ok(f"http://127.0.0.1:{port}") and time.monotonic() < deadline:
        time.sleep(0.1)
    return process


def options(url: str, key: str, secret: str) -> dict[str, str]:
    return {"AWS_ENDPOINT_URL": url, "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": key,
            "AWS_SECRET_ACCESS_KEY": secret, "AWS_ALLOW_HTTP": "true", "AWS_S3_ALLOW_UNSAFE_RENAME": "true"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=366)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    install_s3rver()
    frames = year_frames(args.days, 1)
    results: dict[str, list[dict]] = {"moto": [], "s3rver": []}
    with tempfile.TemporaryDirectory(prefix="finpulse-durable-") as tmp, s3_server() as moto:
        create_bucket(moto, BUCKET)
        port = free_port()
        s3rver = start_s3rver(Path(tmp), port)
        key, secret = S3RVER_CREDENTIALS["AWS_ACCESS_KEY_ID"], S3RVER_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]
        stores = {"moto": options(moto.url, "finpulse-test", "finpulse-test-secret"),
                  "s3rver": options(f"http://127.0.0.1:{port}", key, secret)}
        try:
            for _ in range(args.repeat):
                for name, opts in stores.items():
                    table = TickerDayTable(f"s3://{BUCKET}/bench/{uuid.uuid4().hex}", opts)
                    results[name].append(time_table(table, frames, 1))
            kept = TickerDayTable(f"s3://{BUCKET}/bench/kept", stores["s3rver"])
            kept.write_run(frames, uuid.uuid4().hex)
            s3rver.terminate()
            s3rver.wait(timeout=30)
            started = time.perf_counter()
            s3rver = start_s3rver(Path(tmp), port)
            restart_s = round(time.perf_counter() - started, 2)
            rows_after_restart = len(kept.read_all())
        finally:
            s3rver.terminate()
            s3rver.wait(timeout=30)
    summary = {name: {k: round(sorted(r[k] for r in runs)[len(runs) // 2], 3) for k in runs[0]}
               for name, runs in results.items()}
    print(json.dumps({"days": args.days, "repeat": args.repeat, "median": summary,
                      "s3rver_restart_s": restart_s, "rows_after_restart": rows_after_restart}, indent=1))


if __name__ == "__main__":
    main()
