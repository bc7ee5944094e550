"""The `s3_endpoint` fixture: a fresh moto S3 server per test (`finpulse_assets.deploy.moto_s3`), with the
AWS_* and FINPULSE_S3_* variables pointing at it (so ObjectStorage.from_env() and delta-rs find it).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from finpulse_assets.deploy.moto_s3 import S3Endpoint, create_bucket, s3_server  # noqa: F401 (re-exported for the tests)


@pytest.fixture
def s3_endpoint(monkeypatch) -> Iterator[S3Endpoint]:
    """A fresh moto server; AWS_* credentials for it in the environment (no real account is ever used)."""
    with s3_server() as endpoint:
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION"):
            monkeypatch.delenv(name, raising=False)
        for name, value in endpoint.env("unused").items():
            if name.startswith("AWS_"):
                monkeypatch.setenv(name, value)
        yield endpoint
