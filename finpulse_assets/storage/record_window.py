"""One run at a time records an asset's materialization and the checks that follow it.

A step over a range of partitions (a ticker's days) stores its materialization events, then its
asset checks. Dagster points each such check at the asset's latest materialization of any
partition, and compares that materialization's data version with the one the step just
recorded (dagster/_core/execution/context/data_version_cache.py). When another ticker's run
stores a materialization of the same asset in between, the check is recorded against the other
ticker's materialization and Dagster prints "Data version mismatch ... provenance". Holding an
exclusive per-asset lock from the Output to the last check keeps the step's own materialization
the latest one while its checks are recorded. Only the recording is serialized, not the compute.

The lock is a file under the Dagster instance's root: every process recording into that instance
(the CLI's workers, the queued deployment's runs on one machine) shares it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dagster import DagsterInstance
from filelock import FileLock

from finpulse_assets.storage.concurrency import LOCK_TIMEOUT_S

LOCK_FOLDER = ".finpulse_record_locks"


def record_lock_path(instance: DagsterInstance, asset_name: str) -> Path:
    return Path(instance.root_directory) / LOCK_FOLDER / f"{asset_name}.lock"


@contextmanager
def recording_window(instance: DagsterInstance, asset_name: str) -> Iterator[None]:
    """Hold the asset's record lock while the block (the Output and its checks) runs."""
    path = record_lock_path(instance, asset_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path), timeout=LOCK_TIMEOUT_S):
        yield
