"""One Parquet file per partition, written atomically, loaded as ranges.

A partitioned asset returns `{partition_key: DataFrame}` covering every
partition of its run (empty frames included, so closed days exist as files).
All files are first written to temporary names and only renamed into place
once every one of them was written, so a run that fails part-way leaves every
partition that was materialized before exactly as it was.

Loading a range of upstream partitions (a lookback window, a whole backfill)
returns one DataFrame, the concatenation in partition order; partitions with
no file yet (allowed by the partition mapping) are skipped.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
from dagster import ConfigurableIOManager, InputContext, OutputContext

from finpulse_assets.partitions import parse_key


class PartitionedParquetIOManager(ConfigurableIOManager):
    base_dir: str

    def _asset_dir(self, context: InputContext | OutputContext) -> Path:
        return Path(self.base_dir).joinpath(*context.asset_key.path)

    def partition_path(self, asset_dir: Path, partition_key: str) -> Path:
        td = parse_key(partition_key)
        return asset_dir / f"ticker={td.ticker}" / f"{td.day.isoformat()}.parquet"

    def handle_output(self, context: OutputContext, obj) -> None:
        asset_dir = self._asset_dir(context)
        if context.has_asset_partitions:
            expected = set(context.asset_partition_keys)
            if not isinstance(obj, Mapping):
                raise TypeError(f"{context.asset_key.to_user_string()}: a partitioned asset must return "
                                f"{{partition_key: DataFrame}}, got {type(obj).__name__}")
            missing = expected - set(obj)
            if missing:
                raise ValueError(f"{context.asset_key.to_user_string()}: no output for partitions "
                                 f"{sorted(missing)[:5]} ({len(missing)} in all)")
            targets = {self.partition_path(asset_dir, k): frame for k, frame in obj.items() if k in expected}
        elif isinstance(obj, pd.DataFrame):
            targets = {asset_dir.with_suffix(".parquet"): obj}
        else:
            targets = {asset_dir.with_suffix(".json"): obj}
        _write_all_atomically(targets)

    def load_input(self, context: InputContext):
        asset_dir = self._asset_dir(context)
        if context.has_asset_partitions:
            paths = [self.partition_path(asset_dir, k) for k in context.asset_partition_keys]
            frames = [pd.read_parquet(p) for p in paths if p.exists()]
            frames = [f for f in frames if len(f)] or frames[:1]
            if not frames:
                return pd.DataFrame()
            return pd.concat(frames, ignore_index=True)
        parquet, js = asset_dir.with_suffix(".parquet"), asset_dir.with_suffix(".json")
        if parquet.exists():
            return pd.read_parquet(parquet)
        if js.exists():
            return json.loads(js.read_text())
        raise FileNotFoundError(f"{context.asset_key.to_user_string()} has not been materialized: "
                                f"neither {parquet} nor {js} exists")


def _write_all_atomically(targets: Mapping[Path, object]) -> None:
    staged: list[tuple[Path, Path]] = []
    token = uuid.uuid4().hex[:8]
    try:
        for path, value in targets.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{token}.tmp")
            if isinstance(value, pd.DataFrame):
                value.to_parquet(tmp, index=False)
            else:
                tmp.write_text(json.dumps(value, indent=2, default=str))
            staged.append((tmp, path))
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        for path in targets:
            path.with_name(f".{path.name}.{token}.tmp").unlink(missing_ok=True)
        raise
    for tmp, path in staged:
        os.replace(tmp, path)
