"""Ticker x day assets as Delta Lake tables (one commit per asset per run); others as one file.

A partitioned asset returns `{partition_key: DataFrame}` covering every
partition of its run (empty frames included); `handle_output` replaces exactly
those partitions in one commit of `<base_dir>/<asset>` (see
storage/ticker_day_table.py). Loading a range of upstream partitions (a
lookback window, a whole backfill) returns one DataFrame in (ticker, day)
order; partitions never written (allowed by the partition mapping) have no rows.

`base_dir` may be a local folder or an object-store URI (`s3://bucket/prefix`,
with `storage_options` such as `AWS_ENDPOINT_URL` for S3-compatible stores)
for the ticker x day tables; unpartitioned assets (a model card as JSON, a
training set as Parquet) stay single local files, written atomically, under
`local_dir` (default: `base_dir`, which must then be local).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
from dagster import ConfigurableIOManager, InputContext, OutputContext

from finpulse_assets.deploy.run_isolation import end_with_run_worker
from finpulse_assets.io_managers.lost_partitions import check_loaded
from finpulse_assets.partitions import parse_key, parse_keys
from finpulse_assets.storage.concurrency import Read, check_reads_unchanged, record_read, ticker_locks
from finpulse_assets.storage.record_window import hold_for_recording
from finpulse_assets.storage.ticker_day_table import TickerDayTable, is_old_layout

MIGRATE_COMMAND = "python -m finpulse_assets.storage.migrate"


class OldLayoutError(RuntimeError):
    pass


class PartitionedDeltaIOManager(ConfigurableIOManager):
    base_dir: str
    storage_options: dict[str, str] = {}
    local_dir: str = ""

    def setup_for_execution(self, context) -> None:
        # Each step initializes its IO manager in its own process: from here it ends with its run worker.
        end_with_run_worker()

    def _file_dir(self, name: str) -> Path:
        """Where unpartitioned assets are kept: always a local folder."""
        folder = self.local_dir or self.base_dir
        if "://" in folder:
            raise ValueError(f"{name} is unpartitioned and kept as a local file, but base_dir is {self.base_dir}: "
                             f"set local_dir to a local folder")
        return Path(folder)

    def _storage_root(self, name: str) -> Path:
        """The storage folder the unpartitioned assets' folder sits in (`<storage>/assets`): models live under it."""
        return self._file_dir(name).resolve().parent

    def _asset_uri(self, context: InputContext | OutputContext) -> str:
        uri = "/".join([self.base_dir.rstrip("/"), *context.asset_key.path])
        if "://" not in uri and is_old_layout(Path(uri)):
            raise OldLayoutError(
                f"{uri} holds the old layout (one Parquet file per partition, ticker=T/<day>.parquet); "
                f"this version stores a Delta table there. Convert it once with "
                f"`{MIGRATE_COMMAND} --base-dir {self.base_dir}` (the old files are kept aside), or "
                f"point FINPULSE_STORAGE_DIR at a new folder.")
        return uri

    def table(self, context: InputContext | OutputContext) -> TickerDayTable:
        return TickerDayTable(self._asset_uri(context), self.storage_options)

    def stored_row_counts(self, asset_key, parts) -> dict[str, int]:
        """{partition key: rows stored} for `parts` of the asset `asset_key`, read from its table (not the instance)."""
        uri = "/".join([self.base_dir.rstrip("/"), *asset_key.path])
        return {str(p.key): n for p, n in TickerDayTable(uri, self.storage_options).row_counts(parts).items()}

    def handle_output(self, context: OutputContext, obj) -> None:
        if not context.has_asset_partitions:
            path = self._file_dir(context.asset_key.to_user_string()).joinpath(*context.asset_key.path)
            target = path.with_suffix(".parquet" if isinstance(obj, pd.DataFrame) else ".json")
            root = self._storage_root(context.asset_key.to_user_string())
            _write_file_atomically(target, obj if isinstance(obj, pd.DataFrame) else with_storage_root(obj, root))
            return
        name = context.asset_key.to_user_string()
        expected = set(context.asset_partition_keys)
        if not isinstance(obj, Mapping):
            raise TypeError(f"{name}: a partitioned asset must return {{partition_key: DataFrame}}, "
                            f"got {type(obj).__name__}")
        missing = expected - set(obj)
        if missing:
            raise ValueError(f"{name}: no output for partitions {sorted(missing)[:5]} ({len(missing)} in all)")
        frames = {parse_key(k): frame for k, frame in obj.items() if k in expected}
        table = self.table(context)
        with ticker_locks(self.base_dir, [p.ticker for p in frames]):
            check_reads_unchanged(context.run_id, context.step_key, name)
            version = table.write_run(frames, context.run_id)
        hold_for_recording(context.run_id, name)  # Dagster records the materialization next: one run at a time
        context.log.debug(f"{name}: {len(frames)} partitions committed as table version {version}")

    def load_input(self, context: InputContext):
        if context.has_asset_partitions:
            parts = parse_keys(context.asset_partition_keys)
            table = self.table(context)
            frame, version = table.read(parts)
            if context._step_context is not None:  # private: no public "inside a step" test (as below)
                check_loaded(context.step_context.instance, context.asset_key, table, parts, len(frame), version)
            # Loads outside a step (load_asset_value) write nothing, so they need no concurrency record.
            if version is not None and context._step_context is not None:  # private: no public "inside a step" test
                # InputContext has no public run id or step key; the step context is the only source.
                step = context.step_context
                record_read(step.run_id, step.step.key, Read(context.asset_key.to_user_string(), table, version,
                                                                    frozenset(p.ticker for p in parts)))
            return frame
        path = self._file_dir(context.asset_key.to_user_string()).joinpath(*context.asset_key.path)
        parquet, js = path.with_suffix(".parquet"), path.with_suffix(".json")
        if parquet.exists():
            return pd.read_parquet(parquet)
        if js.exists():
            return paths_in_this_storage(json.loads(js.read_text()), self._storage_root(context.asset_key.to_user_string()))
        raise FileNotFoundError(f"{context.asset_key.to_user_string()} has not been materialized: "
                                f"neither {parquet} nor {js} exists")


# A JSON asset value (a model card) records the storage folder it was written in. Loaded from another
# storage folder (a copy, a move), its paths under the old folder point at the same relative path under this
# one where that exists, so a copied storage folder loads its own model files. The file keeps absolute paths.
ROOT_KEY = "_finpulse_storage_root"


def with_storage_root(value, root: Path):
    return {**value, ROOT_KEY: str(root)} if isinstance(value, dict) else value


def paths_in_this_storage(value, root: Path):
    """`value` as loaded by the IO manager of storage folder `root` (see ROOT_KEY); the key itself removed."""
    if not isinstance(value, dict) or ROOT_KEY not in value:
        return value
    value = dict(value)
    old = Path(value.pop(ROOT_KEY))
    return value if old == root else _moved(value, old, root)


def _moved(value, old: Path, root: Path):
    if isinstance(value, dict):
        return {k: _moved(v, old, root) for k, v in value.items()}
    if isinstance(value, list):
        return [_moved(v, old, root) for v in value]
    if isinstance(value, str) and os.path.isabs(value):
        try:
            here = root / Path(value).relative_to(old)
        except ValueError:
            return value
        return str(here) if here.exists() else value
    return value


def _write_file_atomically(path: Path, value) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        if isinstance(value, pd.DataFrame):
            value.to_parquet(tmp, index=False)
        else:
            tmp.write_text(json.dumps(value, indent=2, default=str))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
