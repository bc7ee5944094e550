"""The cores one process may use when it is one of several ticker-run workers on the same machine.

ONNX Runtime and torch size their thread pools to every core by default; two worker processes doing
that on two cores run four spinning threads and slow each other down. A worker process gets its share
in FINPULSE_WORKER_CORES (set by ticker_runs.py; set it yourself to give each worker more), and
"0: all cores" settings resolve to it.
"""

from __future__ import annotations

import os

WORKER_CORES_ENV = "FINPULSE_WORKER_CORES"


def worker_share(workers: int) -> int:
    """Cores for each of `workers` processes: an equal split, at least one."""
    return max(1, (os.cpu_count() or 1) // max(1, workers))


def worker_cores() -> int | None:
    """This process's share of the cores when it is a ticker-run worker, else None (the library's default)."""
    value = os.environ.get(WORKER_CORES_ENV, "")
    return int(value) if value.isdigit() and int(value) > 0 else None
