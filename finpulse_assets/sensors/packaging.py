"""packaging_sensor: a new pair of champion model versions that passed their blocking checks is packaged.

Each tick looks at the latest lstm_onnx and finbert_onnx materializations: the
`bento` asset packages exactly those. It requests `bento` when both are
`registry_status: champion` with every blocking check of their run passed, and
their pair of model versions differs from the pair packaged last (the latest
`bento` materialization's `model_versions`, whoever launched it) and from the
pair this sensor requested last (its cursor). Rematerializing a model to the same
version (same config and data: same content key) packages nothing. A candidate,
a model whose check failed, or a run still going (its checks may be coming)
packages nothing either.
"""

from __future__ import annotations

import json

from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DagsterEventType,
    DefaultSensorStatus,
    RunRequest,
    SensorResult,
    SkipReason,
    sensor,
)
from finpulse_assets.dagster_private import FINISHED_STATUSES

from finpulse_assets.sensors.events import metadata_value

PACKAGING_SENSOR = "packaging_sensor"
# The roles as the bento's `model_versions` metadata names them.
MODEL_ASSETS = {"forecaster": AssetKey("lstm_onnx"), "sentiment": AssetKey("finbert_onnx")}
BENTO = AssetKey("bento")


def check_results(instance, run_id: str, asset_key: AssetKey) -> dict[str, bool]:
    """{check name: passed} of the asset's check evaluations in the run."""
    results = {}
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION):
        evaluation = entry.dagster_event.event_specific_data
        if evaluation.asset_key == asset_key:
            results[evaluation.check_name] = evaluation.passed
    return results


def packaging_decision(instance, record) -> tuple[bool | None, str]:
    """(True, why) package it; (False, why) never; (None, why) its run is still going."""
    run = instance.get_run_by_id(record.run_id)
    name = record.asset_key.to_user_string()
    if run is None or run.status not in FINISHED_STATUSES:
        return None, f"{name}: run {record.run_id[:8]} not finished"
    status = metadata_value(record, "registry_status")
    if status != "champion":
        return False, f"{name} {metadata_value(record, 'model_version')}: {status or 'no registry status'}, not champion"
    checks = check_results(instance, record.run_id, record.asset_key)
    if not checks or not all(checks.values()):
        failed = sorted(k for k, ok in checks.items() if not ok) or ["no check evaluation recorded"]
        return False, f"{name}: blocking checks did not pass ({', '.join(failed)})"
    return True, f"{name} {metadata_value(record, 'model_version')}: champion, checks {sorted(checks)} passed"


def latest_record(instance, asset_key: AssetKey):
    result = instance.fetch_materializations(AssetRecordsFilter(asset_key=asset_key), limit=1, ascending=False)
    return result.records[0] if result.records else None


def packaged_versions(instance) -> dict | None:
    """{"forecaster": v, "sentiment": v} of the latest bento materialization, or None."""
    record = latest_record(instance, BENTO)
    return metadata_value(record, "model_versions") if record else None


def build_packaging_sensor(packaging_job):
    @sensor(name=PACKAGING_SENSOR, job=packaging_job, default_status=DefaultSensorStatus.RUNNING,
            minimum_interval_seconds=60)
    def packaging_sensor(context):
        """Requests `bento` (packaging_job) when the latest lstm_onnx and finbert_onnx are champions that passed
        their blocking checks and their pair of model versions has not been packaged (or requested) yet."""
        versions, notes = {}, []
        for role, key in MODEL_ASSETS.items():
            record = latest_record(context.instance, key)
            if record is None:
                notes.append(f"{key.to_user_string()}: never materialized")
                continue
            package, why = packaging_decision(context.instance, record)
            if package:
                versions[role] = metadata_value(record, "model_version")
            else:
                notes.append(why)
        if notes:
            return SensorResult(skip_reason=SkipReason("; ".join(notes)), cursor=context.cursor)
        requested = json.loads(context.cursor) if context.cursor else None
        if versions in (packaged_versions(context.instance), requested):
            return SensorResult(skip_reason=SkipReason(f"model versions {versions} already packaged"),
                                cursor=context.cursor)
        pair = json.dumps(versions, sort_keys=True)
        context.log.info(f"packaging model versions {versions}")
        return SensorResult(cursor=pair, run_requests=[RunRequest(
            run_key=f"{packaging_job.name}:{versions['forecaster']}:{versions['sentiment']}",
            tags={"finpulse/trigger": "champion",
                  "finpulse/champions": f"lstm_onnx {versions['forecaster']}, finbert_onnx {versions['sentiment']}"})])

    return packaging_sensor
