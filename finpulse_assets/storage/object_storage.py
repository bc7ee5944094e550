"""Object storage (S3 or an S3-compatible store) from the environment, through dagster-aws.

`FINPULSE_S3_BUCKET` unset: everything stays under the local storage folder (the default).
Set, FinPulse keeps under `s3://<bucket>/<FINPULSE_S3_PREFIX>/`:

    landing/   new tweet and price drops (the s3_landing sources, watched by new_data_sensor)
    assets/    the ticker x day Delta tables
    models/    published model versions      reports/  published drift reports
    bentos/    exported bentos (<tag>.bento)

`FINPULSE_S3_ENDPOINT_URL` points at an S3-compatible store (MinIO, moto, Ceph). Credentials
and region come from the standard AWS variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_SESSION_TOKEN, AWS_REGION / AWS_DEFAULT_REGION, or a profile); they are passed to the
S3Resource as EnvVar, so they never appear in run config, and Delta (delta-rs) reads them
from the same environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from dagster import EnvVar
from dagster_aws.s3 import S3Resource

DEFAULT_PREFIX = "finpulse"
DEFAULT_REGION = "us-east-1"
# Attempts per S3 request (botocore's standard retry mode, which S3Resource sets: exponential backoff with
# jitter, at most 20 s a wait). Dagster's default of 5 gave up within the few seconds an object store takes
# to restart (the e2e test's s3rver kill failed a step listing the landing prefix); 10 waits up to ~2 min.
S3_MAX_ATTEMPTS = 10
_SECRETS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


@dataclass(frozen=True)
class ObjectStorage:
    bucket: str
    prefix: str = DEFAULT_PREFIX
    endpoint_url: str | None = None
    region: str = DEFAULT_REGION

    @classmethod
    def from_env(cls) -> ObjectStorage | None:
        """None when FINPULSE_S3_BUCKET is unset: local storage only."""
        bucket = os.environ.get("FINPULSE_S3_BUCKET", "").strip()
        if not bucket:
            return None
        if "/" in bucket or bucket.startswith("s3:"):
            raise ValueError(f"FINPULSE_S3_BUCKET={bucket!r}: expected a bucket name only "
                             f"(put the path in FINPULSE_S3_PREFIX)")
        return cls(
            bucket=bucket,
            prefix=os.environ.get("FINPULSE_S3_PREFIX", DEFAULT_PREFIX).strip().strip("/"),
            endpoint_url=os.environ.get("FINPULSE_S3_ENDPOINT_URL", "").strip() or None,
            region=(os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION).strip(),
        )

    def key(self, *parts: str) -> str:
        """The object key under the prefix: key("models", "lstm") -> "<prefix>/models/lstm"."""
        return "/".join(p.strip("/") for p in (self.prefix, *parts) if p.strip("/"))

    def uri(self, *parts: str) -> str:
        return f"s3://{self.bucket}/{self.key(*parts)}"

    def s3_resource(self) -> S3Resource:
        secrets = {name.lower(): EnvVar(name) for name in _SECRETS if os.environ.get(name)}
        return S3Resource(region_name=self.region, endpoint_url=self.endpoint_url, max_attempts=S3_MAX_ATTEMPTS,
                          **secrets)

    def folder(self, name: str):
        """The S3Folder `<prefix>/<name>` (models, reports, bentos) that local stores publish to."""
        from finpulse_assets.storage.s3_folder import S3Folder

        return S3Folder(s3=self.s3_resource(), bucket=self.bucket, prefix=self.key(name))

    def storage_options(self) -> dict[str, str]:
        """Options for deltalake (delta-rs object_store). No secrets: delta-rs reads AWS_* from the environment."""
        options = {"AWS_REGION": self.region,
                   # Delta's atomic commit on S3 needs a lock service (DynamoDB) or this: FinPulse serializes
                   # writers of a table itself (one run per ticker range; the topology's tag concurrency limits).
                   "AWS_S3_ALLOW_UNSAFE_RENAME": "true"}
        if self.endpoint_url:
            options["AWS_ENDPOINT_URL"] = self.endpoint_url
            if self.endpoint_url.startswith("http://"):
                options["AWS_ALLOW_HTTP"] = "true"
        return options
