"""storage_reconciliation: the instance's materializations against what the ticker x day tables hold.

Every RECONCILE_SECONDS the sensor compares, per ticker x day asset, the partitions the instance records as
materialized (with the `rows` of their latest materialization) with the rows each table holds, and reports
the counts on its tick (the UI's sensor page: "raw_prices: 1098 recorded, 1098 stored, 0 missing"). A
partition recorded with rows that storage no longer holds is listed with the table's path and fails the
tick, so the sensor shows as failing until the partitions are re-materialized or the objects restored; it
requests no runs itself (a re-materialization is the operator's call: the data may be gone upstream too).
Loads of such partitions fail the same way (io_managers/lost_partitions.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from dagster import AssetKey, DefaultSensorStatus, SensorEvaluationContext, SkipReason, sensor

from finpulse_assets.io_managers.delta import PartitionedDeltaIOManager
from finpulse_assets.io_managers.lost_partitions import Comparison, LostPartitionsError, compare, recorded_rows, stored_rows
from finpulse_assets.storage.ticker_day_table import TickerDayTable

STORAGE_RECONCILIATION_SENSOR = "storage_reconciliation"
RECONCILE_SECONDS = 300


def reconcile(instance, io_manager: PartitionedDeltaIOManager, asset_keys: Sequence[AssetKey]) -> list[Comparison]:
    comparisons = []
    for key in asset_keys:
        recorded = recorded_rows(instance, key)
        table = TickerDayTable("/".join([io_manager.base_dir.rstrip("/"), *key.path]), io_manager.storage_options)
        stored = stored_rows(table) if recorded else None
        comparisons.append(compare(key.to_user_string(), table, recorded, stored))
    return comparisons


def summary(comparisons: Sequence[Comparison]) -> str:
    return "; ".join(f"{c.asset}: {c.recorded} recorded ({c.recorded_with_rows} with rows), {len(c.lost)} missing"
                     for c in comparisons)


def build_storage_reconciliation_sensor(asset_keys: Sequence[AssetKey], interval: int = RECONCILE_SECONDS):
    keys = list(asset_keys)

    @sensor(name=STORAGE_RECONCILIATION_SENSOR, minimum_interval_seconds=interval,
            default_status=DefaultSensorStatus.RUNNING,
            description="Compares the partitions the instance records as materialized with the rows the ticker x "
                        "day tables hold; fails naming what storage lost.")
    def storage_reconciliation(context: SensorEvaluationContext, io_manager: PartitionedDeltaIOManager):
        comparisons = reconcile(context.instance, io_manager, keys)
        lost = [c for c in comparisons if c.lost]
        context.log.info(summary(comparisons))
        if lost:
            raise LostPartitionsError(" | ".join(c.message for c in lost))
        return SkipReason(f"storage holds every materialized partition: {summary(comparisons)}")

    return storage_reconciliation
