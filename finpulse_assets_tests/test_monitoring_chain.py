"""Monitoring end to end on the generated market with a regime shift: drift reports and prediction errors
from `make demo`'s stages, then drifted data -> drift report -> retrain -> blocking checks -> package.

One module fixture runs the demo stages (tiny models, 2 tickers x 4 months, the shift at 80 % of the
trading days, early April) on a persistent instance; the sensors are then evaluated as the daemon evaluates them and
the runs they request are executed with the tags the daemon adds.
"""

import os
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from dagster import AssetKey, AssetMaterialization, Output, asset, build_sensor_context, instance_for_test, materialize
from finpulse_assets.dagster_private import SENSOR_NAME_TAG

from finpulse_assets.runs.cli import DEMO_RECENT_DAYS
from finpulse_assets.definitions import (
    FORECAST_MODEL_JOB,
    JOB_ORDER,
    MONITORING_JOB,
    PACKAGING_JOB,
    SENTIMENT_MODEL_JOB,
)
from finpulse_assets.features.market_calendar import closure_reason
from finpulse_assets.partitions import key_for
from finpulse_assets.sensors.drift_retrain import DRIFT_RETRAIN_SENSOR
from finpulse_assets.sensors.packaging import PACKAGING_SENSOR
from finpulse_assets.sources.demo import DemoPriceSource, DemoTweetSource
from finpulse_assets_tests import test_model_assets as model_chain

# 10-day windows against ~30 reference rows: smaller than the demo's 20 and 60, which need a longer history.
DRIFT_CONFIG = {"window_days": 10, "min_reference_rows": 20}
# Thresholds for this small window (the demo's defaults are 0.5 and 0.3); set before the definitions are built.
ENV = {"FINPULSE_DRIFT_SHARE_THRESHOLD": "0.2", "FINPULSE_SENTIMENT_DRIFT_SHARE_THRESHOLD": "0.3"}
DEMO = dict(model_chain.DEMO, regime_shift_at=0.8)


class MonitoredChain(model_chain.Chain):
    def __init__(self, root, instance):
        super().__init__(root, instance)
        self.resources = {"tweet_source": DemoTweetSource(**DEMO), "price_source": DemoPriceSource(**DEMO)}
        self.run_config["drift_report"] = DRIFT_CONFIG
        self.defs = model_chain.build_definitions(self.settings, self.resources)

    def run_demo(self):
        from finpulse_assets.runs.cli import materialize as materialize_stages

        jobs = [j for j in JOB_ORDER if j != PACKAGING_JOB]  # packaging is what the sensor requests later
        return materialize_stages(self.settings, self.instance, jobs, run_config=self.run_config,
                                  resources=self.resources)

    def tick(self, name, cursor=None):
        repository = self.defs.get_repository_def()
        sensor = repository.get_sensor_def(name)
        with build_sensor_context(instance=self.instance, cursor=cursor, repository_def=repository) as context:
            return sensor.evaluate_tick(context)

    def launch(self, request, sensor_name):
        """What the daemon does with a run request: the job with the request's tags and the sensor's."""
        job = self.defs.resolve_job_def(request.job_name)
        asset_names = {k.to_user_string() for k in job.asset_layer.executable_asset_keys}
        ops = {k: {"config": v} for k, v in self.run_config.items() if k in asset_names}
        return job.execute_in_process(instance=self.instance, run_config={"ops": ops}, raise_on_error=False,
                                      tags={**request.tags, SENSOR_NAME_TAG: sensor_name})


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    saved = {k: os.environ.get(k) for k in ENV}
    os.environ.update(ENV)
    try:
        with instance_for_test() as instance:
            chain = MonitoredChain(tmp_path_factory.mktemp("monitoring"), instance)
            chain.summary = chain.run_demo()
            yield chain
    finally:
        for k, v in saved.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)


def drift_metadata(chain, ticker):
    records = chain.instance.fetch_materializations(AssetKey("drift_report"), limit=1000).records
    out = {}
    for r in records:
        if r.partition_key.endswith(f"|{ticker}"):
            out.setdefault(r.partition_key, {k: getattr(v, "value", v)
                                             for k, v in r.asset_materialization.metadata.items()})
    return out


def test_the_monitoring_stage_writes_drift_reports_with_html_and_numbers(chain):
    assert chain.summary["failure"] is None and chain.summary["failed_checks"] == []
    reports = chain.partitions("drift_report", "AAA")
    assert len(reports) > 5
    assert (reports["reference_end"] < reports["window_start"]).all()  # nothing after the window's start
    assert (reports["window_rows"] == DRIFT_CONFIG["window_days"]).all()
    train_end = pd.Timestamp(chain.stored("lstm_model")["split"]["train"]["last_day"])
    assert (reports["date"] > train_end).all() and (reports["reference_end"] <= train_end).all()
    meta = drift_metadata(chain, "AAA")
    row = reports.iloc[-1]
    entry = meta[key_for("AAA", row["date"].date())]
    assert entry["drift_share"] == pytest.approx(row["drift_share"])
    assert entry["report"].startswith("http://127.0.0.1:3001/drift_report/ticker=AAA/")
    assert Path(row["report_file"]).is_file() and Path(entry["report_file"]) == Path(row["report_file"])
    # The ticker's drift over time, one click from any of its partitions: a PNG the reports server serves.
    plot = entry["drift_over_time_plot"]
    assert plot == "http://127.0.0.1:3001/plots/drift_report/drift_over_time-AAA.png"
    assert (Path(chain.settings.storage_dir) / "reports" / "plots" / "drift_report" / "drift_over_time-AAA.png").read_bytes() \
        .startswith(b"\x89PNG")
    assert "drift_share" not in meta[key_for("AAA", date(2024, 4, 6))]  # a Saturday: no report
    assert meta[key_for("AAA", date(2024, 4, 6))]["status"] == closure_reason(date(2024, 4, 6))


def test_prediction_errors_compare_each_forecast_with_the_next_close(chain):
    errors = chain.partitions("prediction_errors", "AAA")
    predictions = chain.partitions("predictions", "AAA")
    prices = chain.partitions("raw_prices", "AAA")
    first = pd.Timestamp(model_chain.END) - pd.Timedelta(days=DEMO_RECENT_DAYS[MONITORING_JOB])
    assert len(errors) and (errors["target_date"] >= first).all()
    row = errors.iloc[-1]
    forecast = predictions[predictions["target_date"] == row["target_date"]].iloc[0]
    actual = prices[prices["date"] == row["target_date"]]["close"].iloc[0]
    assert row["date"] == forecast["date"] and row["predicted_close"] == pytest.approx(forecast["predicted_close"])
    assert row["abs_error"] == pytest.approx(abs(forecast["predicted_close"] - actual))
    assert row["pct_error"] == pytest.approx(100 * (forecast["predicted_close"] - actual) / actual)
    assert row["direction_hit"] == ((forecast["predicted_close"] > forecast["close"]) == (actual > forecast["close"]))
    own = errors.sort_values("target_date")
    assert own["rolling_mae"].iloc[-1] == pytest.approx(own["abs_error"].tail(20).mean()) or len(own) < 20
    meta = chain.metadata("prediction_errors")
    assert "errors_over_time" in meta and meta["run_direction_hit_rate"] >= 0
    # Forecast against actual and errors over time per ticker, linked from each of its partitions.
    record = next(r for r in chain.instance.fetch_materializations(AssetKey("prediction_errors"), limit=1000).records
                  if r.partition_key == key_for("AAA", row["target_date"].date()))
    links = {k: v.value for k, v in record.asset_materialization.metadata.items() if k.endswith("_plot")}
    assert links == {f"{name}_plot": f"http://127.0.0.1:3001/plots/prediction_errors/{name}-AAA.png"
                     for name in ("forecast_vs_actual", "errors_over_time")}
    for name in ("forecast_vs_actual", "errors_over_time"):
        png = Path(chain.settings.storage_dir) / "reports" / "plots" / "prediction_errors" / f"{name}-AAA.png"
        assert png.read_bytes().startswith(b"\x89PNG")


def test_drift_retrains_then_packaging_waits_for_a_new_pair_of_versions(chain):
    before = chain.tick(PACKAGING_SENSOR)  # the demo's own champions, not packaged yet in this chain
    (request,) = before.run_requests
    old_version = chain.metadata("lstm_onnx")["model_version"]
    assert old_version in request.tags["finpulse/champions"]
    # The demo's drift reports cover days the models were trained after: nothing to learn, no retrain.
    first = chain.tick(DRIFT_RETRAIN_SENSOR)
    assert not first.run_requests and "already trained on" in first.skip_message, first.skip_message
    # New prices land for the drifted days (a correction after the training): now the forecaster retrains.
    for key, meta in drift_metadata(chain, "AAA").items():
        if meta.get("drift_share", 0) >= float(ENV["FINPULSE_DRIFT_SHARE_THRESHOLD"]):
            chain.instance.report_runless_asset_event(AssetMaterialization("raw_prices", partition=key))
    drift = chain.tick(DRIFT_RETRAIN_SENSOR)
    jobs = {r.job_name: r for r in drift.run_requests}
    assert FORECAST_MODEL_JOB in jobs, drift.skip_message
    for job in (FORECAST_MODEL_JOB, SENTIMENT_MODEL_JOB):
        if job in jobs:
            assert chain.launch(jobs[job], DRIFT_RETRAIN_SENSOR).success
    assert not chain.tick(DRIFT_RETRAIN_SENSOR, cursor=drift.cursor).run_requests  # each event once

    retrained = chain.instance.get_latest_materialization_event(AssetKey("lstm_onnx"))
    assert chain.instance.get_run_by_id(retrained.run_id).tags[SENSOR_NAME_TAG] == DRIFT_RETRAIN_SENSOR
    # Retrained on the same data with the same config: the same content key, so the same version. No new bento.
    assert chain.metadata("lstm_onnx")["model_version"] == old_version
    again = chain.tick(PACKAGING_SENSOR, cursor=before.cursor)
    assert not again.run_requests and "already packaged" in again.skip_message

    @asset(name="bento")  # stands in for the real bento build (BentoML), which has its own tests
    def bento_stand_in():
        return Output({"packaged": True})

    assert materialize([bento_stand_in], instance=chain.instance, tags=request.tags).success
    assert chain.instance.get_latest_materialization_event(AssetKey("bento")) is not None


def test_the_dashboard_gets_a_project_per_ticker_fed_incrementally(chain, tmp_path):
    from evidently.ui.workspace import Workspace

    from finpulse_assets.monitoring.dashboard import sync

    result = sync(chain.instance, tmp_path / "workspace")
    assert result["projects"] == ["FinPulse AAA", "FinPulse BBB"]
    reported = {ticker: sum("drift_share" in m for m in drift_metadata(chain, ticker).values())
                for ticker in model_chain.TICKERS}
    assert reported["AAA"] > 5 and result["kept"] == 0
    again = sync(chain.instance, tmp_path / "workspace")
    assert again["added"] == 0 and again["kept"] == result["added"]

    workspace = Workspace(str(tmp_path / "workspace"))
    (project,) = [p for p in workspace.list_projects() if p.name == "FinPulse AAA"]
    assert [panel.title for panel in workspace.get_dashboard(project.id).panels] == [
        "Drift share of the model inputs", "Sentiment drift share", "Drifted columns", "Forecaster versions",
        "Prediction error (dollars)"]
    snapshots = [workspace.get_run(project.id, s) for s in workspace.list_runs(project.id)]
    drift = [s for s in snapshots if any("DriftedColumnsCount" in str(m) for m in s.metric_results.values())]
    errors = [s for s in snapshots if any("'abs_error'" in str(m) for m in s.metric_results.values())]
    days = [s for s in snapshots if any("'drift_share_threshold'" in str(m) for m in s.metric_results.values())]
    assert len(drift) == reported["AAA"] and len(errors) > 5 and len(drift) + len(errors) + len(days) == len(snapshots)
    reported_days = sorted(s.timestamp.date() for s in drift)
    assert reported_days[0] > pd.Timestamp(chain.stored("lstm_model")["split"]["train"]["last_day"]).date()
    # A time axis: a day summary for every calendar day of the monitored range, drift shares on reported days only.
    calendar = sorted(s.timestamp.date() for s in days)
    assert len(calendar) == DEMO_RECENT_DAYS[MONITORING_JOB] and len(set(calendar)) == len(calendar)
    assert (calendar[-1] - calendar[0]).days == len(calendar) - 1
    values = {s.timestamp.date(): {m.metric_value_location.metric.params["column"]: m.value
                                   for m in s.metric_results.values()} for s in days}
    assert sorted(day for day, v in values.items() if "drift_share" in v) == reported_days
    assert any("drift_share" not in v for v in values.values())  # the gaps: weekends, days without a report
    assert {v["drift_share_threshold"] for v in values.values()} == {float(ENV["FINPULSE_DRIFT_SHARE_THRESHOLD"])}
    assert {v["sentiment_drift_share_threshold"] for v in values.values()} == \
        {float(ENV["FINPULSE_SENTIMENT_DRIFT_SHARE_THRESHOLD"])}
    # Each reported day names the forecaster its report compared against; one version here, marked on its first day.
    versions = {s.timestamp.date(): s.tags for s in days if "drift_share" in values[s.timestamp.date()]}
    version = drift_metadata(chain, "AAA")[key_for("AAA", reported_days[0])]["model_version"]
    assert set(map(tuple, versions.values())) == {(f"model {version}",)}
    assert [day for day in reported_days if values[day]["new_model_version"]] == reported_days[:1]
