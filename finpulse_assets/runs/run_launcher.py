"""Dagster's default run launcher with a run-worker health check for run monitoring, on one machine.

The default launcher starts each run as a process of the code server and cannot say whether that process
still lives, so a run whose worker died without reporting (the topology stopped or its processes killed
while the run executed) stays STARTED until run monitoring's `max_runtime_seconds` (2 h), and its backfill
waits with it. `LocalRunLauncher` answers run monitoring's health check: the worker is the process the
run's own engine event names (`Started process for run (pid: N)`); when that process is gone (or its pid
now belongs to a process started later), the check says FAILED, run monitoring fails the run within
`poll_interval_seconds`, and run retries re-execute it from its failed steps.

A pid means something only on the machine that runs the worker: the check probes it when the run was
launched on a code server at a loopback address (the run's `dagster/grpc_info` tag), as `make
deploy-local` does; elsewhere (compose, Kubernetes: another container) it answers RUNNING, the default
launcher's behaviour. A code server that restarts while its runs execute does not end them (Dagster's
code server keeps serving its runs until they finish), so its runs stay healthy, as they are.
"""

from __future__ import annotations

import json

import psutil
from dagster import DagsterEventType, DefaultRunLauncher

from finpulse_assets.dagster_private import (
    GRPC_INFO_TAG,
    CheckRunHealthResult,
    WorkerStatus,
)

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
WORKER_STARTED = "Started process for run"


class LocalRunLauncher(DefaultRunLauncher):
    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run) -> CheckRunHealthResult:
        host = json.loads(run.tags.get(GRPC_INFO_TAG) or "{}").get("host")
        if host not in LOOPBACK:
            return CheckRunHealthResult(WorkerStatus.RUNNING, f"code server {host} is on another machine: not probed")
        started = [e for e in self._instance.all_logs(run.run_id, of_type=DagsterEventType.ENGINE_EVENT)
                   if e.dagster_event and (e.dagster_event.message or "").startswith(WORKER_STARTED)]
        if not started:
            return CheckRunHealthResult(WorkerStatus.RUNNING, "no worker process recorded yet")
        event = started[-1]
        pid = int(event.dagster_event.engine_event_data.metadata["pid"].value)
        return worker_health(pid, event.timestamp)


def worker_health(pid: int, recorded_at: float) -> CheckRunHealthResult:
    """RUNNING while `pid` lives and started before `recorded_at` (its own 'started' event), else FAILED."""
    try:
        process = psutil.Process(pid)
        alive = process.status() != psutil.STATUS_ZOMBIE and process.create_time() <= recorded_at + 1
    except psutil.NoSuchProcess:
        alive = False
    if alive:
        return CheckRunHealthResult(WorkerStatus.RUNNING, f"run worker process {pid} runs")
    return CheckRunHealthResult(WorkerStatus.FAILED, f"run worker process {pid} is gone (it ended without "
                                                     f"reporting the run's end: killed, or its machine's processes stopped)")
