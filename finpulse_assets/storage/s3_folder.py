"""A folder on S3 (bucket + key prefix) that local stores publish to and fetch from, through the S3Resource.

A directory (a model version) is published file by file and then marked complete by
`<dir>/_complete.json` listing every file and its size, written last (and removed first when a
version is published again), so a reader never takes a half-uploaded version: `fetch_dir` refuses a
directory without its marker, and downloads into a staged directory renamed into place only when
every listed file arrived with its size.
"""

from __future__ import annotations

import json
from pathlib import Path

from dagster import ConfigurableResource
from dagster_aws.s3 import S3Resource

COMPLETE_MARKER = "_complete.json"


class RemoteNotFound(FileNotFoundError):
    pass


class S3Folder(ConfigurableResource):
    s3: S3Resource
    bucket: str
    prefix: str

    def key(self, relative: str) -> str:
        return "/".join(p.strip("/") for p in (self.prefix, relative) if p.strip("/"))

    def uri(self, relative: str) -> str:
        return f"s3://{self.bucket}/{self.key(relative)}"

    def upload_file(self, local: str | Path, relative: str) -> str:
        self.s3.get_client().upload_file(str(local), self.bucket, self.key(relative))
        return self.uri(relative)

    def download_file(self, relative: str, local: str | Path) -> Path:
        """The object at `relative` written to `local` (atomically: a temporary name, then renamed)."""
        from finpulse_assets.storage.stale_files import temporary_path

        local = Path(local)
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = temporary_path(local)
        client = self.s3.get_client()
        try:
            client.download_file(self.bucket, self.key(relative), str(tmp))
        except client.exceptions.ClientError as exc:
            tmp.unlink(missing_ok=True)
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
                raise RemoteNotFound(f"{self.uri(relative)} does not exist") from None
            raise
        tmp.replace(local)
        return local

    def exists(self, relative: str) -> bool:
        listed = self.s3.get_client().list_objects_v2(Bucket=self.bucket, Prefix=self.key(relative), MaxKeys=1)
        return any(o["Key"] == self.key(relative) for o in listed.get("Contents", []))

    def publish_dir(self, local_dir: str | Path, relative: str) -> str:
        """Every file under `local_dir` to `relative/`, then the completion marker; returns the folder's URI."""
        local_dir = Path(local_dir)
        files = {p.relative_to(local_dir).as_posix(): p.stat().st_size
                 for p in sorted(local_dir.rglob("*")) if p.is_file()}
        if not files:
            raise ValueError(f"{local_dir}: nothing to publish (no files)")
        client = self.s3.get_client()
        client.delete_object(Bucket=self.bucket, Key=self.key(f"{relative}/{COMPLETE_MARKER}"))
        for name in files:
            client.upload_file(str(local_dir / name), self.bucket, self.key(f"{relative}/{name}"))
        client.put_object(Bucket=self.bucket, Key=self.key(f"{relative}/{COMPLETE_MARKER}"),
                          Body=json.dumps({"files": files}, sort_keys=True).encode())
        return self.uri(relative)

    def fetch_dir(self, relative: str, local_dir: str | Path) -> Path:
        """A published directory into `local_dir` (staged: nothing appears there unless every file arrived)."""
        from finpulse_assets.storage.stale_files import staged_dir

        marker = self.key(f"{relative}/{COMPLETE_MARKER}")
        client = self.s3.get_client()
        try:
            listed = json.loads(client.get_object(Bucket=self.bucket, Key=marker)["Body"].read())["files"]
        except client.exceptions.NoSuchKey:
            raise RemoteNotFound(f"{self.uri(relative)} is not a complete published version "
                                 f"(no {COMPLETE_MARKER})") from None
        with staged_dir(local_dir) as out:
            for name, size in listed.items():
                target = out / name
                target.parent.mkdir(parents=True, exist_ok=True)
                client.download_file(self.bucket, self.key(f"{relative}/{name}"), str(target))
                if target.stat().st_size != size:
                    raise OSError(f"{self.uri(relative)}/{name}: {target.stat().st_size} bytes arrived, "
                                  f"{size} published")
        return Path(local_dir)
