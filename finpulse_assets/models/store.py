"""Where the model assets keep their files: `<storage_dir>/models/<model>/<version>/`.

Models are directories of safetensors, ONNX and JSON files (never pickle). A
version is a content key: a hash of the training data and the configuration,
so materializing again with the same data and config rewrites the same
directory instead of piling up copies, and anything else gets a new directory
(earlier versions stay readable for predictions made with them).

With object storage configured (`remote`), each completed version is also published to
`s3://<bucket>/<prefix>/models/<model>/<version>/` after its local staged write, and a version
missing locally (another machine trained it) is fetched from there before it is loaded.

Directories are written under a temporary name and renamed into place only
when complete, so a failed training run never leaves a half-written model
where a reader would find it; the temporary directories a killed run leaves
behind are removed by the next write of the same model (`stale_files`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import pandas as pd
from dagster import ConfigurableResource

from finpulse_assets.storage.s3_folder import S3Folder
from finpulse_assets.storage.stale_files import staged_dir


class ModelStore(ConfigurableResource):
    base_dir: str
    remote: Optional[S3Folder] = None  # noqa: UP045 (Dagster resolves nested resources from Optional[...])

    def model_dir(self, model: str, version: str) -> Path:
        return Path(self.base_dir).resolve() / model / version

    def publish(self, model_dir: str | Path) -> str | None:
        """A completed version directory to object storage (None without one); call after its staged write."""
        if self.remote is None:
            return None
        return self.remote.publish_dir(model_dir, self._relative(model_dir))

    def ensure_local(self, model_dir: str | Path) -> Path:
        """`model_dir`, fetched from object storage first when it is missing here."""
        model_dir = Path(model_dir)
        if model_dir.is_dir():
            return model_dir
        if self.remote is None:
            raise FileNotFoundError(f"{model_dir} does not exist and no object storage is configured to fetch it "
                                    f"from (FINPULSE_S3_BUCKET)")
        return self.remote.fetch_dir(self._relative(model_dir), model_dir)

    def _relative(self, model_dir: str | Path) -> str:
        base = Path(self.base_dir).resolve()
        try:
            return Path(model_dir).resolve().relative_to(base).as_posix()
        except ValueError:
            raise ValueError(f"{model_dir} is not a version directory under the model store {base}") from None

    @contextmanager
    def staged(self, final: str | Path) -> Iterator[Path]:
        """A fresh temporary directory that replaces `final` when the block completes."""
        with staged_dir(final) as out:
            yield out


def content_key(*parts: object) -> str:
    """12 hex digits of sha256 over the parts (JSON-encoded, keys sorted)."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(json.dumps(part, sort_keys=True, default=str).encode("utf-8"))
        digest.update(b"\x00")
    return digest.hexdigest()[:12]


def frame_fingerprint(frame: pd.DataFrame, columns: list[str] | None = None) -> str:
    """Hash of a frame's values (row order included) over `columns` (default: all)."""
    part = frame[columns] if columns is not None else frame
    values = pd.util.hash_pandas_object(part.reset_index(drop=True), index=False).to_numpy()
    return hashlib.sha256(values.tobytes() + ",".join(map(str, part.columns)).encode()).hexdigest()[:16]


def dir_bytes(path: str | Path) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())
