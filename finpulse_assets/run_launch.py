"""Runs the CLI executes in its own process, recorded as the UI's own runs of the code location's jobs.

`JobDefinition.execute_in_process` records a run without the origin of the
code location it belongs to, so the UI shows it under the asset but not in the
Overview timeline or as the latest run on the Jobs page. Here the run is created
with the origin of the job in `workspace.yaml` (what `make ui` loads: the
location name and repository that `dagster dev` gives it) and then executed in
this process, with the in-process executor: no code server, no subprocess per
run, as fast as `execute_in_process`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path

from dagster import DagsterInstance, JobDefinition

from finpulse_assets.settings import PROJECT_ROOT

WORKSPACE_FILE = PROJECT_ROOT / "workspace.yaml"
# What a `Definitions` object at module level is loaded as.
REPOSITORY_NAME = "__repository__"
IN_PROCESS = {"execution": {"config": {"in_process": {}}}}


@lru_cache(maxsize=4)
def _code_location_origin(workspace_file: Path):
    # Reading workspace.yaml into origins without starting a code server has no public API.
    from dagster._core.workspace.load import location_origins_from_yaml_paths

    origins = location_origins_from_yaml_paths([str(workspace_file)])
    if len(origins) != 1:
        raise ValueError(f"{workspace_file}: expected one code location, found {len(origins)}")
    return origins[0]


def job_origin(job_name: str, workspace_file: Path = WORKSPACE_FILE):
    """The RemoteJobOrigin the UI gives `job_name` when it loads `workspace_file`."""
    from dagster._core.remote_origin import RemoteJobOrigin, RemoteRepositoryOrigin

    return RemoteJobOrigin(RemoteRepositoryOrigin(_code_location_origin(workspace_file), REPOSITORY_NAME), job_name)


def execute_job(job: JobDefinition, instance: DagsterInstance, run_config: Mapping, tags: Mapping[str, str],
                on_event: Callable | None = None, raise_on_error: bool = False):
    """Create the run with the job's workspace origin, execute it here; `on_event(entry)` sees each stored event.

    Returns Dagster's JobExecutionResult (success, events, outputs read back through the IO managers).
    """
    # The public launch path (`instance.submit_run` + a run launcher) runs every run in a new process that
    # loads the code location again; `execute_run` on an in-memory job is what that process does, here.
    from dagster._core.definitions.job_base import InMemoryJob
    from dagster._core.execution.api import create_execution_plan, execute_run

    config = {**IN_PROCESS, **run_config}
    in_memory = InMemoryJob(job)
    plan = create_execution_plan(in_memory, run_config=config, tags=tags,
                                 instance_ref=instance.get_ref() if instance.is_persistent else None)
    run = instance.create_run_for_job(job_def=job, run_config=config, tags={**job.run_tags, **tags},
                                      execution_plan=plan, remote_job_origin=job_origin(job.name))
    if on_event is not None:
        instance.add_event_listener(run.run_id, on_event)
    return execute_run(in_memory, run, instance, raise_on_error=raise_on_error)
