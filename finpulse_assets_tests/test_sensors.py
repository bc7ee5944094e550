"""The three sensors, evaluated as the daemon does (`evaluate_tick`) against a real, persistent instance."""

from datetime import date

import pytest
from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetKey,
    AssetMaterialization,
    MetadataValue,
    Output,
    asset,
    build_sensor_context,
    instance_for_test,
    materialize,
)
from finpulse_assets.dagster_private import DagsterRun, DagsterRunStatus
from finpulse_assets.partitions import TICKER_RUN_TAG
from finpulse_assets.dagster_private import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG, SENSOR_NAME_TAG

from finpulse_assets.definitions import FORECAST_MODEL_JOB, PACKAGING_JOB, SENTIMENT_MODEL_JOB, build_definitions
from finpulse_assets.partitions import key_for
from finpulse_assets.sensors.drift_retrain import DRIFT_RETRAIN_SENSOR
from finpulse_assets.sensors.new_data import DATA_ASSETS, NEW_DATA_SENSOR, missing_ranges
from finpulse_assets.sensors.packaging import PACKAGING_SENSOR
from finpulse_assets.settings import Settings
from finpulse_assets_tests.fakes import FakePriceSource, FakeTweetSource, price_rows, tweet_rows


@pytest.fixture
def instance():
    with instance_for_test() as instance:
        yield instance


def defs_for(tmp_path, prices=None, tweets=None):
    settings = Settings(tickers=("AAA", "BBB"), start="2024-01-01", end="2024-03-01", storage_dir=str(tmp_path))
    return build_definitions(settings, {
        "price_source": FakePriceSource(rows=prices or price_rows(("AAA", "BBB"), "2024-01-01", "2024-01-12")),
        "tweet_source": FakeTweetSource(rows=tweets or tweet_rows(("AAA", "BBB"), "2024-01-01", "2024-01-12"))})


def tick(defs, instance, name, cursor=None):
    repository = defs.get_repository_def()
    sensor = repository.get_sensor_def(name)
    # The sensor's resources from the definitions, as the daemon's code server hands them over.
    resources = {k: v for k, v in repository.get_top_level_resources().items() if k in sensor.required_resource_keys}
    with build_sensor_context(instance=instance, cursor=cursor, repository_def=repository,
                              resources=resources) as context:
        return sensor.evaluate_tick(context)


def ranges(data):
    return sorted((r.tags[ASSET_PARTITION_RANGE_START_TAG], r.tags[ASSET_PARTITION_RANGE_END_TAG])
                  for r in data.run_requests)


def test_missing_ranges_are_contiguous_batches_of_at_most_max_days():
    source = [date(2024, 1, d) for d in (2, 3, 4, 5, 8, 9, 10)]
    done = {date(2024, 1, d) for d in (1, 2, 3)}
    assert missing_ranges(source, done, date(2024, 1, 1), max_days=400) == [(date(2024, 1, 4), date(2024, 1, 10))]
    assert missing_ranges(source, done, date(2024, 1, 1), max_days=3) == [
        (date(2024, 1, 4), date(2024, 1, 6)), (date(2024, 1, 7), date(2024, 1, 9)), (date(2024, 1, 10),) * 2]
    assert missing_ranges([], done, date(2024, 1, 1), max_days=3) == []


def test_new_data_requests_new_tickers_and_days_in_one_run_per_ticker_range(instance, tmp_path):
    defs = defs_for(tmp_path)
    first = tick(defs, instance, NEW_DATA_SENSOR)
    assert [r.partition_keys for r in first.dynamic_partitions_requests] == [["AAA", "BBB"]]
    assert ranges(first) == [(key_for("AAA", date(2024, 1, 1)), key_for("AAA", date(2024, 1, 12))),
                             (key_for("BBB", date(2024, 1, 1)), key_for("BBB", date(2024, 1, 12)))]
    # No model exists yet: only the data assets are requested.
    assert {k.to_user_string() for k in first.run_requests[0].asset_selection} == set(DATA_ASSETS)

    instance.add_dynamic_partitions("tickers", ["AAA", "BBB"])
    request = first.run_requests[0]
    result = materialize(list(defs.assets), selection=request.asset_selection, instance=instance,
                         resources=dict(defs.resources), tags=request.tags)
    assert result.success
    assert tick(defs, instance, NEW_DATA_SENSOR).run_requests[0].tags[ASSET_PARTITION_RANGE_START_TAG] == \
        key_for("BBB", date(2024, 1, 1))

    # A new trading day for AAA and a new ticker CCC in the source.
    later = defs_for(tmp_path, prices=price_rows(("AAA", "BBB"), "2024-01-01", "2024-01-16")
                     + price_rows(("CCC",), "2024-01-10", "2024-01-12"),
                     tweets=tweet_rows(("AAA", "BBB", "CCC"), "2024-01-01", "2024-01-16"))
    data = tick(later, instance, NEW_DATA_SENSOR)
    assert [r.partition_keys for r in data.dynamic_partitions_requests] == [["CCC"]]
    assert (key_for("AAA", date(2024, 1, 13)), key_for("AAA", date(2024, 1, 16))) in ranges(data)
    assert (key_for("CCC", date(2024, 1, 1)), key_for("CCC", date(2024, 1, 12))) in ranges(data)
    assert len(data.run_requests) == 3  # AAA's new days, BBB's range, CCC's range
    # The run queue's one-run-per-ticker limit keys on this tag (two writers of a ticker's rows never overlap).
    assert sorted(r.tags[TICKER_RUN_TAG] for r in data.run_requests) == ["AAA", "BBB", "CCC"]


def test_new_data_skips_when_everything_is_materialized(instance, tmp_path):
    defs = defs_for(tmp_path)
    instance.add_dynamic_partitions("tickers", ["AAA", "BBB"])
    for request in tick(defs, instance, NEW_DATA_SENSOR).run_requests:
        assert materialize(list(defs.assets), selection=request.asset_selection, instance=instance,
                           resources=dict(defs.resources), tags=request.tags).success
    data = tick(defs, instance, NEW_DATA_SENSOR)
    assert not data.run_requests and "every day the source has" in data.skip_message


def report_drift(instance, day: int, share: float, sentiment: float):
    instance.report_runless_asset_event(AssetMaterialization(
        "drift_report", partition=key_for("AAA", date(2024, 2, day)),
        metadata={"drift_share": share, "sentiment_drift_share": sentiment}))


def test_drift_retrains_once_per_event_and_honours_the_cooldown(instance, tmp_path, monkeypatch):
    monkeypatch.setenv("FINPULSE_DRIFT_SHARE_THRESHOLD", "0.5")
    monkeypatch.setenv("FINPULSE_SENTIMENT_DRIFT_SHARE_THRESHOLD", "0.3")
    defs = defs_for(tmp_path)
    report_drift(instance, 1, 0.2, 0.0)
    quiet = tick(defs, instance, DRIFT_RETRAIN_SENSOR)
    assert not quiet.run_requests and "no drift_report partition over the thresholds" in quiet.skip_message

    report_drift(instance, 2, 0.6, 0.1)
    report_drift(instance, 5, 0.55, 0.5)
    data = tick(defs, instance, DRIFT_RETRAIN_SENSOR, cursor=quiet.cursor)
    assert sorted(r.job_name for r in data.run_requests) == [FORECAST_MODEL_JOB, SENTIMENT_MODEL_JOB]
    forecast = next(r for r in data.run_requests if r.job_name == FORECAST_MODEL_JOB)
    assert forecast.tags["finpulse/drift_events"] == "2" and "2024-02-02|AAA (0.60)" in forecast.tags[
        "finpulse/drift_partitions"]
    # The same events never trigger again (the daemon stores this cursor across restarts).
    again = tick(defs, instance, DRIFT_RETRAIN_SENSOR, cursor=data.cursor)
    assert not again.run_requests

    # The daemon launched the forecaster's retrain: within the cooldown a new drift event retrains only FinBERT.
    instance.add_run(DagsterRun(job_name=FORECAST_MODEL_JOB, run_id="retrain-1", status=DagsterRunStatus.SUCCESS,
                                tags={SENSOR_NAME_TAG: DRIFT_RETRAIN_SENSOR}))
    report_drift(instance, 6, 0.7, 0.5)
    cooled = tick(defs, instance, DRIFT_RETRAIN_SENSOR, cursor=data.cursor)
    assert [r.job_name for r in cooled.run_requests] == [SENTIMENT_MODEL_JOB]
    instance.add_run(DagsterRun(job_name=SENTIMENT_MODEL_JOB, run_id="retrain-2", status=DagsterRunStatus.SUCCESS,
                                tags={SENSOR_NAME_TAG: DRIFT_RETRAIN_SENSOR}))
    report_drift(instance, 7, 0.7, 0.5)
    storm = tick(defs, instance, DRIFT_RETRAIN_SENSOR, cursor=cooled.cursor)
    assert not storm.run_requests and "inside the cooldown" in storm.skip_message


def test_drift_on_days_the_models_were_trained_on_retrains_nothing(instance, tmp_path, monkeypatch):
    """`make demo` stores the data, trains, then reports drift over days it trained on: the daemon's first tick
    (a fresh cursor) retrains nothing; a drifted day whose data arrived after the training does."""
    monkeypatch.setenv("FINPULSE_DRIFT_SHARE_THRESHOLD", "0.5")
    monkeypatch.setenv("FINPULSE_SENTIMENT_DRIFT_SHARE_THRESHOLD", "0.3")
    defs = defs_for(tmp_path)
    for day in (2, 3):
        for asset_name in ("raw_prices", "raw_tweets"):
            instance.report_runless_asset_event(AssetMaterialization(asset_name, partition=key_for("AAA", date(2024, 2, day))))
    for model in ("lstm_model", "finbert_model"):
        instance.report_runless_asset_event(AssetMaterialization(model))
    report_drift(instance, 2, 0.9, 0.9)
    report_drift(instance, 3, 0.9, 0.9)
    first = tick(defs, instance, DRIFT_RETRAIN_SENSOR)
    assert not first.run_requests
    assert "2 drift events on days the latest lstm_model was already trained on" in first.skip_message
    assert "finbert_model was already trained on" in first.skip_message

    # New prices for a day (a correction landed after the training): the forecaster retrains, FinBERT does not.
    instance.report_runless_asset_event(AssetMaterialization("raw_prices", partition=key_for("AAA", date(2024, 2, 3))))
    report_drift(instance, 3, 0.9, 0.9)
    data = tick(defs, instance, DRIFT_RETRAIN_SENSOR, cursor=first.cursor)
    assert [r.job_name for r in data.run_requests] == [FORECAST_MODEL_JOB]


def test_bad_threshold_settings_are_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("FINPULSE_DRIFT_SHARE_THRESHOLD", "half")
    with pytest.raises(ValueError, match="FINPULSE_DRIFT_SHARE_THRESHOLD='half'"):
        defs_for(tmp_path)
    monkeypatch.setenv("FINPULSE_DRIFT_SHARE_THRESHOLD", "1.5")
    with pytest.raises(ValueError, match="drift_share_threshold=1.5"):
        defs_for(tmp_path)


def model_stand_in(name: str, status: str, passed: bool, version: str = ""):
    @asset(name=name, check_specs=[AssetCheckSpec("onnx_parity", asset=name, blocking=True)])
    def stand_in():
        yield Output({}, metadata={"registry_status": status,
                                   "model_version": version or f"{name}-{status}-{passed}"})
        yield AssetCheckResult(check_name="onnx_parity", passed=passed)

    return stand_in


def bento_stand_in(forecaster: str, sentiment: str):
    @asset(name="bento")
    def stand_in():
        return Output({}, metadata={"model_versions": MetadataValue.json(
            {"forecaster": forecaster, "sentiment": sentiment})})

    return stand_in


def test_packaging_requests_bento_only_for_a_new_pair_of_champions_that_passed_their_checks(instance, tmp_path):
    defs = defs_for(tmp_path)
    idle = tick(defs, instance, PACKAGING_SENSOR)
    assert not idle.run_requests and "never materialized" in idle.skip_message

    materialize([model_stand_in("lstm_onnx", "candidate", True)], instance=instance)
    materialize([model_stand_in("finbert_onnx", "champion", False)], instance=instance, raise_on_error=False)
    refused = tick(defs, instance, PACKAGING_SENSOR, cursor=idle.cursor)
    assert not refused.run_requests
    assert "candidate, not champion" in refused.skip_message and "onnx_parity" in refused.skip_message

    materialize([model_stand_in("lstm_onnx", "champion", True, "lstm-1")], instance=instance)
    materialize([model_stand_in("finbert_onnx", "champion", True, "finbert-1")], instance=instance)
    data = tick(defs, instance, PACKAGING_SENSOR, cursor=refused.cursor)
    (request,) = data.run_requests
    assert request.job_name in (None, PACKAGING_JOB) and "finbert-1" in request.tags["finpulse/champions"]
    assert not tick(defs, instance, PACKAGING_SENSOR, cursor=data.cursor).run_requests

    # The same versions materialized again (a rerun of the same config and data): nothing to package.
    materialize([model_stand_in("lstm_onnx", "champion", True, "lstm-1")], instance=instance)
    assert not tick(defs, instance, PACKAGING_SENSOR, cursor=data.cursor).run_requests
    # A new forecaster version: one request for the new pair.
    materialize([model_stand_in("lstm_onnx", "champion", True, "lstm-2")], instance=instance)
    (new_pair,) = tick(defs, instance, PACKAGING_SENSOR, cursor=data.cursor).run_requests
    assert "lstm-2" in new_pair.run_key and "finbert-1" in new_pair.run_key


def test_packaging_skips_the_pair_a_bento_already_holds(instance, tmp_path):
    defs = defs_for(tmp_path)
    materialize([model_stand_in("lstm_onnx", "champion", True, "lstm-1")], instance=instance)
    materialize([model_stand_in("finbert_onnx", "champion", True, "finbert-1")], instance=instance)
    materialize([bento_stand_in("lstm-1", "finbert-1")], instance=instance)  # `make demo` packaged them
    fresh = tick(defs, instance, PACKAGING_SENSOR)
    assert not fresh.run_requests and "already packaged" in fresh.skip_message


def test_every_job_has_one_backfill_policy(tmp_path):
    """Loading the code location warns of nothing (a job mixing backfill policies would fall back to
    one run per partition for its backfills)."""
    import warnings

    from dagster import BetaWarning, PreviewWarning

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", BetaWarning)  # the policy itself is a beta parameter, chosen on purpose
        warnings.simplefilter("ignore", PreviewWarning)
        warnings.simplefilter("ignore", DeprecationWarning)  # define_asset_job(partitions_def=...), scheduled for 2.0
        repository = defs_for(tmp_path).get_repository_def()
        jobs = repository.get_all_jobs()  # the sensors' implicit asset jobs included
    assert {j.name for j in jobs} >= {"data_assets_job", "monitoring_job"}


def test_the_sensors_are_on_by_default(tmp_path):
    from dagster import DefaultSensorStatus

    defs = defs_for(tmp_path)
    for name in (NEW_DATA_SENSOR, DRIFT_RETRAIN_SENSOR, PACKAGING_SENSOR):
        assert defs.get_repository_def().get_sensor_def(name).default_status == DefaultSensorStatus.RUNNING
    assert defs.get_repository_def().get_sensor_def(DRIFT_RETRAIN_SENSOR).asset_key == AssetKey("drift_report")


def test_new_data_requests_no_run_for_a_ticker_whose_other_source_cannot_be_read(instance, tmp_path):
    # BBB has prices but no tweet: a run would commit raw_prices and fail in raw_tweets.
    defs = defs_for(tmp_path, tweets=tweet_rows(("AAA",), "2024-01-01", "2024-01-12"))
    data = tick(defs, instance, NEW_DATA_SENSOR)
    assert sorted(r.tags[TICKER_RUN_TAG] for r in data.run_requests) == ["AAA"]
    instance.add_dynamic_partitions("tickers", ["AAA", "BBB"])
    assert materialize(list(defs.assets), selection=data.run_requests[0].asset_selection, instance=instance,
                       resources=dict(defs.resources), tags=data.run_requests[0].tags).success
    skipped = tick(defs, instance, NEW_DATA_SENSOR)
    assert not skipped.run_requests
    assert "for 1 tickers; inputs that cannot be read: BBB" in skipped.skip_message
    # Once its tweets arrive, the next tick requests it.
    assert ranges(tick(defs_for(tmp_path), instance, NEW_DATA_SENSOR)) == [
        (key_for("BBB", date(2024, 1, 1)), key_for("BBB", date(2024, 1, 12)))]
