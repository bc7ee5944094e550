"""The dashboard's day summaries (monitoring/day_summaries.py) and panels: every calendar day on the time axis,
drift shares on reported days only, the retraining thresholds, and a marker where the forecaster version changes."""

from datetime import date, timedelta
from types import SimpleNamespace

from finpulse_assets.monitoring.dashboard_panels import dashboard
from finpulse_assets.monitoring.day_summaries import (
    DRIFT_SHARE,
    DRIFT_THRESHOLD,
    NEW_MODEL_VERSION,
    SENTIMENT_DRIFT_THRESHOLD,
    day_snapshot,
    day_summaries,
)
from finpulse_assets.monitoring.settings import MonitoringSettings
from finpulse_assets.partitions import key_for


def _record(**metadata):
    return SimpleNamespace(asset_materialization=SimpleNamespace(metadata=metadata))


def _reports():
    """AAA, 2024-04-01 (Mon) .. 04-09 (Tue): reported on trading days, a retrain reaching the reports on 04-08."""
    reports = {}
    for offset in range(9):
        day = date(2024, 4, 1) + timedelta(days=offset)
        if day.weekday() >= 5:
            reports[key_for("AAA", day)] = _record(status="weekend")
        else:
            version = "lstm-new" if day >= date(2024, 4, 8) else "lstm-old"
            reports[key_for("AAA", day)] = _record(drift_share=0.1 * offset, sentiment_drift_share=0.25,
                                                   model_version=version)
    return reports


def test_every_calendar_day_is_a_summary_with_the_thresholds_and_drift_only_where_reported():
    settings = MonitoringSettings(drift_share_threshold=0.4, sentiment_drift_share_threshold=0.2)
    summaries = day_summaries(_reports(), settings)
    assert [s.day for s in summaries] == [date(2024, 4, 1) + timedelta(days=i) for i in range(9)]
    assert all(s.values[DRIFT_THRESHOLD] == 0.4 and s.values[SENTIMENT_DRIFT_THRESHOLD] == 0.2 for s in summaries)
    reported = [s.day.isoformat() for s in summaries if DRIFT_SHARE in s.values]
    assert reported == ["2024-04-01", "2024-04-02", "2024-04-03", "2024-04-04", "2024-04-05", "2024-04-08",
                        "2024-04-09"]  # the weekend is a gap
    markers = {s.day.isoformat(): s.values[NEW_MODEL_VERSION] for s in summaries if NEW_MODEL_VERSION in s.values}
    assert [day for day, new in markers.items() if new] == ["2024-04-01", "2024-04-08"]
    assert summaries[7].model_version == "lstm-new" and summaries[5].model_version is None


def test_a_day_snapshot_is_timestamped_with_its_day_and_tagged_with_its_model_version():
    summary = day_summaries(_reports(), MonitoringSettings())[7]
    snapshot = day_snapshot(summary).to_snapshot_model()  # what the workspace stores
    assert snapshot.timestamp.date() == date(2024, 4, 8)
    assert snapshot.tags == ["model lstm-new"] and snapshot.metadata == {"model_version": "lstm-new"}
    values = {m.metric_value_location.metric.params["column"]: m.value for m in snapshot.metric_results.values()}
    assert values == summary.values


def test_the_stamp_changes_when_what_a_day_shows_changes():
    first = day_summaries(_reports(), MonitoringSettings())
    moved = day_summaries(_reports(), MonitoringSettings(drift_share_threshold=0.6))
    assert [a.stamp() != b.stamp() for a, b in zip(first, moved)] == [True] * len(first)
    assert [a.stamp() for a in first] == [a.stamp() for a in day_summaries(_reports(), MonitoringSettings())]


def test_the_dashboard_has_drift_with_threshold_sentiment_drift_and_model_version_panels_in_one_tab():
    model = dashboard()
    assert [p.title for p in model.panels] == ["Drift share of the model inputs", "Sentiment drift share",
                                               "Drifted columns", "Forecaster versions", "Prediction error (dollars)"]
    columns = {p.title: [v.metric_labels.get("column") for v in p.values] for p in model.panels}
    assert columns["Drift share of the model inputs"] == ["drift_share", "drift_share_threshold"]
    assert columns["Sentiment drift share"] == ["sentiment_drift_share", "sentiment_drift_share_threshold"]
    assert columns["Forecaster versions"] == ["new_model_version"]
    (tab,) = model.tabs
    assert tab.panels == [p.id for p in model.panels]
