"""drift_retrain_sensor: a drift_report partition whose drift share passes the threshold retrains the models.

An asset sensor on drift_report. Its cursor is the storage id of the last
drift_report materialization it read, kept by the daemon across restarts, so each
drift event triggers at most once; a fresh cursor starts from the first stored
event, so the daemon picks up the drift reports `make demo` wrote. All events of a
tick give at most one run per job. Cooldown: no new request for a job while a run
of it that this sensor launched is younger than `retrain_cooldown_hours`.

A drifted day whose data the latest model was trained after (its source partition
stored before the model) retrains nothing: the retrain would see the same data and
reproduce the same model. So the reports `make demo` writes over days it trained on
launch no retrain when `make ui` starts the daemon; a day whose data arrives later does.
"""

from __future__ import annotations

import time

from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SkipReason,
    asset_sensor,
)
from finpulse_assets.dagster_private import SENSOR_NAME_TAG

from finpulse_assets.monitoring.settings import MonitoringSettings
from finpulse_assets.sensors.events import materializations_after, metadata_value

DRIFT_RETRAIN_SENSOR = "drift_retrain_sensor"
DRIFT_REPORT = AssetKey("drift_report")
# Per retrained model: the model asset, and the source data of a drifted day it would be retrained on.
MODEL_ASSET = {"forecast": AssetKey("lstm_model"), "sentiment": AssetKey("finbert_model")}
DAY_DATA_ASSET = {"forecast": AssetKey("raw_prices"), "sentiment": AssetKey("raw_tweets")}


def _latest(instance, asset_key: AssetKey, partition: str | None = None):
    records = instance.fetch_materializations(AssetRecordsFilter(
        asset_key=asset_key, asset_partitions=[partition] if partition else None), limit=1, ascending=False).records
    return records[0] if records else None


def already_trained_on(instance, model: str, partition: str) -> bool:
    """Whether the latest `model` was trained after the drifted day's source data was stored."""
    trained = _latest(instance, MODEL_ASSET[model])
    data = _latest(instance, DAY_DATA_ASSET[model], partition) if trained is not None else None
    return data is not None and data.timestamp <= trained.timestamp


def drifted_events(records, settings: MonitoringSettings, until_timestamp: float) -> dict[str, list]:
    """{"forecast": [...], "sentiment": [...]}: (storage id, partition, share) of events over each threshold."""
    found = {"forecast": [], "sentiment": []}
    for record in records:
        if record.timestamp > until_timestamp:
            break  # later than the event this tick is for: the next tick reads it
        share = metadata_value(record, "drift_share")
        if share is None:  # a closed day or a day without a report
            continue
        sentiment = metadata_value(record, "sentiment_drift_share")
        if share >= settings.drift_share_threshold:
            found["forecast"].append((record.storage_id, record.partition_key, share))
        if sentiment is not None and sentiment >= settings.sentiment_drift_share_threshold:
            found["sentiment"].append((record.storage_id, record.partition_key, sentiment))
    return found


def launched_recently(instance, job_name: str, cooldown_seconds: float) -> float | None:
    """Age in seconds of this sensor's latest run of `job_name` if younger than the cooldown."""
    records = instance.get_run_records(RunsFilter(job_name=job_name, tags={SENSOR_NAME_TAG: DRIFT_RETRAIN_SENSOR}),
                                       limit=1)
    if not records:
        return None
    age = time.time() - records[0].create_timestamp.timestamp()
    return age if age < cooldown_seconds else None


def build_drift_retrain_sensor(forecast_job, sentiment_job, settings: MonitoringSettings):
    job_for = {"forecast": forecast_job.name, "sentiment": sentiment_job.name}

    @asset_sensor(asset_key=DRIFT_REPORT, name=DRIFT_RETRAIN_SENSOR, jobs=[forecast_job, sentiment_job],
                  default_status=DefaultSensorStatus.RUNNING, minimum_interval_seconds=60)
    def drift_retrain_sensor(context, asset_event):
        """Retrains the forecaster (forecast_model_job) when a ticker-day's drift share passes
        FINPULSE_DRIFT_SHARE_THRESHOLD, and FinBERT (sentiment_model_job) when its sentiment drift share
        passes FINPULSE_SENTIMENT_DRIFT_SHARE_THRESHOLD; one event triggers once; cooldown per job."""
        after = int(context.cursor) if context.cursor else None
        records = materializations_after(context.instance, DRIFT_REPORT, after)
        found = drifted_events(records, settings, asset_event.timestamp)
        skipped, requested = [], 0
        for model, events in found.items():
            new = [e for e in events if not already_trained_on(context.instance, model, e[1])]
            if len(new) < len(events):
                skipped.append(f"{job_for[model]}: {len(events) - len(new)} drift events on days the latest "
                               f"{MODEL_ASSET[model].to_user_string()} was already trained on")
            events = new
            if not events:
                continue
            job = job_for[model]
            age = launched_recently(context.instance, job, settings.retrain_cooldown_hours * 3600)
            if age is not None:
                skipped.append(f"{job}: {len(events)} drift events inside the cooldown "
                               f"(last retrain {age / 3600:.1f} h ago)")
                continue
            storage_id, partition, share = max(events)
            worst = sorted(events, key=lambda e: -e[2])[:5]
            yield RunRequest(job_name=job, run_key=f"{job}:drift:{storage_id}", tags={
                "finpulse/trigger": "drift",
                "finpulse/drift_events": str(len(events)),
                "finpulse/drift_partitions": ", ".join(f"{p} ({s:.2f})" for _, p, s in worst),
            })
            requested += 1
            context.log.info(f"{job}: {len(events)} drift events, latest {partition} (share {share:.2f})")
        if not requested:
            yield SkipReason("; ".join(skipped) or "no drift_report partition over the thresholds "
                             f"({settings.drift_share_threshold} / {settings.sentiment_drift_share_threshold})")

    return drift_retrain_sensor
