"""Convert `storage/assets` from the file-per-partition layout to Delta tables, keeping the old files.

    python -m finpulse_assets.storage.migrate [--base-dir storage/assets]

Every asset folder of the old layout (ticker=T/<day>.parquet) becomes a Delta
table at the same path, written in one commit that covers every partition that
had a file (empty ones included), checked row for row against the files; the
old folder is then moved to `<base-dir>/.old-layout/<asset>` (delete it when
satisfied). Folders already in the new layout are left alone.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

import pandas as pd

from finpulse_assets.partitions import TickerDay
from finpulse_assets.settings import Settings
from finpulse_assets.storage.ticker_day_table import TickerDayTable, is_old_layout

BACKUP_DIR = ".old-layout"


def old_layout_assets(base_dir: Path) -> list[Path]:
    return sorted(p for p in base_dir.iterdir() if p.is_dir() and not p.name.startswith(".") and is_old_layout(p)) \
        if base_dir.is_dir() else []


def migrate_asset(asset_dir: Path) -> dict:
    frames = {}
    for path in sorted(asset_dir.glob("ticker=*/*.parquet")):
        part = TickerDay(path.parent.name.removeprefix("ticker="), pd.Timestamp(path.stem).date())
        frames[part] = pd.read_parquet(path)
    staging = asset_dir.with_name(f".{asset_dir.name}.migrating")
    shutil.rmtree(staging, ignore_errors=True)
    table = TickerDayTable(str(staging))
    table.write_run(frames, run_id="migration-from-file-per-partition")
    stored, _ = table.read(frames)
    rows = sum(len(f) for f in frames.values())
    if len(stored) != rows:
        shutil.rmtree(staging)
        raise RuntimeError(f"{asset_dir}: the Delta table holds {len(stored)} rows, the files {rows}; "
                           f"nothing was changed")
    backup = asset_dir.parent / BACKUP_DIR / asset_dir.name
    backup.parent.mkdir(parents=True, exist_ok=True)
    if backup.exists():
        raise FileExistsError(f"{backup} exists from an earlier migration; move it away first")
    os.replace(asset_dir, backup)
    os.replace(staging, asset_dir)
    return {"asset": asset_dir.name, "partitions": len(frames), "rows": rows, "old_files_kept_in": str(backup)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-dir", default=str(Path(Settings.from_env().storage_dir) / "assets"))
    args = parser.parse_args(argv)
    base = Path(args.base_dir)
    todo = old_layout_assets(base)
    if not todo:
        print(f"{base}: nothing in the old layout")
        return 0
    for asset_dir in todo:
        done = migrate_asset(asset_dir)
        print(f"{done['asset']}: {done['partitions']} partitions, {done['rows']} rows -> Delta table "
              f"{asset_dir}; old files kept in {done['old_files_kept_in']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
