"""Temporary names for atomic writes, and the sweep that removes those a killed writer left behind.

A writer stages `<dir>/.<name>.<pid>-<token>.tmp` and renames it into place. A
process killed before the rename leaves the temporary behind; the next write of
the same target removes every temporary of it whose process is gone (same
host), or that is older than STALE_AFTER_SECONDS when its name carries no live
process id (names written before this scheme). A live writer's temporary is
never touched. `staged_dir` writes a whole directory that way.
"""

from __future__ import annotations

import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from finpulse_assets.runs.processes import pid_alive

STALE_AFTER_SECONDS = 3600
_PID = re.compile(r"\.(\d+)-[0-9a-f]+\.(tmp|old)$")


def temporary_path(final: Path, suffix: str = "tmp") -> Path:
    return final.with_name(f".{final.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.{suffix}")


def is_stale(path: Path, now: float | None = None) -> bool:
    match = _PID.search(path.name)
    if match and int(match.group(1)) != os.getpid():
        return not pid_alive(int(match.group(1)))
    if match:  # this process: a write in progress here, or left by an earlier failed step that cleaned up
        return False
    try:
        age = (now or time.time()) - path.lstat().st_mtime
    except FileNotFoundError:
        return False
    return age > STALE_AFTER_SECONDS


def sweep_stale(final: Path) -> int:
    """Remove stale temporaries of `final` (files or directories) next to it; returns how many."""
    directory = final.parent
    if not directory.is_dir():
        return 0
    removed = 0
    prefix = f".{final.name}."
    for entry in directory.iterdir():
        name = entry.name
        if name.startswith(prefix) and (name.endswith(".tmp") or name.endswith(".old")) and is_stale(entry):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed += 1
    return removed


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
