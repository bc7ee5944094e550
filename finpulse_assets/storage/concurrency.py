"""One writer per ticker: a run commits only what it computed from tables nobody rewrote meanwhile.

Each step records the version of every ticker x day table it read. Before its
own commit it looks at the commits made to those tables since (each names its
run and tickers): one by another run on a ticker this step read means its
inputs are gone from storage, so it refuses to write (ConcurrentRunError)
rather than store results derived from data that is no longer there. The check
and the commit happen under a per-ticker file lock on local storage, so no
commit can slip between them. This holds for `execute_in_process` and every
executor; the queued deployment also limits runs per ticker (docs/storage.md).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from finpulse_assets.storage.ticker_day_table import RUN_ID_KEY, TICKERS_KEY, TickerDayTable

LOCK_TIMEOUT_S = 600


class ConcurrentRunError(RuntimeError):
    pass


@dataclass(frozen=True)
class Read:
    asset: str
    table: TickerDayTable
    version: int
    tickers: frozenset[str]


_reads: dict[tuple[str, str], list[Read]] = {}
_guard = threading.Lock()


def record_read(run_id: str, step_key: str, read: Read) -> None:
    with _guard:
        _reads.setdefault((run_id, step_key), []).append(read)


def check_reads_unchanged(run_id: str, step_key: str, writing: str) -> None:
    """Raise when another run rewrote, on a ticker this step read, a table this step read."""
    with _guard:
        reads = _reads.pop((run_id, step_key), [])
    for read in reads:
        for commit in read.table.commits_since(read.version):
            other = commit.get(RUN_ID_KEY)
            tickers = set(filter(None, str(commit.get(TICKERS_KEY, "")).split(",")))
            if other == run_id:
                continue
            if other is None or tickers & read.tickers:
                raise ConcurrentRunError(
                    f"{read.asset} ({', '.join(sorted(tickers & read.tickers) or read.tickers)}) was rewritten by "
                    f"run {other or 'unknown'} (table version {commit.get('version')}) after this run read it; "
                    f"{writing} was not written from the {read.asset} this run read, which is no longer stored. "
                    f"The stored {writing} is what an earlier run (or run {other or 'unknown'}, if it gets "
                    f"there) wrote, so it may not match the stored {read.asset} until one of them writes it again: "
                    f"rerun this ticker when the other run has finished.")


@contextmanager
def ticker_locks(base_dir: str, tickers: list[str]) -> Iterator[None]:
    """Exclusive per-ticker locks on local storage (in sorted order: no deadlock); none on object storage."""
    if "://" in base_dir:
        yield
        return
    folder = Path(base_dir) / ".locks"
    folder.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        for ticker in sorted(set(tickers)):
            stack.enter_context(FileLock(str(folder / f"{ticker}.lock"), timeout=LOCK_TIMEOUT_S))
        yield
