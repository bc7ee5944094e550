"""Which executor the jobs of the Definitions use: `FINPULSE_EXECUTOR`.

    default (unset)   Dagster's default: steps in the run's process or its subprocesses
    celery            each step a task on a Celery queue (dagster-celery), run by workers on any machine
                      that share the instance's Postgres and the object store (docs/scale.md)

The Celery settings come from the environment of each process that builds the Definitions
(the orchestrating run and every worker): FINPULSE_CELERY_BROKER (default RabbitMQ on
127.0.0.1 as guest), FINPULSE_CELERY_BACKEND (default `rpc://`, results over the broker) and
FINPULSE_CELERY_QUEUE (default `finpulse`). Broker and backend set in the environment reach the
executor as `{"env": ...}` config, so a password in the URL is never written into a run's config.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from dagster import ExecutorDefinition

EXECUTOR_ENV = "FINPULSE_EXECUTOR"
DEFAULT, CELERY = "default", "celery"
BROKER_ENV, BACKEND_ENV, QUEUE_ENV = "FINPULSE_CELERY_BROKER", "FINPULSE_CELERY_BACKEND", "FINPULSE_CELERY_QUEUE"
DEFAULT_BROKER = "pyamqp://guest:guest@127.0.0.1:5672//"
DEFAULT_BACKEND = "rpc://"
DEFAULT_QUEUE = "finpulse"


def executor_name() -> str:
    name = os.environ.get(EXECUTOR_ENV, "").strip() or DEFAULT
    if name not in (DEFAULT, CELERY):
        raise ValueError(f"{EXECUTOR_ENV}={name!r}: expected {DEFAULT!r} (or unset) or {CELERY!r}")
    return name


@dataclass(frozen=True)
class CelerySettings:
    broker: str = DEFAULT_BROKER
    backend: str = DEFAULT_BACKEND
    queue: str = DEFAULT_QUEUE

    @classmethod
    def from_env(cls) -> CelerySettings:
        return cls(broker=os.environ.get(BROKER_ENV, "").strip() or DEFAULT_BROKER,
                   backend=os.environ.get(BACKEND_ENV, "").strip() or DEFAULT_BACKEND,
                   queue=os.environ.get(QUEUE_ENV, "").strip() or DEFAULT_QUEUE)

    def executor_config(self) -> dict:
        """dagster-celery's executor config; also the `execution.config` block its worker CLI reads."""
        def source(env: str, value: str):
            return {"env": env} if os.environ.get(env, "").strip() else value

        return {"broker": source(BROKER_ENV, self.broker), "backend": source(BACKEND_ENV, self.backend),
                # Where the executor sends step tasks; workers consume it with `-Q <queue>`.
                "config_source": {"task_default_queue": self.queue}}


def executor_for(name: str) -> ExecutorDefinition | None:
    """The executor of `name`; None keeps Dagster's default."""
    if name == DEFAULT:
        return None
    from dagster_celery import celery_executor

    return celery_executor.configured(CelerySettings.from_env().executor_config(), name="finpulse_celery")
