"""The service's own Prometheus metrics, served by BentoML's /metrics beside its request metrics.

prometheus_client directly (BentoML 1.4 deprecates `bentoml.metrics`): in `bentoml serve`
workers PROMETHEUS_MULTIPROC_DIR is set, so these are per-process files BentoML's /metrics
merges. Labels are route templates (`/predict`, `/sentiment`) and closed sets of reasons,
never a raw path or anything a client chose.

`separate_multiproc_dir` gives each server its own directory under
$BENTOML_HOME/prometheus_multiproc_dir: BentoML empties that directory at start, which deleted
the metrics files of a server already running on the same BENTOML_HOME.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from prometheus_client import Counter, Gauge, Histogram

from finpulse_assets.runs.processes import pid_alive
from finpulse_assets.serving.batching import BatchObserver

ROUTES = ("/predict", "/sentiment")
BATCH_ITEMS = Histogram("finpulse_batch_items", "Items (forecast items or texts) per computed batch", ["route"],
                        buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024))
BATCH_REQUESTS = Histogram("finpulse_batch_requests", "Requests per computed batch", ["route"],
                           buckets=(1, 2, 4, 8, 16, 32, 64))
MODEL_SECONDS = Histogram("finpulse_model_seconds", "Seconds a batch computes (features and models)", ["route"],
                          buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
QUEUE_ITEMS = Gauge("finpulse_queue_items", "Items waiting for a batch", ["route"], multiprocess_mode="livesum")
SHED = Counter("finpulse_shed", "Requests shed by the batcher (503)", ["route", "reason"])
REJECTED = Counter("finpulse_rejected", "Requests refused before any model ran, by status and reason",
                   ["route", "status", "reason"])


class RouteMetrics(BatchObserver):
    """The batcher's observations for one route."""

    def __init__(self, route: str):
        self.batch_items, self.batch_requests = BATCH_ITEMS.labels(route), BATCH_REQUESTS.labels(route)
        self.model_seconds, self.queue_items = MODEL_SECONDS.labels(route), QUEUE_ITEMS.labels(route)
        self.route = route

    def batch(self, items: int, requests: int, seconds: float) -> None:
        self.batch_items.observe(items)
        self.batch_requests.observe(requests)
        self.model_seconds.observe(seconds)

    def queue(self, items: int) -> None:
        self.queue_items.set(items)

    def shed(self, reason: str) -> None:
        SHED.labels(self.route, reason).inc()


def route_label(path: str) -> str:
    return path if path in ROUTES else "other"


def rejected(path: str, status: int, reason: str) -> None:
    REJECTED.labels(route_label(path), str(status), reason).inc()


def separate_multiproc_dir(home: str | None = None) -> Path | None:
    """Point this server's PROMETHEUS_MULTIPROC_DIR at its own directory; directories of servers that are gone
    are removed. Call in the server process before BentoML prepares the directory; a no-op in its workers."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return None  # a worker: the server chose the directory
    # Private: BentoML derives the directory from BENTOML_HOME with no setting of its own to change it.
    from bentoml._internal.configuration.containers import BentoMLContainer

    root = Path(home or BentoMLContainer.bentoml_home.get()) / "prometheus_multiproc_dir"
    if root.is_dir():
        for child in root.iterdir():
            pid = child.name.removeprefix("server-")
            if child.is_dir() and child.name.startswith("server-") and not (pid.isdigit() and pid_alive(int(pid))):
                shutil.rmtree(child, ignore_errors=True)
    mine = root / f"server-{os.getpid()}"
    BentoMLContainer.prometheus_multiproc_dir.set(str(mine))
    return mine


SERVED_PATHS = frozenset({*ROUTES, "/docs.json", "/", "/livez", "/readyz", "/healthz", "/metrics"})
_ENDPOINT = re.compile(r'endpoint="((?:[^"\\]|\\.)*)"')


def known_endpoints_only(exposition: str) -> str:
    """BentoML's request metrics, less the series of paths the service does not serve.

    BentoML's metrics middleware runs before this service's code and labels by the raw path, so 200 random
    paths made 4,000 series; here /metrics shows only the service's own routes."""
    return "".join(line for line in exposition.splitlines(keepends=True)
                   if (m := _ENDPOINT.search(line)) is None or m.group(1) in SERVED_PATHS)
