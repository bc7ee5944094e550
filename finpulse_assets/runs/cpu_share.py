"""How many threads a process's torch, ONNX Runtime and BLAS pools get: the CPUs it may actually use.

The libraries size their pools to every core of the machine (`os.cpu_count()`), which is wrong twice
over: a process pinned to fewer CPUs (`taskset`, a container's cpuset) or given a CPU quota (a cgroup
v2 `cpu.max`, what Kubernetes' CPU limits and `docker --cpus` set) can run fewer threads at once, and
the rest only wait at the pools' barriers. `usable_cpus()` is the smaller of the affinity mask and the
quota (the tightest `cpu.max` from this process's cgroup up to the root).

A ticker-run worker (ticker_runs.py) gets its share of those in FINPULSE_WORKER_CORES; set
FINPULSE_THREADS to fix the count for any process. "0: all cores" settings resolve to `process_threads()`.

`configure_process_threads()` is called where FinPulse code starts in a process (the CLI, the worker
initialiser, the Definitions loader that every Dagster run worker imports): it sets the OpenMP/BLAS
environment (read by those libraries when they load) and, where torch is loaded already, torch's pool.
OMP_WAIT_POLICY=PASSIVE makes idle OpenMP threads sleep instead of spinning: a spinning thread holds a
core another process needs, which is how contention multiplied FinBERT fine-tuning's time (docs/scale.md).
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

WORKER_CORES_ENV = "FINPULSE_WORKER_CORES"
THREADS_ENV = "FINPULSE_THREADS"
CGROUP_ROOT = Path("/sys/fs/cgroup")
# Read by the OpenMP runtime (torch's intra-op pool), MKL and OpenBLAS/numpy when they load.
THREAD_ENV_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def affinity_cpus() -> int:
    """CPUs this process may run on (its affinity mask), or the machine's count where there is no mask."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def _own_cgroup(proc_cgroup: Path) -> str | None:
    """This process's cgroup v2 path ("0::/a/b" in /proc/self/cgroup), or None on cgroup v1 / no cgroups."""
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith("0::"):
            return line[3:].strip() or "/"
    return None


def parse_cpu_max(text: str) -> float | None:
    """CPUs granted by a cgroup v2 cpu.max ("<quota> <period>" in microseconds, "max" = no limit)."""
    fields = text.split()
    if not fields or fields[0] == "max":
        return None
    period = float(fields[1]) if len(fields) > 1 else 100_000.0
    quota = float(fields[0])
    if quota <= 0 or period <= 0:
        return None
    return quota / period


def cgroup_cpu_quota(root: Path = CGROUP_ROOT, proc_cgroup: Path = Path("/proc/self/cgroup")) -> float | None:
    """The tightest CPU quota on this process's cgroup and its ancestors, in CPUs; None when unlimited."""
    own = _own_cgroup(proc_cgroup)
    if own is None:
        return None
    quotas = []
    directory = root / own.lstrip("/")
    while True:
        try:
            quota = parse_cpu_max((directory / "cpu.max").read_text())
        except OSError:  # the root cgroup has no cpu.max; an unmounted controller neither
            quota = None
        if quota is not None:
            quotas.append(quota)
        if directory == root or root not in directory.parents:
            break
        directory = directory.parent
    return min(quotas) if quotas else None


def usable_cpus(root: Path = CGROUP_ROOT, proc_cgroup: Path = Path("/proc/self/cgroup")) -> int:
    """The affinity mask's size, capped by the cgroup quota (1.5 CPUs of quota run 1 busy thread well, not 2)."""
    cpus = affinity_cpus()
    quota = cgroup_cpu_quota(root, proc_cgroup)
    if quota is not None:
        cpus = min(cpus, max(1, math.floor(quota)))
    return cpus


def worker_share(workers: int) -> int:
    """Threads for each of `workers` processes on this process's usable CPUs: an equal split, at least one."""
    return max(1, usable_cpus() // max(1, workers))


def _positive_env(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


def worker_cores() -> int | None:
    """This process's share of the cores when it is a ticker-run worker, else None."""
    return _positive_env(WORKER_CORES_ENV)


def process_threads() -> int:
    """Threads for this process's pools: FINPULSE_THREADS, else a worker's share, else the usable CPUs."""
    return _positive_env(THREADS_ENV) or worker_cores() or usable_cpus()


def configure_process_threads(threads: int | None = None) -> int:
    """Size this process's OpenMP/BLAS/torch pools to `threads` (default `process_threads()`); returns it.

    Variables the user set are left alone (an explicit OMP_NUM_THREADS wins). torch reads OMP_NUM_THREADS
    only when it loads, so a torch already imported is set directly.
    """
    threads = threads or process_threads()
    for name in THREAD_ENV_VARS:
        os.environ.setdefault(name, str(threads))
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    explicit = os.environ["OMP_NUM_THREADS"]
    threads = int(explicit) if explicit.isdigit() and int(explicit) > 0 else threads
    if "numpy" in sys.modules:  # its BLAS pool was sized when numpy loaded; threadpoolctl resizes it
        from threadpoolctl import threadpool_limits

        threadpool_limits(threads, user_api="blas")
    if "torch" in sys.modules:
        import torch

        torch.set_num_threads(threads)
    return threads
