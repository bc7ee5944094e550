"""A real S3 HTTP endpoint on loopback for tests and benchmarks: moto's server mode as a subprocess.

`s3_server()` starts `python -m moto.server` on a free port and yields an `S3Endpoint`. moto keeps
objects in memory: fast, and gone with the process (`make deploy-local` runs a durable store instead).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import boto3

from finpulse_assets.deploy.local_net import free_port

ACCESS_KEY = "finpulse-test"
SECRET_KEY = "finpulse-test-secret"
REGION = "us-east-1"
START_TIMEOUT_S = 30


@dataclass(frozen=True)
class S3Endpoint:
    url: str

    def client(self):
        return boto3.client("s3", endpoint_url=self.url, region_name=REGION,
                            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)

    def env(self, bucket: str, prefix: str = "finpulse") -> dict[str, str]:
        """Environment for FinPulse against this endpoint (object_storage.py reads it)."""
        return {"FINPULSE_S3_BUCKET": bucket, "FINPULSE_S3_PREFIX": prefix, "FINPULSE_S3_ENDPOINT_URL": self.url,
                "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_REGION": REGION}

    def storage_options(self) -> dict[str, str]:
        """deltalake options with the credentials spelled out (for tests that do not set the environment)."""
        return {"AWS_ENDPOINT_URL": self.url, "AWS_REGION": REGION, "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_ALLOW_HTTP": "true", "AWS_S3_ALLOW_UNSAFE_RENAME": "true"}


def create_bucket(endpoint: S3Endpoint, bucket: str) -> str:
    endpoint.client().create_bucket(Bucket=bucket)
    return bucket


@contextmanager
def s3_server() -> Iterator[S3Endpoint]:
    port = free_port()
    # A file, not a pipe: moto logs every request to stderr, and a pipe nobody reads fills after a few
    # hundred requests and then blocks the server mid-request.
    log = tempfile.TemporaryFile()
    process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                               stdout=subprocess.DEVNULL, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"moto server exited with {process.returncode}: "
                                   f"{log.read().decode(errors='replace')[-2000:]}")
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"moto server on {url} did not answer within {START_TIMEOUT_S}s") from None
                time.sleep(0.1)
        yield S3Endpoint(url)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
