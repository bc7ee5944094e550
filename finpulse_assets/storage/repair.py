"""Damaged Delta tables: what is wrong, the last good version, and the repair.

Two kinds of damage stop every later run of an asset: a commit file of `_delta_log/` that cannot be read
(a truncated or corrupted JSON: a full disk, a copy cut short), and a data file that a commit references but
that is gone (deleted by hand, a partial copy). `diagnose` finds which, and the latest version that is whole;
`DamagedTableError` says both with the command that repairs the table:

    python -m finpulse_assets.storage.repair storage/assets/raw_prices            # says what it would do
    python -m finpulse_assets.storage.repair storage/assets/raw_prices --apply    # does it

The repair returns the table to its last good version. Missing data files: deltalake's own
`DeltaTable.restore(version)` (a new commit that puts back that version's files). Unreadable commits:
deltalake cannot read past them, so they (and any checkpoint after the last good version) are moved to
`_delta_log/.damaged/`, kept for inspection, and the table reads as its last good version. Either way the
partitions written after that version are no longer stored: run the same materialization again (the
completeness guard compares with what is stored, so it lets the rerun restore them).
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from deltalake import DeltaTable
from deltalake.exceptions import DeltaError, TableNotFoundError

REPAIR_COMMAND = "python -m finpulse_assets.storage.repair"
_COMMIT = re.compile(r"^(\d{20})\.json$")
_CHECKPOINT = re.compile(r"^(\d{20})\.checkpoint.*\.parquet$")


class DamagedTableError(RuntimeError):
    pass


@dataclass
class Diagnosis:
    uri: str
    problem: str  # what is wrong, one sentence
    kind: str  # "unreadable_log" or "missing_files"
    last_good: int | None  # None: no version of the table is whole
    damaged_commits: list[Path] = field(default_factory=list)
    missing_files: list[str] = field(default_factory=list)

    def message(self) -> str:
        if self.last_good is None:
            return (f"Delta table {self.uri} is damaged: {self.problem}. No version of it is whole: move the "
                    f"folder aside and run the materialization again to rebuild it.")
        return (f"Delta table {self.uri} is damaged: {self.problem}. The last good version is {self.last_good}. "
                f"Repair: `{REPAIR_COMMAND} {self.uri} --apply` (returns the table to version {self.last_good}), "
                f"then run the same materialization again to store the partitions written after it.")


def _log_dir(uri: str) -> Path | None:
    return None if "://" in uri else Path(uri) / "_delta_log"


def _versions(uri: str) -> list[int]:
    log = _log_dir(uri)
    if log is None or not log.is_dir():
        return []
    return sorted(int(m.group(1)) for p in log.iterdir() if (m := _COMMIT.match(p.name)))


def _loads(uri: str, version: int, storage_options) -> DeltaTable | None:
    try:
        return DeltaTable(uri, version=version, storage_options=storage_options)
    except (DeltaError, OSError, ValueError):
        return None


def _missing(table: DeltaTable) -> list[str]:
    """Data files of the table's version that are gone (local tables; object stores are not listed)."""
    out = []
    for uri in table.file_uris():
        if "://" in uri and not uri.startswith("file://"):
            return []
        path = Path(uri.removeprefix("file://"))
        if not path.exists():
            out.append(str(path))
    return out


def diagnose(uri: str, storage_options=None) -> Diagnosis | None:
    """What is wrong with the table at `uri`, or None when it reads (or does not exist yet)."""
    try:
        table = DeltaTable(uri, storage_options=storage_options)
    except TableNotFoundError:
        return None
    except DeltaError as exc:
        versions = _versions(uri)
        good = next((v for v in reversed(versions[:-1]) if _loads(uri, v, storage_options) is not None), None)
        log = _log_dir(uri)
        damaged = [log / f"{v:020d}.json" for v in versions if good is None or v > good] if log else []
        first_line = str(exc).strip().splitlines()[0]
        where = ", ".join(p.name for p in damaged) or "its transaction log"
        return Diagnosis(uri, f"commit file {where} of _delta_log cannot be read ({first_line})", "unreadable_log",
                         good, damaged_commits=damaged)
    missing = _missing(table)
    if not missing:
        return None
    good = None
    for version in range(table.version() - 1, -1, -1):
        old = _loads(uri, version, storage_options)
        if old is not None and not _missing(old):
            good = version
            break
    shown = ", ".join(Path(m).relative_to(Path(uri)).as_posix() if m.startswith(str(Path(uri))) else m
                      for m in missing[:3])
    more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
    return Diagnosis(uri, f"version {table.version()} references {len(missing)} data file(s) that are gone "
                          f"({shown}{more})", "missing_files", good, missing_files=missing)


def damaged_error(uri: str, storage_options, cause: BaseException) -> BaseException:
    """A DamagedTableError naming the table, its last good version and the repair; `cause` when not damage."""
    found = diagnose(uri, storage_options)
    return DamagedTableError(found.message()) if found is not None else cause


def repair(found: Diagnosis, storage_options=None) -> int:
    """Return the table to `found.last_good`; returns the version it reads as afterwards."""
    if found.last_good is None:
        raise DamagedTableError(found.message())
    if found.kind == "missing_files":
        table = DeltaTable(found.uri, storage_options=storage_options)
        table.restore(found.last_good)
        return DeltaTable(found.uri, storage_options=storage_options).version()
    log = _log_dir(found.uri)
    if log is None:
        raise DamagedTableError(f"{found.uri}: an unreadable commit on an object store is repaired by hand: move "
                                f"the commits after version {found.last_good} out of _delta_log/")
    aside = log / ".damaged"
    aside.mkdir(exist_ok=True)
    later = [p for p in log.iterdir() if (m := _COMMIT.match(p.name) or _CHECKPOINT.match(p.name))
             and int(m.group(1)) > found.last_good]
    for path in later:
        path.rename(aside / path.name)
    (log / "_last_checkpoint").unlink(missing_ok=True)  # may name a moved checkpoint; deltalake lists the log
    return DeltaTable(found.uri, storage_options=storage_options).version()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog=REPAIR_COMMAND, description=__doc__.split("\n\n")[0])
    parser.add_argument("table", help="the table's folder, e.g. storage/assets/raw_prices")
    parser.add_argument("--apply", action="store_true", help="repair it (without: only say what is wrong)")
    args = parser.parse_args(argv)
    found = diagnose(args.table)
    if found is None:
        print(f"{args.table}: the table reads; nothing to repair")
        return 0
    print(found.message())
    if not args.apply:
        print("(nothing changed: add --apply to repair)")
        return 1
    version = repair(found)
    print(f"{args.table}: repaired; it now reads as version {version} (the content of version {found.last_good})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
