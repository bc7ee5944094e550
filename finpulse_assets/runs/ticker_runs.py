"""The CLI's per-ticker runs of a partitioned stage, one after another or in worker processes.

A stage's runs of different tickers share no partition, and every asset commits under a per-ticker
lock (storage/concurrency.py), so they may run at once, as the queued deployment runs them. Each
worker process (spawned: the parent may hold torch and ONNX Runtime thread pools, which a fork
would copy half-initialized) loads the definitions and the instance of $DAGSTER_HOME once and
executes the runs it is given with the in-process executor; it sends one progress unit per asset
materialization and returns what the summary needs (`RunOutcome`, plain data). With the Celery
executor (celery_runs.py) a worker process only orchestrates its runs: their steps execute on Celery
workers, whose events this process does not store, so it sends a run's units when the run ends.

Stopping: each worker has a process group of its own, so a stop signal reaches the parent, whose
`stop()` cancels the queued runs and sends the workers SIGTERM: a worker's run is canceled
(run_launch.py) and the worker starts no other run; once the runs are closed (or a deadline
passed) it ends the workers.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field

from finpulse_assets.runs.failures import failure_message, metadata_value
from finpulse_assets.runs.cpu_share import (
    THREAD_ENV_VARS,
    WORKER_CORES_ENV,
    configure_process_threads,
    worker_cores,
    worker_share,
)
from finpulse_assets.engine.executor import CELERY, DEFAULT
from finpulse_assets.settings import Settings


@dataclass
class RunOutcome:
    ticker: str | None
    success: bool
    failure: str | None = None
    # (asset, partition key or None, metadata values): one per materialization
    materializations: list[tuple[str, str | None, dict]] = field(default_factory=list)
    checks: list[dict] = field(default_factory=list)
    stopped: bool = False  # a stop signal canceled the run or kept it from starting


def outcome_of(result, ticker: str | None) -> RunOutcome:
    """What the summary reads of a finished run, as plain data."""
    materializations = [(e.materialization.asset_key.to_user_string(), e.materialization.partition,
                         {k: metadata_value(v) for k, v in e.materialization.metadata.items()})
                        for e in result.get_asset_materialization_events()]
    checks = [{"asset": c.asset_key.to_user_string(), "check": c.check_name, "ticker": ticker, "passed": c.passed,
               "metadata": {k: metadata_value(v) for k, v in c.metadata.items()}}
              for c in result.get_asset_check_evaluations()]
    return RunOutcome(ticker, result.success, None if result.success else failure_message(result),
                      materializations, checks)


def default_workers() -> int:
    """FINPULSE_WORKERS, else one per core up to 4 (each worker holds its own copy of the models)."""
    value = os.environ.get("FINPULSE_WORKERS", "")
    if value:
        if not value.isdigit() or int(value) < 1:
            raise ValueError(f"FINPULSE_WORKERS={value!r}: expected a whole number of worker processes >= 1")
        return int(value)
    return max(1, min(4, os.cpu_count() or 1))


_worker: dict = {}


def _init_worker(settings: Settings, units, cores: int, executor: str) -> None:
    # A process group of its own: a terminal's Ctrl-C reaches the parent alone, which stops the workers
    # with SIGTERM; the helper processes Dagster starts for a run's logs (tail, watch_orphans) then end
    # with the run instead of each printing a KeyboardInterrupt traceback.
    os.setpgrp()
    # Before anything imports torch or ONNX Runtime: their thread pools take this process's share of the cores.
    # The parent's own sizing (inherited variables) is for all its CPUs, not this worker's share.
    for name in (WORKER_CORES_ENV, *THREAD_ENV_VARS):
        os.environ[name] = str(cores)
    configure_process_threads(cores)
    from dagster import DagsterInstance

    from finpulse_assets.definitions import build_definitions
    from finpulse_assets.runs.launch import stop_on_signals

    # For the worker's life (kept referenced: a collected generator would restore the handlers).
    _worker["stop"] = stop_on_signals(raise_when_idle=False)
    _worker["stop"].__enter__()

    _worker.update(defs=build_definitions(settings, executor=DEFAULT), instance=DagsterInstance.get(), units=units,
                   settings=settings, executor=executor)


def _execute(job_name: str, run_config: Mapping, tags: Mapping[str, str], ticker: str) -> RunOutcome:
    from finpulse_assets.runs.launch import Stopped, execute_job

    units = _worker["units"]

    def on_event(entry) -> None:
        if entry.dagster_event is not None and entry.dagster_event.event_type_value == "ASSET_MATERIALIZATION":
            units.put(1)

    try:
        if _worker["executor"] == CELERY:
            return _orchestrated(job_name, run_config, tags, ticker)
        job = _worker["defs"].resolve_job_def(job_name)
        return outcome_of(execute_job(job, _worker["instance"], run_config, tags, on_event=on_event), ticker)
    except Stopped as stop:
        return RunOutcome(ticker, False, f"stopped by {stop}", stopped=True)


def _orchestrated(job_name: str, run_config: Mapping, tags: Mapping[str, str], ticker: str) -> RunOutcome:
    from finpulse_assets.runs.celery_runs import execute_on_celery
    from finpulse_assets.runs.launch import Stopped, stop_requested

    if stop_requested():
        raise Stopped(stop_requested())
    outcome = outcome_of(execute_on_celery(job_name, _worker["settings"], _worker["instance"], run_config, tags),
                         ticker)
    _worker["units"].put(len(outcome.materializations))
    return outcome


class TickerRunPool:
    """Worker processes for the runs of partitioned stages; `run_all` returns outcomes in ticker order."""

    def __init__(self, settings: Settings, workers: int, executor: str = DEFAULT):
        context = multiprocessing.get_context("spawn")
        # A plain queue, no manager process: a SIGTERM to the process group would kill a manager
        # while the workers still report to it.
        self._units = context.Queue()
        self._pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                                         initargs=(settings, self._units, worker_cores() or worker_share(workers),
                                                   executor))

    def run_all(self, job_name: str, runs: list[tuple[str, Mapping[str, str]]], run_config: Mapping,
                advance: Callable[[int], None], finished: Callable[[], None] = lambda: None) -> list[RunOutcome]:
        """`advance(n)`: n asset partitions stored; `finished()`: a ticker's run ended (in completion order)."""
        futures = [self._pool.submit(_execute, job_name, run_config, tags, ticker) for ticker, tags in runs]
        for future in futures:
            future.add_done_callback(lambda f: f.cancelled() or finished())
        done = threading.Event()
        relay = threading.Thread(target=self._relay, args=(advance, done), daemon=True)
        relay.start()
        try:
            return [self._outcome(future, ticker) for future, (ticker, _) in zip(futures, runs)]
        finally:
            done.set()
            relay.join()

    @staticmethod
    def _outcome(future, ticker: str) -> RunOutcome:
        try:
            return future.result()
        except BrokenProcessPool as error:  # killed (out of memory, a signal): the run's own events say the rest
            return RunOutcome(ticker, False, f"the worker process running {ticker} died: {error}")

    def _relay(self, advance: Callable[[int], None], done: threading.Event) -> None:
        import queue

        while not done.is_set() or not self._units.empty():
            try:
                advance(self._units.get(timeout=0.2))
            except queue.Empty:
                continue

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._units.close()

    def stop(self, runs_open: Callable[[], bool], seconds: float = 2.5) -> None:
        """Cancel the queued runs, stop the running ones (SIGTERM) and wait up to `seconds` while
        `runs_open()`; then end the workers (their runs are closed, or stay open for the caller to mark
        canceled)."""
        workers = multiprocessing.active_children()
        self._pool.shutdown(wait=False, cancel_futures=True)
        for worker in workers:
            if worker.is_alive():
                os.kill(worker.pid, signal.SIGTERM)
        deadline = time.monotonic() + seconds
        while runs_open() and time.monotonic() < deadline:
            time.sleep(0.1)
        for worker in workers:  # their runs are closed: they only wait for a task
            if worker.is_alive():
                worker.kill()
        for worker in workers:
            worker.join(1.0)
