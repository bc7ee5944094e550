"""A job that another process (a Celery worker on any machine) rebuilds from its name and the caller's settings.

The step tasks carry `reconstructable_job(...)`'s pointer: this module, `job_named` and its arguments. A worker
rebuilds the Definitions with the orchestrating process's tickers, dates and sources, and with its own
FINPULSE_STORAGE_DIR (a worker's local folder: the tables and models it shares live in the object store).
Paths among the settings (FINPULSE_TWEETS_DIR, ...) must exist on the workers too.
"""

from __future__ import annotations

from dataclasses import asdict
from functools import lru_cache

from dagster import JobDefinition, build_reconstructable_job

from finpulse_assets.settings import Settings

# The worker's own: where its local files go.
WORKER_LOCAL_FIELDS = ("storage_dir",)


def reconstructable_job(job_name: str, settings: Settings, executor: str):
    shared = {k: v for k, v in asdict(settings).items() if k not in WORKER_LOCAL_FIELDS}
    shared["tickers"] = list(shared["tickers"])  # JSON: the pointer is serialized into every task
    return build_reconstructable_job(__name__, job_named.__name__, (job_name, executor), shared)


def job_named(job_name: str, executor: str, **shared) -> JobDefinition:
    shared["tickers"] = tuple(shared["tickers"])
    return _job(job_name, executor, tuple(sorted(shared.items())))


@lru_cache(maxsize=16)
def _job(job_name: str, executor: str, shared: tuple) -> JobDefinition:
    # A worker process runs many steps: the Definitions are built once per job and settings.
    from finpulse_assets.definitions import build_definitions

    local = Settings.from_env()
    settings = Settings(**dict(shared), **{k: getattr(local, k) for k in WORKER_LOCAL_FIELDS})
    return build_definitions(settings, executor=executor).resolve_job_def(job_name)
