"""The MLflow resource: project-local SQLite store by default, run status, champion alias."""

import pytest

from finpulse_assets.models.mlflow_tracking import CHAMPION_ALIAS, MlflowTracking


@pytest.fixture(scope="module")
def tracking(tmp_path_factory):
    return MlflowTracking(storage_dir=str(tmp_path_factory.mktemp("storage")), experiment_name="tests")


def test_the_default_store_is_sqlite_and_files_under_the_storage_dir(tracking):
    root = tracking.storage_dir
    assert tracking.resolved_tracking_uri() == f"sqlite:///{root}/mlflow/mlflow.db"
    assert tracking.resolved_artifact_root() == f"file://{root}/mlflow/artifacts"
    server = MlflowTracking(storage_dir=root, tracking_uri="http://mlflow.internal:5000")
    assert server.resolved_tracking_uri() == "http://mlflow.internal:5000" and server.resolved_artifact_root() is None


def test_runs_finish_or_fail_with_their_block_and_log_params_metrics_files(tracking, tmp_path):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    with tracking.start_run("ok", tags={"dagster.run_id": "abc"}) as run:
        run.log_params({"window": 10, "long": "x" * 10_000})
        run.log_metrics({"mae": 1.5})
        run.log_metric_history("val_loss", [3.0, 2.0, 2.5])
        run.log_artifacts(tmp_path / "model", "model")
    client = tracking.client()
    finished = client.get_run(run.run_id)
    assert finished.info.status == "FINISHED" and finished.data.tags["dagster.run_id"] == "abc"
    assert finished.data.params["window"] == "10" and finished.data.metrics["mae"] == 1.5
    assert [m.value for m in client.get_metric_history(run.run_id, "val_loss")] == [3.0, 2.0, 2.5]
    assert [a.path for a in client.list_artifacts(run.run_id, "model")] == ["model/config.json"]

    with pytest.raises(RuntimeError, match="boom"):
        with tracking.start_run("broken", parent_run_id=run.run_id) as failed:
            raise RuntimeError("boom")
    failed_run = client.get_run(failed.run_id)
    assert failed_run.info.status == "FAILED" and failed_run.data.tags["mlflow.parentRunId"] == run.run_id
    # MLflow's UI opens the experiment in its model-training view, not the GenAI one.
    assert client.get_experiment(run.experiment_id).tags["mlflow.experimentKind"] == "custom_model_development"


def test_registering_a_champion_moves_the_alias_to_the_new_version(tracking, tmp_path):
    assert tracking.champion_version("finpulse-test") is None
    versions = []
    for content in (b"onnx", b"onnx 2"):
        (tmp_path / "f.onnx").write_bytes(content)
        with tracking.start_run("onnx") as run:
            run.log_artifact(tmp_path / "f.onnx", "model")
            versions.append(tracking.register_champion("finpulse-test", run, "model", tags={"model_version": "v"}))
    assert [v["version"] for v in versions] == ["1", "2"] and versions[1]["status"] == CHAMPION_ALIAS
    assert tracking.champion_version("finpulse-test") == "2"
    version = tracking.client().get_model_version_by_alias("finpulse-test", CHAMPION_ALIAS)
    assert version.source.endswith("/artifacts/model") and version.run_id == run.run_id


def test_a_model_with_the_champions_content_registers_nothing(tracking, tmp_path):
    """A retrain that reproduces the champion byte for byte (the drift sensor's retrain on unchanged data)
    keeps the version and the alias; other content registers a new version."""
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.onnx").write_bytes(b"weights")
    (model / "config.json").write_text('{"window": 10}')
    registered = []
    for config in ('{"window": 10}', '{"window": 10}', '{"window": 12}'):
        (model / "config.json").write_text(config)
        with tracking.start_run("lstm") as run:
            run.log_artifacts(model, "model")
            registered.append(tracking.register_champion("finpulse-same", run, "model"))
    assert [r["version"] for r in registered] == ["1", "1", "2"]
    assert "unchanged" in registered[1] and "unchanged" not in registered[2]
    assert registered[0]["content_sha256"] == registered[1]["content_sha256"] != registered[2]["content_sha256"]
    client = tracking.client()
    assert len(client.search_model_versions("name='finpulse-same'")) == 2
    assert tracking.champion_version("finpulse-same") == "2"
