"""One run of the CLI whose steps execute on Celery workers (FINPULSE_EXECUTOR=celery).

The CLI's run processes (ticker_runs.py) orchestrate: each creates its run and executes it with the
Celery executor, which sends every step as a task to the queue; a Celery worker on any machine executes
it against the shared Postgres instance and object store (engine/celery_worker.py). Orchestrating runs
in threads of one process is not an option: Dagster configures logging (`logging.config.dictConfig`) as
each run starts, which deadlocked against another run's log handlers when tried. A stop signal reaches
the run through Dagster's own handling: the executor revokes the run's tasks, the run ends CANCELED.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping

from celery.exceptions import DuplicateTaskNameWarning
from dagster import DagsterInstance

from finpulse_assets.engine.executor import CELERY
from finpulse_assets.engine.reconstruct import reconstructable_job
from finpulse_assets.settings import Settings
from finpulse_assets.storage.object_storage import ObjectStorage

# dagster-celery registers its step task on the run's Celery app again for every step it submits.
warnings.filterwarnings("ignore", category=DuplicateTaskNameWarning)
RUNS_ENV = "FINPULSE_CELERY_RUNS"
DEFAULT_RUNS_IN_FLIGHT = 4


def runs_in_flight() -> int:
    """FINPULSE_CELERY_RUNS: runs orchestrated at once (processes that mostly wait on their steps' tasks)."""
    value = os.environ.get(RUNS_ENV, "").strip() or str(DEFAULT_RUNS_IN_FLIGHT)
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{RUNS_ENV}={value!r}: expected a whole number of runs >= 1")
    return int(value)


def check_shared_storage(instance: DagsterInstance) -> None:
    """Raise unless workers elsewhere can reach what the runs write: Postgres runs and events, S3 tables."""
    from dagster_postgres import PostgresRunStorage

    if not isinstance(instance.run_storage, PostgresRunStorage):
        raise ValueError("FINPULSE_EXECUTOR=celery needs the Dagster instance on Postgres (set FINPULSE_PG_URL): "
                         "Celery workers on other machines write their steps' events there")
    if ObjectStorage.from_env() is None:
        raise ValueError("FINPULSE_EXECUTOR=celery needs FINPULSE_S3_BUCKET: workers on other machines read and "
                         "write the tables and models in the object store")


def execute_on_celery(job_name: str, settings: Settings, instance: DagsterInstance, run_config: Mapping,
                      tags: Mapping[str, str]):
    """Create the run (with the code location's origin, as launch.execute_job does) and orchestrate it here."""
    from finpulse_assets.dagster_private import create_execution_plan, execute_run
    from finpulse_assets.runs.launch import job_origin

    job = reconstructable_job(job_name, settings, CELERY)
    definition = job.get_definition()
    plan = create_execution_plan(job, run_config=run_config, tags=tags, instance_ref=instance.get_ref())
    run = instance.create_run_for_job(job_def=definition, run_config=run_config, tags={**definition.run_tags, **tags},
                                      execution_plan=plan, remote_job_origin=job_origin(definition.name))
    return execute_run(job, run, instance)
