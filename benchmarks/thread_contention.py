"""FinBERT fine-tuning with and without a competing CPU load, old vs CPU-aware thread sizing, in one run.

    nice .venv/bin/python benchmarks/thread_contention.py --tweets 256 --repeats 2

Each measurement is a fresh process (thread pools are fixed when torch loads) fine-tuning the offline
MiniLM base model for one epoch on a synthetic labelled frame; "loaded" runs it while `--load` busy-loop
processes (default: one per usable CPU, a load of 2 on 2 cores) compete for the CPUs. Configurations:

    old      torch's defaults (every core, OpenMP's spinning wait policy), as before cpu_share sized pools
    new      cpu_share.configure_process_threads() first, as the CLI, run workers and Definitions now do
    one      one thread (for reference: what a busy machine's best setting was by hand)

Slowdown = loaded seconds / idle seconds of the same configuration, medians over the repeats; idle and
loaded runs are interleaved so a change in the shared machine's own load hits both.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ("old", "new", "one")


def child(config: str, tweets: int) -> None:
    if config == "new":
        from finpulse_assets.runs.cpu_share import configure_process_threads

        configure_process_threads()
    elif config == "one":
        from finpulse_assets.runs.cpu_share import configure_process_threads

        configure_process_threads(1)
    import tempfile

    import torch

    from finpulse_assets.models.finbert.base_model import offline_default_dir
    from finpulse_assets.models.finbert.train import FinetuneParams, finetune
    from finpulse_assets.models.finbert.tiny import labelled_frame

    frame = labelled_frame(n_days=20, per_day=max(1, tweets * 5 // 4 // 20), seed=1)
    frame["text"] = frame["text"] + " " + frame.index.astype(str)  # distinct texts: dedupe keeps them all
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        metrics = finetune(offline_default_dir(), frame, FinetuneParams(epochs=1, batch_size=32, max_length=64),
                           tmp)
        seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "train_seconds": metrics["train_seconds"],
                      "train_size": metrics["train_size"], "torch_threads": torch.get_num_threads(),
                      "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "")}))


def _busy() -> None:
    while True:
        pass


def measure(config: str, tweets: int) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_WAIT_POLICY",
                        "FINPULSE_THREADS", "FINPULSE_WORKER_CORES")}
    env["PYTHONPATH"] = str(ROOT)
    env.setdefault("HF_HUB_OFFLINE", "1")
    out = subprocess.run([sys.executable, __file__, "--child", config, "--tweets", str(tweets)], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tweets", type=int, default=256, help="training tweets (one epoch)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--load", type=int, default=None, help="busy-loop processes (default: usable CPUs)")
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--out", default=None)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.tweets)
        return
    from finpulse_assets.runs.cpu_share import usable_cpus

    load = args.load if args.load is not None else usable_cpus()
    configs = args.configs.split(",")
    results: dict[str, dict[str, list]] = {c: {"idle": [], "loaded": []} for c in configs}
    loads = []
    for _ in range(args.repeats):
        for config in configs:
            loads.append(os.getloadavg()[0])
            results[config]["idle"].append(measure(config, args.tweets))
            hogs = [multiprocessing.Process(target=_busy, daemon=True) for _ in range(load)]
            for hog in hogs:
                hog.start()
            try:
                time.sleep(0.5)
                loads.append(os.getloadavg()[0])
                results[config]["loaded"].append(measure(config, args.tweets))
            finally:
                for hog in hogs:
                    hog.kill()
                    hog.join()
    summary = {"cpu_count": os.cpu_count(), "usable_cpus": usable_cpus(), "competing_processes": load,
               "tweets": args.tweets, "repeats": args.repeats,
               "load_average_1min_seen": [round(min(loads), 2), round(max(loads), 2)], "configs": {}}
    print(f"{os.cpu_count()} cores, {usable_cpus()} usable, {load} competing busy loops, load average "
          f"{min(loads):.1f}-{max(loads):.1f} (1 min, the machine is shared)")
    print(f"{'config':<6} {'threads':>7} {'idle s':>8} {'loaded s':>9} {'slowdown':>9}")
    for config in configs:
        idle = statistics.median(r["seconds"] for r in results[config]["idle"])
        loaded = statistics.median(r["seconds"] for r in results[config]["loaded"])
        threads = results[config]["idle"][0]["torch_threads"]
        summary["configs"][config] = {"torch_threads": threads, "idle_seconds": round(idle, 2),
                                      "loaded_seconds": round(loaded, 2), "slowdown": round(loaded / idle, 2),
                                      "runs": results[config]}
        print(f"{config:<6} {threads:>7} {idle:>8.1f} {loaded:>9.1f} {loaded / idle:>8.2f}x")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
