"""Runs the CLI executes in its own process, recorded as the UI's own runs of the code location's jobs.

`JobDefinition.execute_in_process` records a run without the origin of the
code location it belongs to, so the UI shows it under the asset but not in the
Overview timeline or as the latest run on the Jobs page. Here the run is created
with the origin `dagster dev` (`make ui`) gives the job when started in the
project root: the code location of pyproject.toml's [tool.dagster] block
(location `finpulse`, which dagster dev prefers to workspace.yaml), and then executed in
this process, with the in-process executor: no code server, no subprocess per
run, as fast as `execute_in_process`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path

from dagster import DagsterInstance, JobDefinition

from finpulse_assets.settings import PROJECT_ROOT

PYPROJECT = PROJECT_ROOT / "pyproject.toml"
# What a `Definitions` object at module level is loaded as.
REPOSITORY_NAME = "__repository__"
IN_PROCESS = {"execution": {"config": {"in_process": {}}}}


@lru_cache(maxsize=4)
def _code_location_origin(pyproject: Path):
    # The origins dagster dev builds from pyproject.toml, without starting a code server: no public API.
    from finpulse_assets.dagster_private import PyProjectFileTarget

    origins = PyProjectFileTarget(str(pyproject)).create_origins()
    if len(origins) != 1:
        raise ValueError(f"{pyproject}: expected one code location in [tool.dagster], found {len(origins)}")
    return origins[0]


def job_origin(job_name: str, pyproject: Path = PYPROJECT):
    """The RemoteJobOrigin `dagster dev` gives `job_name` when it loads `pyproject`'s code location."""
    from finpulse_assets.dagster_private import RemoteJobOrigin, RemoteRepositoryOrigin

    return RemoteJobOrigin(RemoteRepositoryOrigin(_code_location_origin(pyproject), REPOSITORY_NAME), job_name)


def execute_job(job: JobDefinition, instance: DagsterInstance, run_config: Mapping, tags: Mapping[str, str],
                on_event: Callable | None = None, raise_on_error: bool = False):
    """Create the run with the job's workspace origin, execute it here; `on_event(entry)` sees each stored event.

    Returns Dagster's JobExecutionResult (success, events, outputs read back through the IO managers).
    """
    # The public launch path (`instance.submit_run` + a run launcher) runs every run in a new process that
    # loads the code location again; `execute_run` on an in-memory job is what that process does, here.
    from finpulse_assets.dagster_private import InMemoryJob
    from finpulse_assets.dagster_private import create_execution_plan, execute_run

    config = {**IN_PROCESS, **run_config}
    in_memory = InMemoryJob(job)
    plan = create_execution_plan(in_memory, run_config=config, tags=tags,
                                 instance_ref=instance.get_ref() if instance.is_persistent else None)
    run = instance.create_run_for_job(job_def=job, run_config=config, tags={**job.run_tags, **tags},
                                      execution_plan=plan, remote_job_origin=job_origin(job.name))
    if on_event is not None:
        instance.add_event_listener(run.run_id, on_event)
    return execute_run(in_memory, run, instance, raise_on_error=raise_on_error)
