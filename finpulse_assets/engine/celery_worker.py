"""Starting and stopping Celery workers of FinPulse's step tasks, each in a working directory of its own.

A worker is `dagster-celery worker start` (dagster-celery's own command: it writes the broker and
backend of the executor config into the worker's DAGSTER_HOME and runs `celery -A dagster_celery.app
worker`) consuming one queue. Its DAGSTER_HOME, local storage and current directory are the given
folder; what it shares with the other processes is the instance's Postgres (FINPULSE_PG_URL) and the
object store (FINPULSE_S3_*), both passed in `env`. Each worker gets a session of its own, so stopping
it reaches the Celery pool's child processes too.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

from finpulse_assets.deploy.process_tree import stop_tree
from finpulse_assets.engine.executor import CelerySettings
from finpulse_assets.settings import PROJECT_ROOT
from finpulse_assets.storage.postgres_admin import postgres_home

BIN = Path(sys.executable).parent
READY_TIMEOUT_S = 90


@dataclass
class CeleryWorker:
    node: str  # Celery's node name, `name@host`: what Dagster's "Celery worker" event metadata records
    workdir: Path
    process: subprocess.Popen


def worker_config(celery: CelerySettings) -> dict:
    """The executor config block `dagster-celery worker start -y` reads (plain values: the worker's own file)."""
    return {"execution": {"config": {"broker": celery.broker, "backend": celery.backend,
                                     "config_source": {"task_default_queue": celery.queue}}}}


def start_worker(workdir: Path, name: str, celery: CelerySettings, env: dict[str, str],
                 concurrency: int = 1) -> CeleryWorker:
    workdir.mkdir(parents=True, exist_ok=True)
    home = postgres_home(workdir / "dagster_home")
    config = workdir / "celery.yaml"
    config.write_text(yaml.safe_dump(worker_config(celery)))
    worker_env = {**env, "DAGSTER_HOME": str(home), "FINPULSE_STORAGE_DIR": str(workdir / "storage"),
                  "PYTHONPATH": str(PROJECT_ROOT), "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}"}
    log = open(workdir / "worker.log", "ab")
    command = [str(BIN / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app", "-y", str(config),
               "-q", celery.queue, "-n", name, "-l", "WARNING", "--",
               f"--concurrency={concurrency}", "--without-gossip", "--without-mingle"]
    process = subprocess.Popen(command, cwd=workdir, env=worker_env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    log.close()
    return CeleryWorker(node=f"{name}@{os.uname().nodename}", workdir=workdir, process=process)


def wait_until_consuming(workers: list[CeleryWorker], celery: CelerySettings,
                         timeout: float = READY_TIMEOUT_S) -> None:
    """Returns once every worker answers that it consumes the queue; raises (with its log's tail) otherwise."""
    from celery import Celery

    app = Celery(broker=celery.broker, backend=celery.backend)
    nodes = {w.node for w in workers}
    deadline = time.monotonic() + timeout
    try:
        while True:
            for worker in workers:
                if worker.process.poll() is not None:
                    raise RuntimeError(f"celery worker {worker.node} exited with {worker.process.returncode}: "
                                       f"{_tail(worker)}")
            answers = app.control.inspect(destination=sorted(nodes), timeout=1.0).active_queues() or {}
            ready = {node for node, queues in answers.items() if any(q["name"] == celery.queue for q in queues)}
            if ready == nodes:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"celery workers {sorted(nodes - ready)} not consuming {celery.queue!r} after "
                                   f"{timeout:.0f} s: {_tail(workers[0])}")
            time.sleep(0.5)
    finally:
        app.close()


def stop_worker(worker: CeleryWorker, grace: float = 10.0) -> None:
    """SIGTERM to the worker's session (Celery's warm shutdown), SIGKILL to what is left after `grace`."""
    stop_tree(worker.process.pid, grace=grace)
    worker.process.wait(5.0)


@contextmanager
def running_workers(root: Path, count: int, celery: CelerySettings, env: dict[str, str],
                    concurrency: int = 1) -> Iterator[list[CeleryWorker]]:
    """`count` workers in root/worker<i>, consuming `celery.queue`; stopped, and the queue deleted, on exit."""
    workers: list[CeleryWorker] = []
    try:
        for index in range(count):
            workers.append(start_worker(root / f"worker{index}", f"{celery.queue}-w{index}", celery, env,
                                        concurrency))
        wait_until_consuming(workers, celery)
        yield workers
    finally:
        for worker in workers:
            stop_worker(worker)
        delete_queue(celery)


def delete_queue(celery: CelerySettings) -> None:
    """Remove the queue from the broker (a per-test or per-benchmark queue would otherwise stay there)."""
    from kombu import Connection

    with Connection(celery.broker) as connection:
        connection.default_channel.queue_delete(celery.queue)


def _tail(worker: CeleryWorker) -> str:
    log = worker.workdir / "worker.log"
    return log.read_text(errors="replace")[-3000:] if log.exists() else "(no log)"
