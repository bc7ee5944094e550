"""Model versions and drift reports published to S3 (moto's server) and fetched where they are missing locally."""

from datetime import date

import numpy as np
import pandas as pd
import pytest
from dagster import build_resources

from finpulse_assets.models.store import ModelStore, staged_dir
from finpulse_assets.monitoring.report_store import LIBRARY_FILE, ReportStore, snapshot_json_path
from finpulse_assets.storage.object_storage import ObjectStorage
from finpulse_assets.storage.s3_folder import COMPLETE_MARKER, RemoteNotFound
from finpulse_assets_tests.s3_server import create_bucket, s3_endpoint  # noqa: F401 (fixture)

BUCKET = "finpulse-published"


@pytest.fixture
def storage(s3_endpoint, monkeypatch) -> ObjectStorage:
    create_bucket(s3_endpoint, BUCKET)
    for name, value in s3_endpoint.env(BUCKET).items():
        monkeypatch.setenv(name, value)
    return ObjectStorage.from_env()


def write_version(store: ModelStore, model: str, version: str) -> dict[str, bytes]:
    files = {"config.json": b'{"window": 20}', "weights/model.safetensors": np.arange(4096, dtype=np.float32).tobytes()}
    with staged_dir(store.model_dir(model, version)) as out:
        for name, data in files.items():
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            (out / name).write_bytes(data)
    return files


def test_a_model_version_published_on_one_machine_is_fetched_on_another(storage, s3_endpoint, tmp_path):
    trainer = ModelStore(base_dir=str(tmp_path / "trainer"), remote=storage.folder("models"))
    server = ModelStore(base_dir=str(tmp_path / "server"), remote=storage.folder("models"))
    with build_resources({"trainer": trainer, "server": server}) as stores:
        files = write_version(stores.trainer, "lstm_onnx", "abc123")
        uri = stores.trainer.publish(stores.trainer.model_dir("lstm_onnx", "abc123"))
        assert uri == f"s3://{BUCKET}/finpulse/models/lstm_onnx/abc123"

        missing = stores.server.model_dir("lstm_onnx", "abc123")
        assert not missing.exists()
        fetched = stores.server.ensure_local(missing)
        assert {p.relative_to(fetched).as_posix(): p.read_bytes() for p in fetched.rglob("*") if p.is_file()} == files
        assert [p.name for p in missing.parent.iterdir()] == ["abc123"]  # no staging leftovers

        # A version whose upload never completed (no marker) is refused, and nothing appears locally.
        s3_endpoint.client().delete_object(Bucket=BUCKET, Key=f"finpulse/models/lstm_onnx/abc123/{COMPLETE_MARKER}")
        other = ModelStore(base_dir=str(tmp_path / "other"), remote=storage.folder("models"))
        with build_resources({"other": other}) as more:
            target = more.other.model_dir("lstm_onnx", "abc123")
            with pytest.raises(RemoteNotFound, match="lstm_onnx/abc123 is not a complete published version"):
                more.other.ensure_local(target)
            assert not target.exists()


def test_without_object_storage_a_missing_version_is_a_clear_error(tmp_path):
    store = ModelStore(base_dir=str(tmp_path))
    assert store.publish(tmp_path / "lstm" / "v1") is None
    with pytest.raises(FileNotFoundError, match="FINPULSE_S3_BUCKET"):
        store.ensure_local(store.model_dir("lstm", "v1"))


def test_a_drift_report_is_published_and_fetched(storage, tmp_path):
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    rng = np.random.default_rng(3)
    reference = pd.DataFrame({"a": rng.normal(size=200)})
    current = pd.DataFrame({"a": rng.normal(loc=2.0, size=200)})
    definition = DataDefinition(numerical_columns=["a"])
    snapshot = Report([DataDriftPreset()]).run(Dataset.from_pandas(current, data_definition=definition),
                                               Dataset.from_pandas(reference, data_definition=definition))
    writer = ReportStore(base_dir=str(tmp_path / "monitor"), remote=storage.folder("reports"))
    reader = ReportStore(base_dir=str(tmp_path / "ui"), remote=storage.folder("reports"))
    with build_resources({"writer": writer, "reader": reader}) as stores:
        day = date(2024, 3, 1)
        written = stores.writer.write_snapshot_html(snapshot, stores.writer.drift_report_path("AAA", day))
        wanted = stores.reader.drift_report_path("AAA", day)
        assert stores.reader.ensure_local(wanted) == wanted
        assert wanted.read_bytes() == written.read_bytes()
        assert snapshot_json_path(wanted).read_bytes() == snapshot_json_path(written).read_bytes()
        assert (tmp_path / "ui" / LIBRARY_FILE).stat().st_size == (tmp_path / "monitor" / LIBRARY_FILE).stat().st_size
        with pytest.raises(RemoteNotFound, match="ticker=BBB/2024-03-01.json does not exist"):
            stores.reader.ensure_local(stores.reader.drift_report_path("BBB", day))
