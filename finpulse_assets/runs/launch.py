"""Runs the CLI executes in its own process, recorded as the UI's own runs of the code location's jobs.

`JobDefinition.execute_in_process` records a run without the origin of the
code location it belongs to, so the UI shows it under the asset but not in the
Overview timeline or as the latest run on the Jobs page. Here the run is created
with the origin `dagster dev` (`make ui`) gives the job when started in the
project root: the code location of pyproject.toml's [tool.dagster] block
(location `finpulse`, which dagster dev prefers to workspace.yaml), and then executed in
this process, with the in-process executor: no code server, no subprocess per
run, as fast as `execute_in_process`.

Stopping (SIGINT from a terminal's Ctrl-C, SIGTERM from a supervisor): `with stop_on_signals():` makes both
raise `Stopped` in a command's main process. While a run executes, Dagster's own handlers hold the
signals and interrupt its next step; `execute_job` then marks the run CANCELING before Dagster's
cleanup reads its status, so the run ends CANCELED (not "interrupted unexpectedly", FAILED), and
raises `Stopped` once the run is closed. A signal that lands where Dagster only notes it (between
the last step and the run's end) is still seen: the wakeup fd below records every signal.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from dagster import DagsterInstance, JobDefinition

from finpulse_assets.runs.ticker_queue import wait_for_writers
from finpulse_assets.settings import PROJECT_ROOT

PYPROJECT = PROJECT_ROOT / "pyproject.toml"
# What a `Definitions` object at module level is loaded as.
REPOSITORY_NAME = "__repository__"
IN_PROCESS = {"execution": {"config": {"in_process": {}}}}
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Stopped(KeyboardInterrupt):
    """SIGINT or SIGTERM asked this process to stop; `signum` says which (the exit status is 128 + it)."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


# requested: the signal number once one arrived; wakeup: the read end of the pipe Python writes each
# signal's number to; raise_when_idle: whether a signal outside a run raises (a command's main process)
# or only marks the stop (a worker process waiting for its next run: its parent stops the pool).
_stop: dict = {"requested": 0, "wakeup": None, "raise_when_idle": True}


@contextmanager
def stop_on_signals(raise_when_idle: bool = True):
    """SIGINT/SIGTERM handlers of a long command while the block runs (from the main thread)."""
    previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    read, write = os.pipe()
    os.set_blocking(read, False)
    os.set_blocking(write, False)
    previous_wakeup = signal.set_wakeup_fd(write, warn_on_full_buffer=False)
    _stop.update(requested=0, wakeup=read, raise_when_idle=raise_when_idle)
    for signum in STOP_SIGNALS:
        signal.signal(signum, _on_signal)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        signal.set_wakeup_fd(previous_wakeup)
        _stop.update(requested=0, wakeup=None, raise_when_idle=True)
        os.close(read)
        os.close(write)


def _on_signal(signum, frame) -> None:
    first = not _stop["requested"]
    _stop["requested"] = _stop["requested"] or signum
    # A second Ctrl-C while the first one's cleanup runs would interrupt that cleanup (a run left STARTED).
    if first and _stop["raise_when_idle"]:
        raise Stopped(signum)


def stop_requested() -> int:
    """The number of the stop signal this process received, 0 if none."""
    if not _stop["requested"] and _stop["wakeup"] is not None:
        try:
            received = os.read(_stop["wakeup"], 512)
        except BlockingIOError:
            received = b""
        _stop["requested"] = next((n for n in received if n in STOP_SIGNALS), 0)
    return _stop["requested"]


def exit_process(status: int) -> None:
    """End a command's process with `status`; after a stop (128 + signal) without the interpreter's teardown
    (seconds of finalizers on a loaded machine), its runs and files being closed by then."""
    if status < 128:
        raise SystemExit(status)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def _interrupted_step(entry) -> bool:
    event = entry.dagster_event
    if event is None or event.event_type_value != "STEP_FAILURE":
        return False
    return getattr(getattr(event.event_specific_data, "error_source", None), "value", None) == "INTERRUPT"


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


def _say_waiting(job_name: str) -> Callable[[list[str]], None]:
    said: set[str] = set()

    def say(run_ids: list[str]) -> None:
        if set(run_ids) - said:
            print(f"{job_name}: waiting for run(s) {', '.join(run_ids)} writing the same ticker to finish",
                  file=sys.stderr, flush=True)
            said.update(run_ids)
    return say


def execute_job(job: JobDefinition, instance: DagsterInstance, run_config: Mapping, tags: Mapping[str, str],
                on_event: Callable | None = None, raise_on_error: bool = False):
    """Create the run with the job's workspace origin, execute it here; `on_event(entry)` sees each stored event.

    Waits first while a run in progress writes a ticker this one writes (its `finpulse/writes/` tags,
    runs/ticker_queue.py). Returns Dagster's JobExecutionResult (success, events, outputs read back through the
    IO managers). Raises `Stopped` instead of starting a run once a stop signal arrived, and after the run it
    canceled.
    """
    if stop_requested():
        raise Stopped(stop_requested())
    wait_for_writers(instance, tags, on_wait=_say_waiting(job.name))
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
    canceling = []  # sys.stderr, set aside once the run is being canceled

    def listener(entry) -> None:
        interrupted = _interrupted_step(entry)
        if not canceling and (interrupted or stop_requested()):
            # Listeners see an event before the console logger (which writes to the sys.stderr of the moment):
            # the interrupt's stack traces, the step's and the run's ERROR lines, say nothing the command's
            # stop message does not; the UI keeps them.
            canceling.append(sys.stderr)
            sys.stderr = open(os.devnull, "w")
            # Before the interrupted step's failure reaches Dagster's cleanup, which reads the status.
            instance.report_run_canceling(run, "Stopped by a signal (Ctrl-C or SIGTERM): canceling the run.")
            if not interrupted:
                # Dagster raises a signal only inside user code; a step writing hundreds of partition events
                # is framework code for seconds. Raised here, after the event is stored, it takes the path of
                # an interrupted step (Dagster catches KeyboardInterrupt there) and the run ends CANCELED.
                raise Stopped(stop_requested())
        if on_event is not None:
            on_event(entry)

    instance.add_event_listener(run.run_id, listener)
    try:
        result = execute_run(in_memory, run, instance, raise_on_error=raise_on_error)
    finally:
        if canceling:
            sys.stderr.close()
            sys.stderr = canceling[0]
    if canceling or stop_requested():
        raise Stopped(stop_requested() or signal.SIGINT)
    return result
