"""Partitions the instance records as materialized that storage no longer holds: an error, never an empty input.

A ticker x day table can lose what the instance still records (its objects deleted behind Dagster's back,
an object store without persistence restarted, a storage folder pointed elsewhere). Reading such a
partition would return no rows, which downstream assets take for "no data that day". So a load compares
the instance's latest materialization of each partition (its `rows` metadata) with the rows the table
holds, and `storage_reconciliation` (sensors/storage_reconciliation.py) reports the same comparison for
whole tables with counts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import pyarrow.compute as pc
from dagster import AssetKey, AssetRecordsFilter, DagsterInstance

from finpulse_assets.partitions import TickerDay, key_for
from finpulse_assets.storage.ticker_day_table import DAY, TICKER, TickerDayTable

ROWS_METADATA = "rows"
PAGE = 1000


class LostPartitionsError(RuntimeError):
    """The instance records partitions as materialized with rows that storage does not hold."""


@dataclass(frozen=True)
class Comparison:
    asset: str
    uri: str
    recorded: int            # partitions the instance records as materialized
    recorded_with_rows: int  # of those, with rows > 0
    lost: list[str]          # recorded with rows > 0 (or the whole table gone), stored with none

    @property
    def message(self) -> str:
        shown = ", ".join(self.lost[:5]) + (f" and {len(self.lost) - 5} more" if len(self.lost) > 5 else "")
        return (f"{self.asset}: {len(self.lost)} of {self.recorded} partitions the instance records as "
                f"materialized are missing from storage at {self.uri}: {shown}. Re-materialize them "
                f"(a backfill of these partitions), or restore the objects; reading them would return no rows.")


def recorded_rows(instance: DagsterInstance, asset_key: AssetKey, partition_keys: Iterable[str] | None = None
                  ) -> dict[str, int | None]:
    """The `rows` metadata of the latest materialization of each partition (None when it has none)."""
    keys = None if partition_keys is None else list(partition_keys)
    latest: dict[str, int | None] = {}
    cursor = None
    while True:
        page = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=asset_key, asset_partitions=keys), limit=PAGE, cursor=cursor,
            ascending=False)
        for record in page.records:
            materialization = record.asset_materialization
            if materialization is None or materialization.partition is None:
                continue
            if materialization.partition not in latest:
                value = materialization.metadata.get(ROWS_METADATA)
                latest[materialization.partition] = None if value is None else int(value.value)
        if not page.has_more:
            return latest
        cursor = page.cursor


def stored_rows(table: TickerDayTable, parts: Iterable[TickerDay] | None = None) -> Counter[str] | None:
    """Rows per partition key in the table (only its ticker and day columns are read); None: no table."""
    delta = table.open()
    if delta is None:
        return None
    parts = None if parts is None else list(parts)
    filter_ = None
    if parts is not None:
        tickers = sorted({p.ticker for p in parts})
        days = sorted({p.day for p in parts})
        filter_ = pc.field(TICKER).isin(tickers) & pc.field(DAY).isin(days)
    arrow = delta.to_pyarrow_dataset().to_table(columns=[TICKER, DAY], filter=filter_)
    return Counter(key_for(t, d) for t, d in zip(arrow.column(TICKER).to_pylist(), arrow.column(DAY).to_pylist()))


def compare(asset: str, table: TickerDayTable, recorded: Mapping[str, int | None],
            stored: Counter[str] | None) -> Comparison:
    with_rows = {key for key, rows in recorded.items() if rows}
    if stored is None:
        # No table at all: every recorded partition is gone (an empty partition, too, was written there).
        lost = sorted(recorded)
    else:
        lost = sorted(key for key in with_rows if not stored.get(key))
    return Comparison(asset, table.uri, len(recorded), len(with_rows), lost)


def check_loaded(instance: DagsterInstance, asset_key: AssetKey, table: TickerDayTable,
                 parts: list[TickerDay], rows_read: int, version_read: int | None) -> None:
    """LostPartitionsError when partitions being loaded (`rows_read` rows from table version `version_read`,
    None: no table) are recorded as materialized with rows but not stored."""
    recorded = recorded_rows(instance, asset_key, [key_for(p.ticker, p.day) for p in parts])
    if not recorded:
        return
    if version_read is not None and rows_read >= sum(rows or 0 for rows in recorded.values()):
        return   # every recorded row is there (the common case: no per-partition scan)
    comparison = compare(asset_key.to_user_string(), table, recorded, stored_rows(table, parts))
    if comparison.lost:
        raise LostPartitionsError(comparison.message)
