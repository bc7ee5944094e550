"""One summary per ticker and calendar day of the monitored range: what the dashboard draws on a time axis.

Evidently's UI (0.7) places a panel's points side by side in the order of their snapshots' timestamps, one
slot per snapshot that has one of the panel's series: a day without a drift report would simply not be
there. So every drift_report partition (every calendar day of the range, closed days and days without a
report included) becomes a one-row snapshot timestamped with that day, holding the retraining thresholds
(a line over every day) and, on reported days only, the drift shares: the missing days show as gaps in the
drift lines, under an unbroken threshold line.

Each reported day also carries the lstm_model version its report compared against, as the snapshot's tag
(shown when a point is hovered) and as `new_model_version`: 1 on the first reported day of a version (a
retrain reached the reports), 0 on the other reported days.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

from finpulse_assets.monitoring.settings import MonitoringSettings
from finpulse_assets.partitions import parse_key
from finpulse_assets.sensors.events import metadata_value

DRIFT_SHARE, SENTIMENT_DRIFT_SHARE = "drift_share", "sentiment_drift_share"
DRIFT_THRESHOLD, SENTIMENT_DRIFT_THRESHOLD = "drift_share_threshold", "sentiment_drift_share_threshold"
NEW_MODEL_VERSION = "new_model_version"


@dataclass(frozen=True)
class DaySummary:
    ticker: str
    day: date
    values: dict[str, float]  # the columns this day has
    model_version: str | None

    def stamp(self) -> str:
        """Changes whenever what the day's snapshot shows changes (the manifest replaces it then)."""
        return json.dumps([self.values, self.model_version], sort_keys=True)


def day_summaries(drift_reports: dict[str, object], settings: MonitoringSettings) -> list[DaySummary]:
    """Summaries of every drift_report partition ({partition key: latest record}), by ticker and day."""
    by_ticker: dict[str, list[tuple[date, object]]] = {}
    for key, record in drift_reports.items():
        part = parse_key(key)
        by_ticker.setdefault(part.ticker, []).append((part.day, record))
    summaries = []
    for ticker, days in sorted(by_ticker.items()):
        previous_version = None
        for day, record in sorted(days, key=lambda item: item[0]):
            values = {DRIFT_THRESHOLD: settings.drift_share_threshold,
                      SENTIMENT_DRIFT_THRESHOLD: settings.sentiment_drift_share_threshold}
            share, version = metadata_value(record, DRIFT_SHARE), metadata_value(record, "model_version")
            if share is not None:
                values[DRIFT_SHARE] = float(share)
                values[SENTIMENT_DRIFT_SHARE] = float(metadata_value(record, SENTIMENT_DRIFT_SHARE))
                values[NEW_MODEL_VERSION] = float(version is not None and version != previous_version)
                previous_version = version or previous_version
            summaries.append(DaySummary(ticker, day, values, version if share is not None else None))
    return summaries


def day_snapshot(summary: DaySummary):
    """The day's one-row Evidently report (MeanValue of each column), tagged with its model version."""
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import MeanValue

    columns = sorted(summary.values)
    frame = pd.DataFrame([{c: summary.values[c] for c in columns}])
    dataset = Dataset.from_pandas(frame, data_definition=DataDefinition(numerical_columns=columns))
    tags = [f"model {summary.model_version}"] if summary.model_version else []
    metadata = {"model_version": summary.model_version} if summary.model_version else {}
    report = Report([MeanValue(column=c) for c in columns], tags=tags, metadata=metadata)
    return report.run(dataset, None, timestamp=pd.Timestamp(summary.day).to_pydatetime())
