"""runs/run_launcher.py's health check of a run's worker: a live process, a dead one, a pid reused later.

Touches only processes this test starts (no Dagster instance).
"""

from __future__ import annotations

import subprocess
import sys
import time

from finpulse_assets.dagster_private import WorkerStatus
from finpulse_assets.runs.run_launcher import worker_health


def test_a_live_worker_runs_a_killed_one_failed_and_a_later_process_with_its_pid_is_not_it():
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        recorded = time.time() + 0.5   # the worker's "started" event is written after the process starts
        assert worker_health(worker.pid, recorded).status == WorkerStatus.RUNNING
        # A process started after the event, e.g. a pid the kernel handed out again, is not the worker.
        assert worker_health(worker.pid, recorded - 3600).status == WorkerStatus.FAILED
    finally:
        worker.kill()
        worker.wait()
    result = worker_health(worker.pid, recorded)
    assert result.status == WorkerStatus.FAILED and str(worker.pid) in result.msg
