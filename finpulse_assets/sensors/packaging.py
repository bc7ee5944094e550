"""packaging_sensor: a new champion model that passed its blocking checks is packaged (the `bento` asset).

It reads lstm_onnx and finbert_onnx materializations after its cursor (the last
storage id it handled). One is packaged when its metadata says `registry_status:
champion` and every blocking check of that asset in the same run passed; a
candidate, or a model whose check failed, never is. A materialization whose run
has not finished yet (its checks may still be coming) stops the scan there until
the next tick.
"""

from __future__ import annotations

from dagster import AssetKey, DagsterEventType, DefaultSensorStatus, RunRequest, SensorResult, SkipReason, sensor
from dagster._core.storage.dagster_run import FINISHED_STATUSES

from finpulse_assets.sensors.events import materializations_after, metadata_value

PACKAGING_SENSOR = "packaging_sensor"
MODEL_ASSETS = (AssetKey("lstm_onnx"), AssetKey("finbert_onnx"))


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


def build_packaging_sensor(packaging_job):
    @sensor(name=PACKAGING_SENSOR, job=packaging_job, default_status=DefaultSensorStatus.RUNNING,
            minimum_interval_seconds=60)
    def packaging_sensor(context):
        """Requests `bento` (packaging_job) when lstm_onnx or finbert_onnx becomes a champion that passed
        its blocking checks; one request per tick however many arrived."""
        after = int(context.cursor) if context.cursor else None
        records = sorted((r for key in MODEL_ASSETS for r in materializations_after(context.instance, key, after)),
                         key=lambda r: r.storage_id)
        cursor, champions, notes = after, [], []
        for record in records:
            package, why = packaging_decision(context.instance, record)
            if package is None:
                notes.append(why)
                break
            cursor = record.storage_id
            (champions if package else notes).append(why)
        new_cursor = str(cursor) if cursor is not None else None
        if not champions:
            return SensorResult(skip_reason=SkipReason("; ".join(notes) or "no new model version"), cursor=new_cursor)
        context.log.info("packaging: " + "; ".join(champions + notes))
        return SensorResult(cursor=new_cursor, run_requests=[RunRequest(
            run_key=f"{packaging_job.name}:{cursor}",
            tags={"finpulse/trigger": "champion", "finpulse/champions": "; ".join(champions)[:200]})])

    return packaging_sensor
