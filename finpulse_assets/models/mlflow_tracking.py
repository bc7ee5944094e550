"""MLflow tracking and model registry as a Dagster resource, local SQLite store by default.

By default everything lives next to the Parquet data, so `make demo` needs no
server and no network:

    tracking + registry  sqlite:///<storage_dir>/mlflow/mlflow.db
    artifacts            <storage_dir>/mlflow/artifacts

`make mlflow` opens the MLflow UI on that store. With `FINPULSE_PG_URL` set the
tracking store moves to the database `<database>_mlflow` on the same Postgres server
(or wherever `FINPULSE_MLFLOW_URI` points; see `instance_storage.py`); artifacts stay
in <storage_dir>/mlflow/artifacts for any database URI. Point `tracking_uri` at a
tracking server (and leave `artifact_root` empty) for a shared deployment.

Why not dagster-mlflow's `mlflow_tracking` resource + `end_mlflow_on_run_finished`
hook (dagster-mlflow 0.29, read from its source): they belong to the op era. The
resource keeps ONE fluent, process-global MLflow run per Dagster run (found again in
each step process by searching for a `dagster_run_id` tag), and the hook ends it when
the op that just succeeded is the last node of the job in topological order, or as
FAILED on the first step failure. For assets that goes wrong three ways: two models
materialized in one Dagster run (a UI "materialize all") share one MLflow run, and
MLflow refuses to log the same param twice with different values; a run whose last
node does not execute (a subset selection, or downstream assets skipped by a failed
blocking check) is never ended and stays RUNNING; and steps that still run after a
failure resume the run the hook has just marked FAILED. Here each training asset
opens its own MLflow run through an explicit `MlflowClient` (no global tracking URI,
no active-run stack) and ends it itself, FINISHED or FAILED, records the run id in
its asset metadata, and the ONNX assets open a child run under it
(`mlflow.parentRunId`), in whatever run or process they execute.

Registry rule (see `register_champion`): a model that passed its blocking parity
check and beat its naive baseline on validation becomes a new version of its
registered model with the alias `champion`, unless its files are the champion's
byte for byte (then nothing is registered); any other model stays a candidate:
logged as a run, not registered.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from dagster import ConfigurableResource

# Offline by default: no usage telemetry from MLflow unless a deployment opts in.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

CHAMPION_ALIAS = "champion"
# A model version's tag: sha256 over its files (relative paths and bytes), what "the same model" means.
CONTENT_TAG = "content_sha256"
DEFAULT_EXPERIMENT = "finpulse"
# MLflow 3's UI opens an experiment without this tag in its GenAI view (traces, judges); this kind is its
# classic "model training" view: training runs, metrics, charts.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
MODEL_TRAINING_KIND = "custom_model_development"
DEFAULT_UI_URL = os.environ.get("FINPULSE_MLFLOW_URL", "").strip() or "http://127.0.0.1:5000"
# MLflow's limit on a param value; longer values are cut (the full config is also logged as an artifact).
_PARAM_MAX = 6000


_DATABASE_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")
_databases_checked: set[str] = set()


def _is_database_uri(uri: str) -> bool:
    return uri.split(":", 1)[0].split("+", 1)[0] in _DATABASE_SCHEMES


def _client(tracking_uri: str):
    from mlflow import MlflowClient  # heavy import, only when a run is tracked

    if tracking_uri.startswith("postgresql") and tracking_uri not in _databases_checked:
        from finpulse_assets.storage.instance import ensure_database

        ensure_database(tracking_uri)  # MLflow creates its tables, not the database
        _databases_checked.add(tracking_uri)
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


@dataclass
class TrackedRun:
    """An MLflow run opened by `MlflowTracking.start_run`; logs go through its own client."""

    client: object
    run_id: str
    experiment_id: str

    def log_params(self, params: Mapping[str, object]) -> None:
        from mlflow.entities import Param

        items = [Param(str(k), str(v)[:_PARAM_MAX]) for k, v in params.items()]
        for start in range(0, len(items), 100):  # MLflow caps a batch at 100 params
            self.client.log_batch(self.run_id, params=items[start:start + 100])

    def log_metrics(self, metrics: Mapping[str, float], step: int = 0) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(str(k), float(v), now, step) for k, v in metrics.items() if v is not None]
        for start in range(0, len(items), 1000):
            self.client.log_batch(self.run_id, metrics=items[start:start + 1000])

    def log_metric_history(self, name: str, values) -> None:
        """One metric over steps (e.g. a loss per epoch)."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(name, float(v), now, i) for i, v in enumerate(values)]
        for start in range(0, len(items), 1000):
            self.client.log_batch(self.run_id, metrics=items[start:start + 1000])

    def set_tags(self, tags: Mapping[str, object]) -> None:
        from mlflow.entities import RunTag

        self.client.log_batch(self.run_id, tags=[RunTag(str(k), str(v)) for k, v in tags.items()])

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        self.client.log_artifact(self.run_id, str(path), artifact_path)

    def log_artifacts(self, directory: str | Path, artifact_path: str | None = None) -> None:
        self.client.log_artifacts(self.run_id, str(directory), artifact_path)

    def log_text(self, text: str, artifact_file: str) -> None:
        self.client.log_text(self.run_id, text, artifact_file)

    def artifact_uri(self, artifact_path: str = "") -> str:
        base = self.client.get_run(self.run_id).info.artifact_uri.rstrip("/")
        return f"{base}/{artifact_path}" if artifact_path else base


def artifact_digest(client, run_id: str, artifact_path: str) -> str:
    """sha256 over the files under `artifact_path` of the run (read through the client: any artifact store)."""
    import hashlib
    import tempfile

    digest = hashlib.sha256()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(client.download_artifacts(run_id, artifact_path, scratch))
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for path in files:
            digest.update(str(path.relative_to(root) if root.is_dir() else path.name).encode() + b"\0")
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
            digest.update(b"\0")
    return digest.hexdigest()


class MlflowTracking(ConfigurableResource):
    """MLflow runs and registry for the training assets (see the module docstring)."""

    storage_dir: str = "storage"
    # Empty: sqlite:///<storage_dir>/mlflow/mlflow.db
    tracking_uri: str = ""
    # Empty with the default store or any database URI: <storage_dir>/mlflow/artifacts; with a server, its default.
    artifact_root: str = ""
    experiment_name: str = DEFAULT_EXPERIMENT
    # Where `make mlflow` serves the UI: the base of the `mlflow_run` links in asset metadata.
    ui_url: str = DEFAULT_UI_URL

    def run_url(self, run: TrackedRun) -> str:
        """The run's page in the MLflow UI (`make mlflow`)."""
        return f"{self.ui_url.rstrip('/')}/#/experiments/{run.experiment_id}/runs/{run.run_id}"

    def resolved_tracking_uri(self) -> str:
        if self.tracking_uri:
            return self.tracking_uri
        db = Path(self.storage_dir).resolve() / "mlflow" / "mlflow.db"
        db.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{db}"

    def resolved_artifact_root(self) -> str | None:
        if self.artifact_root:
            root = self.artifact_root
        elif not self.tracking_uri or _is_database_uri(self.tracking_uri):
            root = str(Path(self.storage_dir).resolve() / "mlflow" / "artifacts")
        else:
            return None
        if "://" in root:
            return root
        Path(root).mkdir(parents=True, exist_ok=True)
        return Path(root).resolve().as_uri()

    def client(self):
        return _client(self.resolved_tracking_uri())

    def experiment_id(self, client=None) -> str:
        client = client or self.client()
        experiment = client.get_experiment_by_name(self.experiment_name)
        if experiment is not None:
            if experiment.tags.get(EXPERIMENT_KIND_TAG) != MODEL_TRAINING_KIND:  # a store from before the tag
                client.set_experiment_tag(experiment.experiment_id, EXPERIMENT_KIND_TAG, MODEL_TRAINING_KIND)
            return experiment.experiment_id
        try:
            return client.create_experiment(self.experiment_name, artifact_location=self.resolved_artifact_root(),
                                            tags={EXPERIMENT_KIND_TAG: MODEL_TRAINING_KIND})
        except Exception:  # created meanwhile by a concurrent step
            experiment = client.get_experiment_by_name(self.experiment_name)
            if experiment is None:
                raise
            return experiment.experiment_id

    @contextmanager
    def start_run(self, run_name: str, tags: Mapping[str, object] | None = None,
                  parent_run_id: str | None = None) -> Iterator[TrackedRun]:
        """An MLflow run that ends FINISHED, or FAILED when the block raises."""
        client = self.client()
        experiment_id = self.experiment_id(client)
        all_tags = {str(k): str(v) for k, v in (tags or {}).items()}
        if parent_run_id:
            all_tags["mlflow.parentRunId"] = parent_run_id
        run = client.create_run(experiment_id, run_name=run_name, tags=all_tags)
        tracked = TrackedRun(client, run.info.run_id, experiment_id)
        try:
            yield tracked
        except BaseException:
            client.set_terminated(tracked.run_id, "FAILED")
            raise
        client.set_terminated(tracked.run_id, "FINISHED")

    def register_champion(self, name: str, run: TrackedRun, artifact_path: str,
                          tags: Mapping[str, object] | None = None) -> dict:
        """Register `artifact_path` of `run` as a new version of `name` and point the champion alias at it.

        The files are registered straight from the run's artifact directory (no
        MLmodel flavor needed: FinPulse models are safetensors/ONNX + JSON). Files whose
        content (CONTENT_TAG: sha256 over the files) is the champion's already register
        nothing: a retrain that reproduced the model keeps the champion version and alias.
        """
        from mlflow.exceptions import MlflowException

        client = run.client
        digest = artifact_digest(client, run.run_id, artifact_path)
        try:
            client.create_registered_model(name)
        except MlflowException as error:
            if error.error_code not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
                raise
        try:
            champion = client.get_model_version_by_alias(name, CHAMPION_ALIAS)
        except MlflowException:
            champion = None
        if champion is not None and champion.tags.get(CONTENT_TAG) == digest:
            return {"status": CHAMPION_ALIAS, "registered_model": name, "version": str(champion.version),
                    "alias": CHAMPION_ALIAS, "source": champion.source, CONTENT_TAG: digest,
                    "unchanged": f"same content as champion version {champion.version}: nothing registered"}
        version = client.create_model_version(name, run.artifact_uri(artifact_path), run.run_id,
                                              tags={**{str(k): str(v) for k, v in (tags or {}).items()},
                                                    CONTENT_TAG: digest})
        client.set_registered_model_alias(name, CHAMPION_ALIAS, version.version)
        return {"status": CHAMPION_ALIAS, "registered_model": name, "version": str(version.version),
                "alias": CHAMPION_ALIAS, "source": version.source, CONTENT_TAG: digest}

    def champion_version(self, name: str) -> str | None:
        """The version the champion alias points at, or None."""
        from mlflow.exceptions import MlflowException

        try:
            return str(self.client().get_model_version_by_alias(name, CHAMPION_ALIAS).version)
        except MlflowException:
            return None
