"""One run at a time records an asset's materialization and the checks that follow it.

A step over a range of partitions (a ticker's days) stores its materialization events, then its
asset checks. Dagster points each such check at the asset's latest materialization of any
partition, and compares that materialization's data version with the one the step just
recorded (dagster/_core/definitions/asset_checks/asset_check_result.py,
_core/execution/context/data_version_cache.py). When another ticker's run stores a
materialization of the same asset in between, the check is recorded against the other ticker's
materialization and Dagster prints "Data version mismatch ... provenance". So a data asset opens a
recording window around its Output and checks (`recording_window`, assets/partitioned.py), and the
IO manager, once the run's table commit is done, takes the asset's lock (`hold_for_recording`):
from there to the last check no other run records that asset. The compute and the table write
stay parallel; only the event recording waits.

The lock is a file under the Dagster instance's root: every process recording into that instance
on this machine (the CLI's workers, the local deployment's runs) shares it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dagster import DagsterInstance
from filelock import FileLock

from finpulse_assets.storage.concurrency import LOCK_TIMEOUT_S

LOCK_FOLDER = ".finpulse_record_locks"

# (run id, asset) of every open window: the lock file's path, and the lock once held.
_windows: dict[tuple[str, str], list] = {}
_guard = threading.Lock()


def record_lock_path(instance: DagsterInstance, asset_name: str) -> Path:
    return Path(instance.root_directory) / LOCK_FOLDER / f"{asset_name}.lock"


@contextmanager
def recording_window(instance: DagsterInstance, run_id: str, asset_name: str) -> Iterator[None]:
    """Around a step's Output and checks: the lock `hold_for_recording` takes meanwhile is released at the end
    (also when the step fails and Dagster closes the asset's generator)."""
    path = record_lock_path(instance, asset_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _guard:
        _windows[(run_id, asset_name)] = [path, None]
    try:
        yield
    finally:
        with _guard:
            _, lock = _windows.pop((run_id, asset_name))
        if lock is not None:
            lock.release()


def hold_for_recording(run_id: str, asset_name: str) -> None:
    """Take the asset's record lock if its step opened a window (the IO manager, after its commit)."""
    with _guard:
        window = _windows.get((run_id, asset_name))
    if window is None or window[1] is not None:
        return
    lock = FileLock(str(window[0]), timeout=LOCK_TIMEOUT_S)
    lock.acquire()
    window[1] = lock
