"""finpulse_assets.deploy.images without building: when the bento asset builds an image, with what, and its errors."""

import pytest

from finpulse_assets.deploy.images import ImageBuildFailed, containerize, containerize_command


def test_without_a_configured_builder_the_command_is_recorded_not_run(monkeypatch):
    monkeypatch.delenv("FINPULSE_CONTAINERIZE", raising=False)
    record = containerize("finpulse:abc")
    assert record["status"] == "not requested" and "image_id" not in record
    assert record["command"].startswith("bentoml containerize finpulse:abc --backend ")
    assert "-t localhost/finpulse:abc" in record["command"] and "`make images`" in record["message"]


def test_an_unknown_builder_is_refused_by_name(monkeypatch):
    monkeypatch.setenv("FINPULSE_CONTAINERIZE", "kaniko")
    with pytest.raises(ImageBuildFailed, match="FINPULSE_CONTAINERIZE='kaniko': expected one of buildah, docker"):
        containerize("finpulse:abc")


def test_buildah_builds_trust_the_configured_ca_bundle(monkeypatch, tmp_path):
    bundle = tmp_path / "site-ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setenv("FINPULSE_BUILD_CA", str(bundle))
    command = containerize_command("finpulse:abc", "buildah")
    assert command[-2:] == ["--opt", f"volume={bundle}:/etc/ssl/certs/ca-certificates.crt:ro"]
    monkeypatch.setenv("FINPULSE_BUILD_CA", str(tmp_path / "absent.pem"))
    assert "--opt" not in containerize_command("finpulse:abc", "buildah")
