"""Content hashes of stored model files, recorded at materialization and verified by every loader.

A model file that changed after it was written (a flipped bit, a tensor edited
in place, a file swapped under the same version) is refused with the file and
both hashes, instead of serving different numbers under the same version.
Dagster-free and torch-free: the BentoML service verifies its bundle with it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from pathlib import Path

_CHUNK = 1 << 20


class ModelIntegrityError(ValueError):
    """A model file is missing, has no recorded hash, or its content differs from what was recorded."""


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def file_hashes(directory: str | Path) -> dict[str, str]:
    """{path relative to `directory` (POSIX): sha256} for every file under it, sorted."""
    root = Path(directory)
    return {p.relative_to(root).as_posix(): sha256_file(p) for p in sorted(root.rglob("*")) if p.is_file()}


def verify_files(directory: str | Path, recorded: Mapping[str, str] | None, names: Iterable[str] | None = None,
                 what: str = "model") -> None:
    """Refuse unless each of `names` (default: every recorded file) under `directory` has its recorded sha256."""
    root = Path(directory)
    if not recorded:
        raise ModelIntegrityError(f"{what} at {root}: no content hashes were recorded for its files; "
                                  "materialize it again so they are")
    for name in (recorded if names is None else names):
        path = root / name
        expected = recorded.get(name)
        if expected is None:
            raise ModelIntegrityError(f"{what} file {path}: no content hash was recorded for it")
        if not path.is_file():
            raise ModelIntegrityError(f"{what} file {path} is missing (recorded sha256 {expected})")
        actual = sha256_file(path)
        if actual != expected:
            raise ModelIntegrityError(f"{what} file {path} has sha256 {actual}, but {expected} was recorded when it "
                                      "was written; refusing to load a changed model file")
