"""Reading materializations for sensors: every record after a storage id, oldest first, in pages."""

from __future__ import annotations

from collections.abc import Iterator

from dagster import AssetKey, AssetRecordsFilter, DagsterInstance

PAGE = 1000


def materializations_after(instance: DagsterInstance, asset_key: AssetKey, after_storage_id: int | None) -> Iterator:
    cursor = None
    while True:
        result = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=asset_key, after_storage_id=after_storage_id),
            limit=PAGE, cursor=cursor, ascending=True)
        yield from result.records
        if not result.has_more:
            return
        cursor = result.cursor


def metadata_value(record, key: str):
    entry = record.asset_materialization.metadata.get(key)
    return None if entry is None else getattr(entry, "value", entry)
