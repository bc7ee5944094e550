"""Where the model assets keep their files: `<storage_dir>/models/<model>/<version>/`.

Models are directories of safetensors, ONNX and JSON files (never pickle). A
version is a content key: a hash of the training data and the configuration,
so materializing again with the same data and config rewrites the same
directory instead of piling up copies, and anything else gets a new directory
(earlier versions stay readable for predictions made with them).

Directories are written under a temporary name and renamed into place only
when complete, so a failed training run never leaves a half-written model
where a reader would find it; the temporary directories a killed run leaves
behind are removed by the next write of the same model (`stale_files`).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
from dagster import ConfigurableResource

from finpulse_assets.stale_files import is_stale, sweep_stale, temporary_path


class ModelStore(ConfigurableResource):
    base_dir: str

    def model_dir(self, model: str, version: str) -> Path:
        return Path(self.base_dir).resolve() / model / version

    @contextmanager
    def staged(self, final: str | Path) -> Iterator[Path]:
        """A fresh temporary directory that replaces `final` when the block completes."""
        yield from _staged(Path(final))


def _staged(final: Path) -> Iterator[Path]:
    final.parent.mkdir(parents=True, exist_ok=True)
    _restore_interrupted(final)
    sweep_stale(final)
    tmp = temporary_path(final)
    try:
        tmp.mkdir()
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = temporary_path(final, "old")
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def _restore_interrupted(final: Path) -> None:
    """A run killed between moving the old version aside and renaming the new one in leaves only `.old`:
    put the old version back, so the sweep never removes the only copy."""
    if final.exists():
        return
    for old in sorted(final.parent.glob(f".{final.name}.*.old")):
        if is_stale(old):
            old.rename(final)
            return


@contextmanager
def staged_dir(final: str | Path) -> Iterator[Path]:
    yield from _staged(Path(final))


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
