"""The monitoring dashboard: an Evidently workspace for `evidently ui` (`make dashboard`), one project per ticker.

Fed from what the Dagster instance recorded: each `drift_report` partition's
Evidently snapshot (kept next to its HTML report, timestamped with the day it
reports) and each `prediction_errors` partition's errors (metadata), turned
into a one-row Evidently report of that day. Panels per project: drift share of
the model inputs, number of drifted columns, absolute error and its rolling
MAE, over time.

`sync` is incremental: `synced.json` in the workspace maps every snapshot it
added to the Dagster storage id it came from, so a rerun adds only new or
rematerialized partitions (a rematerialized one replaces its old snapshot).

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

from finpulse_assets.monitoring.report_store import snapshot_json_path
from finpulse_assets.partitions import parse_key
from finpulse_assets.sensors.events import materializations_after, metadata_value

PROJECT_PREFIX = "FinPulse "
MANIFEST = "synced.json"
DRIFT_COUNT = "evidently:metric_v2:DriftedColumnsCount"
MEAN_VALUE = "evidently:metric_v2:MeanValue"
ERROR_COLUMNS = ["abs_error", "rolling_mae", "pct_error"]


def latest_by_partition(instance: DagsterInstance, asset: str) -> dict[str, object]:
    """{partition key: its latest materialization record}."""
    latest = {}
    for record in materializations_after(instance, AssetKey(asset), None):
        if record.partition_key is not None:
            latest[record.partition_key] = record  # oldest first: later records replace earlier ones
    return latest


def _panels():
    from evidently.sdk.models import PanelMetric
    from evidently.sdk.panels import bar_plot_panel, line_plot_panel

    return [
        line_plot_panel(title="Drift share of the model inputs", size="half", description=(
            "Share of the price and sentiment features whose 20-day window drifted from the training split "
            "(K-S, p <= 0.01); the retraining sensor fires at FINPULSE_DRIFT_SHARE_THRESHOLD (0.5)."),
            values=[PanelMetric(legend="drift share", metric=DRIFT_COUNT, metric_labels={"value_type": "share"})]),
        bar_plot_panel(title="Drifted columns", size="half", description="Number of model inputs that drifted.",
                       values=[PanelMetric(legend="drifted columns", metric=DRIFT_COUNT,
                                           metric_labels={"value_type": "count"})]),
        line_plot_panel(title="Prediction error (dollars)", size="full", description=(
            "|predicted - actual| close of each forecast, by target day, and the MAE of the last 20 forecasts."),
            values=[PanelMetric(legend="absolute error", metric=MEAN_VALUE, metric_labels={"column": "abs_error"}),
                    PanelMetric(legend="rolling MAE", metric=MEAN_VALUE, metric_labels={"column": "rolling_mae"})]),
    ]


def _project(workspace, ticker: str):
    name = PROJECT_PREFIX + ticker
    found = [p for p in workspace.list_projects() if p.name == name]
    if found:
        return found[0]
    project = workspace.create_project(name)
    project.description = f"Drift and prediction error of {ticker}, from the FinPulse Dagster assets"
    for panel in _panels():
        project.dashboard.add_panel(panel)
    project.save()
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


def _sources(instance: DagsterInstance, missing: list[str]) -> Iterator[tuple[str, str, int, object]]:
    """(manifest key, ticker, storage id, snapshot loader) of every partition with something to show;
    drift_report partitions whose snapshot file is missing are appended to `missing`."""
    from evidently.core.report import Snapshot

    for key, record in latest_by_partition(instance, "drift_report").items():
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
        for key, ticker, storage_id, load in _sources(instance, missing):
            if ticker not in projects:
                projects[ticker] = _project(workspace, ticker)
            entry = manifest.get(key)
            if entry and entry["storage_id"] == storage_id:
                kept += 1
                continue
            project_id = projects[ticker].id
            if entry:
                workspace.delete_run(project_id, entry["snapshot_id"])
            ref = workspace.add_run(project_id, load())
            manifest[key] = {"storage_id": storage_id, "snapshot_id": str(ref.id)}
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
