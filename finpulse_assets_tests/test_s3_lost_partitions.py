"""A table deleted from the object store behind Dagster's back: the next load fails naming the partition and the
storage path (never an empty input), and storage_reconciliation reports the difference with counts."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from dagster import AssetIn, AssetKey, DagsterInstance, asset, build_sensor_context, materialize

from finpulse_assets.io_managers.delta import PartitionedDeltaIOManager
from finpulse_assets.io_managers.lost_partitions import LostPartitionsError
from finpulse_assets.partitions import key_for, parse_keys
from finpulse_assets.sensors.storage_reconciliation import build_storage_reconciliation_sensor, reconcile
from finpulse_assets_tests.s3_server import create_bucket, s3_endpoint  # noqa: F401 (fixture)
from finpulse_assets_tests.test_delta_io_manager import PARTS, _range_tags


@asset(partitions_def=PARTS)
def counted(context):
    frames = {}
    for p in parse_keys(context.partition_keys):
        # A weekend day holds no rows: recorded with rows 0, and absent from storage by right.
        rows = 0 if p.day.weekday() >= 5 else 2
        frames[str(p.key)] = pd.DataFrame({"ticker": [p.ticker] * rows, "v": [1.0] * rows})
        context.add_asset_metadata({"rows": rows}, partition_key=str(p.key))
    return frames


@asset(partitions_def=PARTS, ins={"counted": AssetIn()})
def reader(context, counted: pd.DataFrame):
    return {k: counted.iloc[0:0] for k in context.partition_keys}


def _delete_prefix(endpoint, bucket: str, prefix: str) -> int:
    client = endpoint.client()
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]
    for key in keys:
        client.delete_object(Bucket=bucket, Key=key)
    return len(keys)


def _error(result) -> str:
    """The step failure's message with its causes (the UI shows the same chain)."""
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    messages, error = [], failures[0].step_failure_data.error if failures else None
    while error is not None:
        messages.append(error.message)
        error = error.cause
    return "\n".join(messages)


def test_a_deleted_table_fails_the_next_load_by_partition_and_the_reconciliation_counts_it(s3_endpoint):
    bucket = create_bucket(s3_endpoint, "finpulse-lost")
    io = PartitionedDeltaIOManager(base_dir=f"s3://{bucket}/assets", storage_options=s3_endpoint.storage_options())
    instance = DagsterInstance.ephemeral()
    # 2024-01-01..07 of AAA: Mon..Fri with rows, Sat and Sun without.
    assert materialize([counted, reader], resources={"io_manager": io}, instance=instance,
                       tags=_range_tags("AAA", date(2024, 1, 1), date(2024, 1, 7))).success
    (before,) = reconcile(instance, io, [AssetKey("counted")])
    assert (before.recorded, before.recorded_with_rows, before.lost) == (7, 5, [])

    assert _delete_prefix(s3_endpoint, bucket, "assets/counted/") > 0
    one = key_for("AAA", date(2024, 1, 3))
    result = materialize([counted, reader], selection=[reader], resources={"io_manager": io}, instance=instance,
                         partition_key=one, raise_on_error=False)
    assert not result.success
    message = _error(result)
    assert "counted" in message and one in message and f"s3://{bucket}/assets/counted" in message, message

    (after,) = reconcile(instance, io, [AssetKey("counted")])
    assert after.recorded == 7 and len(after.lost) == 7   # no table at all: every recorded partition is gone
    sensor = build_storage_reconciliation_sensor([AssetKey("counted")])
    with pytest.raises(LostPartitionsError, match=r"counted: 7 of 7 partitions .* missing from storage"):
        sensor(build_sensor_context(instance=instance, resources={"io_manager": io}))

    # One day written again recreates the table without the others: the weekdays with rows are still lost,
    # the weekend days (recorded with no rows) are not, and the re-written day loads.
    monday = key_for("AAA", date(2024, 1, 1))
    assert materialize([counted], resources={"io_manager": io}, instance=instance, partition_key=monday).success
    (partial,) = reconcile(instance, io, [AssetKey("counted")])
    assert partial.lost == sorted(key_for("AAA", date(2024, 1, d)) for d in (2, 3, 4, 5))
    assert materialize([counted, reader], selection=[reader], resources={"io_manager": io}, instance=instance,
                       partition_key=monday).success
    weekend = key_for("AAA", date(2024, 1, 6))
    assert materialize([counted, reader], selection=[reader], resources={"io_manager": io}, instance=instance,
                       partition_key=weekend).success
    result = materialize([counted, reader], selection=[reader], resources={"io_manager": io}, instance=instance,
                         partition_key=one, raise_on_error=False)
    assert not result.success and one in _error(result)


def test_the_reconciliation_passes_with_counts_when_storage_holds_everything(s3_endpoint):
    bucket = create_bucket(s3_endpoint, "finpulse-whole")
    io = PartitionedDeltaIOManager(base_dir=f"s3://{bucket}/assets", storage_options=s3_endpoint.storage_options())
    instance = DagsterInstance.ephemeral()
    assert materialize([counted], resources={"io_manager": io}, instance=instance,
                       tags=_range_tags("BBB", date(2024, 1, 1), date(2024, 1, 7))).success
    sensor = build_storage_reconciliation_sensor([AssetKey("counted")])
    skip = sensor(build_sensor_context(instance=instance, resources={"io_manager": io}))
    assert "counted: 7 recorded (5 with rows), 0 missing" in skip.skip_message
