"""One Delta Lake table per ticker x day asset: a run's partitions in one commit.

The table has the asset's own columns plus `ticker` (the Delta partition
column, one folder per ticker) and `day` (the partition's day, date). A run
replaces exactly its own partitions with one `overwrite` commit whose predicate
covers the run's ticker x day ranges: a run that fails or is killed before the
commit changes nothing a reader sees (its data files are never referenced), and
a single partition is a one-day predicate like any other.

Every commit carries the writing run's id and tickers (commit metadata), so a
run can tell whether an upstream table it read was rewritten by another run
before it commits (see `concurrency.py`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError
from deltalake.exceptions import DeltaError, TableNotFoundError

from finpulse_assets.partitions import TickerDay
from finpulse_assets.storage.repair import damaged_error

TICKER, DAY = "ticker", "day"
COMMIT_ATTEMPTS = 5
RUN_ID_KEY, TICKERS_KEY, RANGES_KEY = "finpulse_run_id", "finpulse_tickers", "finpulse_partitions"


@dataclass(frozen=True)
class DayRange:
    ticker: str
    first: date
    last: date


def day_ranges(parts: Iterable[TickerDay]) -> list[DayRange]:
    """The partitions as contiguous per-ticker day ranges (a run's keys are usually one range per ticker)."""
    ranges: list[DayRange] = []
    for part in sorted(set(parts)):
        last = ranges[-1] if ranges else None
        if last and last.ticker == part.ticker and last.last + timedelta(days=1) == part.day:
            ranges[-1] = DayRange(part.ticker, last.first, part.day)
        else:
            ranges.append(DayRange(part.ticker, part.day, part.day))
    return ranges


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def predicate_sql(ranges: list[DayRange]) -> str:
    return " OR ".join(f"({TICKER} = {_sql_text(r.ticker)} AND {DAY} >= '{r.first}' AND {DAY} <= '{r.last}')"
                       for r in ranges)


def _filter(ranges: list[DayRange]) -> pc.Expression:
    expr = None
    for r in ranges:
        one = (pc.field(TICKER) == r.ticker) & (pc.field(DAY) >= pa.scalar(r.first)) & (pc.field(DAY) <= pa.scalar(r.last))
        expr = one if expr is None else expr | one
    return expr


class TickerDayTable:
    def __init__(self, uri: str, storage_options: Mapping[str, str] | None = None):
        self.uri = uri
        self.storage_options = dict(storage_options or {}) or None

    def open(self) -> DeltaTable | None:
        try:
            return DeltaTable(self.uri, storage_options=self.storage_options)
        except TableNotFoundError:
            return None
        except DeltaError as exc:  # an unreadable commit: say which table, its last good version and the repair
            _raise_damage(self, exc)

    def _scan(self, table: DeltaTable, **kwargs) -> pa.Table:
        """The table's rows (to_table arguments), a missing data file reported as damage with its repair."""
        try:
            return table.to_pyarrow_dataset().to_table(**kwargs)
        except OSError as exc:
            _raise_damage(self, exc)

    def version(self) -> int | None:
        table = self.open()
        return None if table is None else table.version()

    def read(self, parts: Iterable[TickerDay]) -> tuple[pd.DataFrame, int | None]:
        """The rows of `parts` in (ticker, day) order without the `day` column, and the table version read."""
        table = self.open()
        ranges = day_ranges(parts)
        if table is None or not ranges:
            return pd.DataFrame(), None if table is None else table.version()
        arrow = self._scan(table, filter=_filter(ranges))
        columns = pa.schema(table.schema().to_arrow()).names
        frame = arrow.to_pandas().reindex(columns=columns)
        frame = frame.sort_values([TICKER, DAY], kind="stable").reset_index(drop=True)
        return _to_nanoseconds(frame.drop(columns=[DAY])), table.version()

    def row_counts(self, parts: Iterable[TickerDay]) -> dict[TickerDay, int]:
        """Stored rows of each of `parts` that holds any (read from the table itself, two columns only)."""
        table = self.open()
        ranges = day_ranges(parts)
        if table is None or not ranges:
            return {}
        arrow = self._scan(table, filter=_filter(ranges), columns=[TICKER, DAY])
        counts = arrow.group_by([TICKER, DAY]).aggregate([([], "count_all")])
        return {TickerDay(t, d): int(n) for t, d, n in zip(counts[TICKER].to_pylist(), counts[DAY].to_pylist(),
                                                           counts["count_all"].to_pylist())}

    def read_all(self) -> pd.DataFrame:
        """Every stored row in (ticker, day) order without the `day` column (empty when there is no table)."""
        table = self.open()
        if table is None:
            return pd.DataFrame()
        columns = pa.schema(table.schema().to_arrow()).names
        frame = self._scan(table).to_pandas().reindex(columns=columns)
        frame = frame.sort_values([TICKER, DAY], kind="stable").reset_index(drop=True)
        return _to_nanoseconds(frame.drop(columns=[DAY]))

    def write_run(self, frames: Mapping[TickerDay, pd.DataFrame], run_id: str) -> int:
        """Replace exactly the partitions in `frames` (empty frames included) in one commit; returns its version."""
        # Runs of other tickers commit to the same table at the same moment (one creation wins, and a schema
        # merge or a replace-where can lose delta-rs's conflict check against theirs): the commit is retried on
        # the table as it now is, replacing only its own days. A commit in between that wrote one of this
        # run's tickers is a real conflict and stays an error.
        tickers = {part.ticker for part in frames}
        for attempt in range(COMMIT_ATTEMPTS):
            table = self.open()
            read_version = None if table is None else table.version()
            try:
                self._commit(table, frames, run_id)
                break
            except OSError as exc:  # the overwrite rewrites files a commit references: one may be gone
                _raise_damage(self, exc)
            except CommitFailedError:
                if attempt == COMMIT_ATTEMPTS - 1 or self._tickers_committed_since(read_version) & tickers:
                    raise
                time.sleep(0.05 * (attempt + 1))
        return DeltaTable(self.uri, storage_options=self.storage_options).version()

    def _commit(self, table: DeltaTable | None, frames: Mapping[TickerDay, pd.DataFrame], run_id: str) -> None:
        data = _with_partition_columns(frames, table)
        ranges = day_ranges(frames)
        tickers = sorted({r.ticker for r in ranges})
        # The table's first commit appends: a run of another ticker may create the table at the same moment, and a
        # predicate-less overwrite would then drop that run's partitions (seen with two runs started together).
        write_deltalake(table if table is not None else self.uri, data, partition_by=[TICKER],
                        mode="overwrite" if table is not None else "append",
                        predicate=predicate_sql(ranges) if table is not None else None,
                        schema_mode="merge" if table is not None else None,
                        storage_options=self.storage_options,
                        commit_properties=CommitProperties(custom_metadata={
                            RUN_ID_KEY: run_id, TICKERS_KEY: ",".join(tickers),
                            RANGES_KEY: " ".join(f"{r.ticker}:{r.first}..{r.last}" for r in ranges)}))

    def _tickers_committed_since(self, version: int | None) -> set[str]:
        """Tickers named by the commits after `version` (None: every commit of the table)."""
        commits = self.commits_since(-1 if version is None else version)
        return {t for c in commits for t in str(c.get(TICKERS_KEY, "")).split(",") if t}

    def last_commit(self) -> dict:
        return self.open().history(1)[0]

    def commits_since(self, version: int) -> list[dict]:
        table = self.open()
        if table is None or table.version() <= version:
            return []
        return [h for h in table.history(table.version() - version) if h.get("version", version + 1) > version]


def _raise_damage(table: TickerDayTable, exc: BaseException):
    """Raise the table's damage report in place of `exc` (the Rust error's frames say nothing), else `exc`."""
    error = damaged_error(table.uri, table.storage_options, exc)
    if error is exc:
        raise exc
    raise error from None


def _with_partition_columns(frames: Mapping[TickerDay, pd.DataFrame], table: DeltaTable | None) -> pa.Table:
    """One Arrow table of every partition's rows plus `ticker` and `day`, built in one concat (not per partition)."""
    for part, frame in frames.items():
        if DAY in frame.columns:
            raise ValueError(f"column '{DAY}' is reserved for the partition's day in ticker x day tables; "
                             f"rename it (partition {part.key})")
    non_empty = [(part, frame) for part, frame in frames.items() if len(frame)]
    if non_empty:
        whole = pd.concat([frame for _, frame in non_empty], ignore_index=True)
        lengths = [len(frame) for _, frame in non_empty]
        tickers = np.repeat(np.array([part.ticker for part, _ in non_empty], dtype=object), lengths)
        if TICKER in whole.columns and not (whole[TICKER].to_numpy(dtype=object) == tickers).all():
            wrong = whole.loc[whole[TICKER].to_numpy(dtype=object) != tickers, TICKER].iloc[0]
            raise ValueError(f"rows with ticker {wrong!r} returned for a partition of another ticker")
        whole[TICKER] = tickers
        whole[DAY] = np.repeat(np.array([part.day for part, _ in non_empty], dtype=object), lengths)
    else:
        whole = next(iter(frames.values())).iloc[0:0].assign(**{TICKER: pd.Series(dtype=object),
                                                                DAY: pd.Series(dtype=object)})
    arrow = pa.Table.from_pandas(whole, preserve_index=False)
    stored = pa.schema(table.schema().to_arrow()) if table is not None else pa.schema([])
    fields = []
    for field in arrow.schema:
        if pa.types.is_null(field.type):  # an all-empty object column: the stored type, else text
            index = stored.get_field_index(field.name)
            field = field.with_type(stored.field(index).type if index >= 0 else pa.string())
        elif field.name == DAY:
            field = field.with_type(pa.date32())
        fields.append(field)
    return arrow.cast(pa.schema(fields, metadata=arrow.schema.metadata))


def _to_nanoseconds(frame: pd.DataFrame) -> pd.DataFrame:
    """Delta stores microseconds; the assets' schemas (and the old Parquet files) use nanoseconds."""
    for name, dtype in frame.dtypes.items():
        if isinstance(dtype, pd.DatetimeTZDtype):
            frame[name] = frame[name].dt.as_unit("ns")
        elif pd.api.types.is_datetime64_dtype(dtype):
            frame[name] = frame[name].astype("datetime64[ns]")
    return frame


def is_old_layout(asset_dir: Path) -> bool:
    """A folder of the file-per-partition layout: ticker=T/<day>.parquet and no Delta log."""
    return asset_dir.is_dir() and not (asset_dir / "_delta_log").exists() and \
        any(asset_dir.glob("ticker=*/[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9].parquet"))
