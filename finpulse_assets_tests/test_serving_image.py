"""The serving image: the `bento` asset with FINPULSE_CONTAINERIZE=buildah builds it FROM the local Debian base,
and the image, run by `buildah run`, answers /readyz, /predict and /sentiment.

Needs root and buildah + debootstrap (`apt-get install -y buildah debootstrap`); without them it fails with
that message, it never skips. The base image is built once by deployments/images/build_base.sh (minutes) and
kept in buildah's storage; the serving image is built anew (about 2 min here) and removed afterwards.
"""

import os
import shutil
import subprocess

import pytest
from dagster import build_asset_context

from finpulse_assets.deploy.bento_export import BentoExport
from finpulse_assets.deploy.local_net import free_port, wait_for_http
from finpulse_assets.deploy.images import BUILDAH_ENV, CONTAINERIZE_ENV, base_image
from finpulse_assets.settings import PROJECT_ROOT
from finpulse_assets_tests.serving_support import (
    TICKERS,
    bentoml_home,
    check_served_endpoints,
    tiny_finbert_onnx,
    tiny_lstm_onnx,
)

pytestmark = pytest.mark.slow
BENTO_ENTRYPOINT = "/home/bentoml/bento/env/docker/entrypoint.sh"


def _require_builder() -> None:
    missing = [tool for tool in ("buildah", "debootstrap") if shutil.which(tool) is None]
    if missing or os.geteuid() != 0:
        pytest.fail(f"building images needs root and buildah + debootstrap (missing: {', '.join(missing) or 'root'});"
                    " install them with `apt-get install -y buildah debootstrap`")


@pytest.fixture(scope="module")
def serving_image(tmp_path_factory):
    """The bento asset run on tiny champion models with the buildah builder configured; yields its output."""
    from finpulse_assets.assets.bento import build_bento_assets

    _require_builder()
    base = subprocess.run([str(PROJECT_ROOT / "deployments" / "images" / "build_base.sh")], capture_output=True,
                          text=True, timeout=1800)
    assert base.returncode == 0, base.stdout[-2000:] + base.stderr[-3000:]
    root = tmp_path_factory.mktemp("image")
    lstm_onnx, finbert_onnx = tiny_lstm_onnx(root), tiny_finbert_onnx(root)
    (asset,) = build_bento_assets(TICKERS, str(root))
    with pytest.MonkeyPatch.context() as env, bentoml_home(root / "bentoml"):
        env.setenv(CONTAINERIZE_ENV, "buildah")
        output = list(asset(build_asset_context(), lstm_onnx=lstm_onnx, finbert_onnx=finbert_onnx,
                            bento_export=BentoExport()))[0]
        try:
            yield output
        finally:
            if "image" in output.metadata:
                subprocess.run(["buildah", "rmi", output.metadata["image"].value], capture_output=True,
                               env=BUILDAH_ENV | dict(os.environ))


def test_bento_asset_records_the_image_it_built(serving_image):
    metadata, record = serving_image.metadata, serving_image.value["containerize"]
    tag = serving_image.value["bento_tag"]
    assert record["status"] == "built" and record["image"] == f"localhost/{tag}"
    assert metadata["image"].value == record["image"] and len(metadata["image_id"].value) == 64
    # Above the base image (Python, uv) by the serving environment (onnxruntime, pandas, bentoml, ...).
    assert 300 < metadata["image_mib"].value < 3000, metadata["image_mib"].value
    assert metadata["containerize"].value.startswith(f"image localhost/{tag} ")
    shown = subprocess.run(["buildah", "inspect", "--type", "image", "--format", "{{.FromImageID}} {{.Docker.Config.Entrypoint}}",
                            record["image"]], capture_output=True, text=True, env=BUILDAH_ENV | dict(os.environ),
                           check=True).stdout
    assert shown.startswith(record["image_id"]) and BENTO_ENTRYPOINT in shown
    bento_yaml = (serving_image.value["bento_path"] + "/bento.yaml")
    assert f"base_image: {base_image()}" in open(bento_yaml).read()


def test_serving_image_answers_readyz_predict_and_sentiment(serving_image, tmp_path):
    from finpulse_assets.deploy.image_run import running_image

    port = free_port()
    command = [BENTO_ENTRYPOINT, "--host", "127.0.0.1", "--port", str(port)]
    with running_image(serving_image.metadata["image"].value, command, env={"FINPULSE_SERVE_WORKERS": "1"},
                       log_path=tmp_path / "server.log") as server:
        wait_for_http(f"http://127.0.0.1:{port}/readyz", 180, server, tmp_path / "server.log")
        predicted = check_served_endpoints(port)
        assert predicted[0]["model_version"].startswith("lstm-test0001")
