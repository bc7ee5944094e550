"""Cost of per-partition metadata through Dagster's public API vs the accumulator shortcut.

    nice python benchmarks/partition_metadata.py --days 91,365

One ticker x N days asset run (in-memory instance, no IO) that attaches the same five metadata entries
to every partition: `context.add_asset_metadata(partition_key=...)` (public; it re-lists the run's
partition range to validate each key) vs `partitioned._add_partition_metadata` (one accumulator update
per partition) vs none. Seconds of the whole run, the metadata call share shown by difference.
"""

import argparse
import json
import time
from datetime import date, timedelta

from dagster import DagsterInstance, MetadataValue, Output, asset, materialize

from finpulse_assets.assets.partitioned import _add_partition_metadata
from finpulse_assets.io_managers.delta import PartitionedDeltaIOManager
from finpulse_assets.partitions import range_tags, ticker_day_partitions, ticker_partitions
from finpulse_assets.settings import Settings


def _values(key):
    return {"rows": 1, "rows_rejected": 0, "rejected_by_reason": MetadataValue.json({}), "status": "trading day",
            "preview": MetadataValue.md("_no rows_")}


def build(mode, partitions_def):
    @asset(partitions_def=partitions_def, name="numbers")
    def numbers(context):
        keys = context.partition_keys
        if mode == "public":
            for key in keys:
                context.add_asset_metadata(_values(key), partition_key=key)
        elif mode == "accumulator":
            _add_partition_metadata(context, {key: _values(key) for key in keys})
        return Output({k: None for k in keys})
    return numbers


class NullIO(PartitionedDeltaIOManager):
    def handle_output(self, context, obj):
        return None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", default="91,365")
    args = parser.parse_args()
    results = []
    for days in map(int, args.days.split(",")):
        start = date(2022, 1, 1)
        settings = Settings(start=start.isoformat(), end=(start + timedelta(days=days)).isoformat(), tickers=("AAA",))
        parts = ticker_day_partitions(settings)
        row = {"days": days}
        for mode in ("none", "accumulator", "public"):
            with DagsterInstance.ephemeral() as instance:
                instance.add_dynamic_partitions(ticker_partitions.name, ["AAA"])
                started = time.perf_counter()
                assert materialize([build(mode, parts)], instance=instance, resources={"io_manager": NullIO(base_dir="/")},
                                   tags=range_tags("AAA", start, start + timedelta(days=days - 1))
                                   ).success
                row[f"{mode}_s"] = round(time.perf_counter() - started, 2)
        row["public_minus_accumulator_ms_per_partition"] = round(1000 * (row["public_s"] - row["accumulator_s"]) / days, 1)
        row["accumulator_minus_none_ms_per_partition"] = round(1000 * (row["accumulator_s"] - row["none_s"]) / days, 2)
        print(json.dumps(row), flush=True)
        results.append(row)


if __name__ == "__main__":
    main()
