"""The `bento` asset, and the built bento served by `bentoml serve` from a fresh virtual environment.

The fresh environment gets only the bento's own requirements.txt (no torch, no
dagster, no finpulse install), so this proves the bento is self-contained
without Docker. pip reuses its cache and the local wheel mirrors, so after the
first run the install takes well under a minute.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from dagster import Failure, build_asset_context

from finpulse_assets.deploy.bento_export import BentoExport
from finpulse_assets.deploy.local_net import free_port, wait_for_http
from finpulse_assets.deploy.bento_packaging import ModelRefused, check_servable, serving_requirements
from finpulse_assets.settings import PROJECT_ROOT
from finpulse_assets_tests.s3_server import create_bucket, s3_endpoint  # noqa: F401 (fixture)
from finpulse_assets_tests.serving_support import (
    TICKERS,
    bentoml_home,
    call,
    check_served_endpoints,
    tiny_finbert_onnx,
    tiny_lstm_onnx,
)

FORBIDDEN = {"torch", "dagster", "transformers", "mlflow", "evidently", "finpulse"}


def locked_versions() -> dict[str, str]:
    pins = {}
    for line in (PROJECT_ROOT / "requirements.lock").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split(";")[0].strip().split("==")
            pins[name.lower().replace("_", "-")] = version
    return pins


def test_serving_requirements_are_pinned_to_the_lock_and_torch_free():
    requirements = serving_requirements()
    locked = locked_versions()
    names = {r.split("==")[0] for r in requirements}
    assert {"bentoml", "onnxruntime", "numpy", "pandas", "tokenizers", "pydantic"} <= names
    assert not names & FORBIDDEN
    for requirement in requirements:
        name, version = requirement.split("==")
        assert locked.get(name) == version, f"{requirement} is not the version in requirements.lock"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The bento asset run once on tiny champion models, in a temp BentoML home."""
    from finpulse_assets.assets.bento import build_bento_assets

    root = tmp_path_factory.mktemp("bento")
    lstm_onnx, finbert_onnx = tiny_lstm_onnx(root), tiny_finbert_onnx(root)
    (asset,) = build_bento_assets(TICKERS, str(root))
    with pytest.MonkeyPatch.context() as env, bentoml_home(root / "bentoml") as home:
        env.delenv("FINPULSE_CONTAINERIZE", raising=False)
        outputs = list(asset(build_asset_context(), lstm_onnx=lstm_onnx, finbert_onnx=finbert_onnx,
                             bento_export=BentoExport()))
        yield {"home": home, "output": outputs[0], "asset": asset, "lstm_onnx": lstm_onnx,
               "finbert_onnx": finbert_onnx}


def test_bento_asset_reports_tag_size_versions_and_how_to_build_its_image(built):
    output = built["output"]
    tag = output.value["bento_tag"]
    assert tag.startswith("finpulse:") and output.metadata["bento_tag"].value == tag
    assert 0 < output.metadata["bento_mib"].value < 50
    assert output.metadata["model_versions"].value == {"forecaster": "lstm-test0001", "sentiment": "finbert-test0001"}
    assert output.metadata["containerize"].value.startswith("containerize not requested (FINPULSE_CONTAINERIZE unset")
    assert output.value["containerize"]["command"].startswith(f"bentoml containerize {tag} --backend ")
    assert "image_id" not in output.metadata
    bento_dir = Path(output.value["bento_path"])
    requirements = (bento_dir / "env" / "python" / "requirements.txt").read_text().split()
    assert not (bento_dir / "env" / "python" / "requirements.lock.txt").exists()
    assert "bentoml==1.4.39" in requirements and not any(r.split("==")[0] in FORBIDDEN for r in requirements)
    packed = {p.relative_to(bento_dir / "src").as_posix() for p in (bento_dir / "src").rglob("*.py")}
    assert "bentos/finpulse/service.py" in packed and "finpulse_assets/serving/predictor.py" in packed
    assert not any(p.startswith("finpulse_assets/assets/") for p in packed)
    # BentoML 1.4 references models from the bento and resolves them in the model store (containerize copies them).
    import yaml

    manifest = yaml.safe_load((bento_dir / "bento.yaml").read_text())
    tags = {m["tag"] for m in manifest["services"][0]["models"]}
    assert tags == {"finpulse-forecaster:lstm-test0001", "finpulse-sentiment:finbert-test0001"}
    assert output.value["model_tags"] == {"forecaster": "finpulse-forecaster:lstm-test0001",
                                          "sentiment": "finpulse-sentiment:finbert-test0001"}
    store = built["home"] / "models"
    shipped = {p.relative_to(store).as_posix() for p in store.rglob("*") if p.is_file()}
    assert "finpulse-forecaster/lstm-test0001/pooled/model.onnx" in shipped
    assert "finpulse-sentiment/finbert-test0001/model.int8.onnx" in shipped
    assert not any(p.endswith((".safetensors", ".pkl")) or p.endswith("/model.onnx") and "sentiment" in p
                   for p in shipped)


def test_the_built_bento_is_exported_to_s3_as_a_bento_archive(built, s3_endpoint, monkeypatch, tmp_path):
    import tarfile

    from dagster import build_resources

    from finpulse_assets.storage.object_storage import ObjectStorage

    create_bucket(s3_endpoint, "finpulse-bentos")
    for name, value in s3_endpoint.env("finpulse-bentos").items():
        monkeypatch.setenv(name, value)
    tag = built["output"].value["bento_tag"]
    with build_resources({"export": BentoExport(remote=ObjectStorage.from_env().folder("bentos"))}) as resources:
        uri = resources.export.export(tag)
    assert uri == f"s3://finpulse-bentos/finpulse/bentos/{tag}.bento"
    archive = tmp_path / "exported.bento"
    s3_endpoint.client().download_file("finpulse-bentos", f"finpulse/bentos/{tag}.bento", str(archive))
    with tarfile.open(archive) as bento:
        names = bento.getnames()
    assert "./bento.yaml" in names and any(n.endswith("/service.py") for n in names)


@pytest.mark.parametrize("which, change, words", [
    ("lstm_onnx", {"registry": {"status": "candidate", "reason": "does not beat the random walk"}}, "not the champion"),
    ("finbert_onnx", {"parity": {"passed": False}}, "parity check failed"),
])
def test_bento_asset_refuses_candidates_and_failed_parity(built, which, change, words):
    inputs = {"lstm_onnx": built["lstm_onnx"], "finbert_onnx": built["finbert_onnx"]}
    inputs[which] = inputs[which] | change
    with pytest.raises(Failure, match=words):
        list(built["asset"](build_asset_context(), **inputs, bento_export=BentoExport()))
    with pytest.raises(ModelRefused, match=words):
        check_servable(which, inputs[which])


@pytest.mark.slow  # a pip install of 80-odd packages into a new virtualenv, then a server start
def test_built_bento_serves_from_a_fresh_virtualenv(built, tmp_path):
    bento_dir = Path(built["output"].value["bento_path"])
    venv = tmp_path / "venv"
    # Only the fresh environment: a PYTHONPATH on the project root would show its egg-info to pip.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    # --no-compile: no bytecode for all 80-odd packages (about 375 MB); the server compiles what it imports.
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-compile", "-r",
                              str(bento_dir / "env" / "python" / "requirements.txt")],
                             capture_output=True, text=True, timeout=900, env=env)
    assert install.returncode == 0, install.stderr[-3000:]
    installed = subprocess.run([str(python), "-m", "pip", "list", "--format=freeze"], capture_output=True,
                               text=True, check=True, env=env).stdout.lower()
    assert not any(f"\n{name}==" in "\n" + installed for name in FORBIDDEN)

    port = free_port()
    env |= {"BENTOML_HOME": str(built["home"]), "BENTOML_DO_NOT_TRACK": "True"}
    server = subprocess.Popen([str(venv / "bin" / "bentoml"), "serve", built["output"].value["bento_tag"],
                               "--host", "127.0.0.1", "--port", str(port)],
                              cwd=tmp_path, env=env, stdout=open(tmp_path / "server.log", "w"),
                              stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/readyz", 180, server, tmp_path / "server.log")
        check_served_endpoints(port)
        status, metrics = call(port, "/metrics")
        assert status == 200 and "bentoml_service_request_total" in metrics
    finally:
        os.killpg(server.pid, 15)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, 9)
            server.wait(timeout=30)
