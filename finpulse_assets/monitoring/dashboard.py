"""The monitoring dashboard: an Evidently workspace for `evidently ui` (`make dashboard`), one project per ticker.

Fed from what the Dagster instance recorded: each `drift_report` partition's
Evidently snapshot (kept next to its HTML report, timestamped with the day it
reports) and each `prediction_errors` partition's errors (metadata), turned
into a one-row Evidently report of that day, and a summary of every calendar day
of the monitored range (day_summaries.py: drift shares, retraining thresholds,
model versions). Panels: dashboard_panels.py.

`sync` is incremental: `synced.json` in the workspace maps every snapshot it
added to what it was made from (a Dagster storage id; a day summary's values),
so a rerun adds only new or changed ones (which replace their old snapshot).

    python -m finpulse_assets.monitoring.dashboard sync [--workspace DIR]
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
from dagster import AssetKey, DagsterInstance

from finpulse_assets.monitoring.dashboard_panels import dashboard
from finpulse_assets.monitoring.day_summaries import day_snapshot, day_summaries
from finpulse_assets.monitoring.report_store import snapshot_json_path
from finpulse_assets.monitoring.settings import MonitoringSettings
from finpulse_assets.partitions import parse_key
from finpulse_assets.sensors.events import materializations_after, metadata_value

PROJECT_PREFIX = "FinPulse "
MANIFEST = "synced.json"
ERROR_COLUMNS = ["abs_error", "rolling_mae", "pct_error"]


def latest_by_partition(instance: DagsterInstance, asset: str) -> dict[str, object]:
    """{partition key: its latest materialization record}."""
    latest = {}
    for record in materializations_after(instance, AssetKey(asset), None):
        if record.partition_key is not None:
            latest[record.partition_key] = record  # oldest first: later records replace earlier ones
    return latest


def _project(workspace, ticker: str):
    """The ticker's project, its dashboard set to `dashboard_panels.dashboard()` when its panels differ (a
    workspace synced by an older FinPulse gets the current panels; snapshots stay)."""
    name = PROJECT_PREFIX + ticker
    found = [p for p in workspace.list_projects() if p.name == name]
    if found:
        project = found[0]
    else:
        project = workspace.create_project(name)
        project.description = f"Drift and prediction error of {ticker}, from the FinPulse Dagster assets"
        project.save()
    wanted = dashboard()
    saved = workspace.get_dashboard(project.id)
    if [(p.title, p.values) for p in saved.panels] != [(p.title, p.values) for p in wanted.panels]:
        workspace.save_dashboard(project.id, wanted)
    return project


def error_snapshot(record):
    """A one-row Evidently report of a prediction_errors partition, timestamped with its target day."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import MeanValue

    row = {c: float(metadata_value(record, c)) for c in ERROR_COLUMNS}
    frame = pd.DataFrame([row])
    dataset = Dataset.from_pandas(frame, data_definition=DataDefinition(numerical_columns=ERROR_COLUMNS))
    day = pd.Timestamp(parse_key(record.partition_key).day).to_pydatetime()
    return Report([MeanValue(column=c) for c in ERROR_COLUMNS]).run(dataset, None, timestamp=day)


def _sources(instance: DagsterInstance, missing: list[str]) -> Iterator[tuple[str, str, object, object]]:
    """(manifest key, ticker, source stamp, snapshot loader) of every partition with something to show, and
    of every day summary; drift_report partitions whose snapshot file is missing are appended to `missing`."""
    from evidently.core.report import Snapshot

    drift_reports = latest_by_partition(instance, "drift_report")
    for summary in day_summaries(drift_reports, MonitoringSettings.from_env()):
        yield f"day|{summary.day}|{summary.ticker}", summary.ticker, summary.stamp(), lambda d=summary: day_snapshot(d)
    for key, record in drift_reports.items():
        report_file = metadata_value(record, "report_file")
        if report_file is None:  # a closed day or a day without a report
            continue
        path = snapshot_json_path(report_file)
        if not path.is_file():  # written before snapshots were kept: named in the result, not a failure of all
            missing.append(key)
            continue
        yield f"drift_report|{key}", parse_key(key).ticker, record.storage_id, lambda p=path: Snapshot.load(p)
    for key, record in latest_by_partition(instance, "prediction_errors").items():
        if metadata_value(record, "abs_error") is None:  # no forecast for that day
            continue
        yield f"prediction_errors|{key}", parse_key(key).ticker, record.storage_id, lambda r=record: error_snapshot(r)


def sync(instance: DagsterInstance, workspace_dir: Path) -> dict:
    """Add the snapshots the workspace lacks; returns {"added": n, "kept": n, "projects": [...],
    "missing_snapshots": [drift_report partitions reported before snapshot files were kept]}."""
    from evidently.ui.workspace import Workspace

    workspace_dir.mkdir(parents=True, exist_ok=True)
    workspace = Workspace.create(str(workspace_dir))
    manifest_path = workspace_dir / MANIFEST
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    projects, added, kept, missing = {}, 0, 0, []
    try:
        for key, ticker, source, load in _sources(instance, missing):
            if ticker not in projects:
                projects[ticker] = _project(workspace, ticker)
            entry = manifest.get(key)
            if entry and entry.get("source", entry.get("storage_id")) == source:  # "storage_id": older manifests
                kept += 1
                continue
            project_id = projects[ticker].id
            if entry:
                workspace.delete_run(project_id, entry["snapshot_id"])
            ref = workspace.add_run(project_id, load())
            manifest[key] = {"source": source, "snapshot_id": str(ref.id)}
            added += 1
    finally:  # what was added is recorded even when a later partition fails
        tmp = manifest_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(manifest))
        os.replace(tmp, manifest_path)
    return {"added": added, "kept": kept, "projects": sorted(PROJECT_PREFIX + t for t in projects),
            "missing_snapshots": missing}


def main(argv=None) -> int:
    from finpulse_assets.settings import Settings

    parser = argparse.ArgumentParser(prog="finpulse-dashboard")
    parser.add_argument("command", choices=["sync"])
    parser.add_argument("--workspace", default="", help="default: <storage>/evidently_workspace")
    args = parser.parse_args(argv)
    workspace = Path(args.workspace or Path(Settings.from_env().storage_dir) / "evidently_workspace")
    with DagsterInstance.get() as instance:
        result = sync(instance, workspace)
    print(f"Evidently workspace {workspace}: {result['added']} snapshots added, {result['kept']} already there; "
          f"projects: {', '.join(result['projects']) or 'none (materialize drift_report and prediction_errors)'}")
    if result["missing_snapshots"]:
        print(f"{len(result['missing_snapshots'])} drift_report partitions have an HTML report but no Evidently "
              f"snapshot next to it (written before snapshots were kept), e.g. {result['missing_snapshots'][0]}: "
              "rematerialize them (a monitoring_job backfill) to see them on the dashboard")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
