"""Which Celery worker executed each step, and wrote each asset partition, read from Dagster's own events.

dagster-celery's step task stores an engine event "Executing steps ... in celery worker" whose metadata
"Celery worker" is the worker's node name; each materialization names the step that wrote it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from dagster import DagsterEventType, DagsterInstance

WORKER_METADATA_KEY = "Celery worker"


def step_workers(instance: DagsterInstance, run_id: str) -> dict[str, list[str]]:
    """{step key: the workers that executed it} (more than one: a retried or redelivered step)."""
    found: dict[str, list[str]] = defaultdict(list)
    for record in instance.get_records_for_run(run_id, of_type=DagsterEventType.ENGINE_EVENT).records:
        event = record.event_log_entry.dagster_event
        worker = event.engine_event_data.metadata.get(WORKER_METADATA_KEY)
        if worker is not None:
            found[event.step_key].append(worker.value)
    return dict(found)


def partition_writers(instance: DagsterInstance, run_ids: Iterable[str]) -> dict[tuple[str, str], list[str]]:
    """{(asset, partition key): the worker of each materialization of it} over `run_ids`."""
    writers: dict[tuple[str, str], list[str]] = defaultdict(list)
    for run_id in run_ids:
        workers = step_workers(instance, run_id)
        for record in instance.get_records_for_run(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION).records:
            event = record.event_log_entry.dagster_event
            materialization = event.step_materialization_data.materialization
            step_worker = workers.get(event.step_key, ["(not a celery step)"])
            writers[(materialization.asset_key.to_user_string(), str(materialization.partition))].append(
                step_worker[-1])
    return dict(writers)
