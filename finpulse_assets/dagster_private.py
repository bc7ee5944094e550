"""Every private Dagster API FinPulse uses, in one place, each with why no public one serves.

Pinned to dagster==1.13.27. Names are imported on first use (PEP 562): some of these modules (the
daemon's, the workspace loader's) cost over a second at import, and most processes need none of them.
"""

from __future__ import annotations

import importlib

_WHERE = {
    # Run tag names: public APIs set these only through backfills and sensors; FinPulse's own runs (the
    # CLI's per-ticker ranges), its sensors and tests need the names themselves.
    "ASSET_PARTITION_RANGE_START_TAG": "dagster._core.storage.tags",
    "ASSET_PARTITION_RANGE_END_TAG": "dagster._core.storage.tags",
    "REPOSITORY_LABEL_TAG": "dagster._core.storage.tags",
    "SENSOR_NAME_TAG": "dagster._core.storage.tags",
    "PARTITION_NAME_TAG": "dagster._core.storage.tags",
    # A run recorded with the code location's origin and executed in this process (runs/launch.py): the
    # public launch path (instance.submit_run + a run launcher) always starts a process that reloads the code.
    "InMemoryJob": "dagster._core.definitions.job_base",
    "create_execution_plan": "dagster._core.execution.api",
    "execute_run": "dagster._core.execution.api",
    "RemoteJobOrigin": "dagster._core.remote_origin",
    "RemoteRepositoryOrigin": "dagster._core.remote_origin",
    # The origins `dagster dev` builds from pyproject.toml, without starting a code server.
    "PyProjectFileTarget": "dagster._core.workspace.load_target",
    # Run states as sets and run records: the public DagsterRunStatus has no "finished" grouping.
    "FINISHED_STATUSES": "dagster._core.storage.dagster_run",
    "DagsterRun": "dagster._core.storage.dagster_run",
    "DagsterRunStatus": "dagster._core.storage.dagster_run",
    # Tests and operators' checks: backfill states, one pass of run monitoring.
    "BulkActionStatus": "dagster._core.execution.backfill",
    # Tests that launch an asset backfill without a webserver (what its GraphQL mutation does): no public API.
    "PartitionBackfill": "dagster._core.execution.backfill",
    "monitor_started_run": "dagster._daemon.monitoring.run_monitoring",
    # The run-worker health check of runs/run_launcher.py: a launcher's answer to run monitoring and the tag
    # the default launcher records the code server in have no public names.
    "CheckRunHealthResult": "dagster._core.launcher.base",
    "WorkerStatus": "dagster._core.launcher.base",
    "GRPC_INFO_TAG": "dagster._core.storage.tags",
    # Benchmarks that record many materializations straight into the event log (the partition ceiling):
    # the event payload class and the run id of runless events have no public name.
    "StepMaterializationData": "dagster._core.events",
    "RUNLESS_JOB_NAME": "dagster._core.instance.utils",
    "RUNLESS_RUN_ID": "dagster._core.instance.utils",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value
