"""The one Definitions object of FinPulse."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path

# ruff: noqa: E402  (the thread sizing below must run before the imports that load OpenMP and BLAS)
from finpulse_assets.runs.cpu_share import configure_process_threads

# Every process that runs FinPulse assets (CLI, ticker-run workers, Dagster's run and code-server
# processes) imports this module before torch; scikit-learn's OpenMP runtime loads with the imports below
# and reads OMP_* once, so this comes first.
configure_process_threads()

from dagster import BetaWarning, Definitions, PreviewWarning, define_asset_job

# Backfill policies and multi-dimensional partition mappings are deliberate
# choices here; their beta notices would otherwise drown every CLI run.
warnings.filterwarnings("ignore", category=BetaWarning)
warnings.filterwarnings("ignore", category=PreviewWarning)

from finpulse_assets.assets.bento import PACKAGING_JOB, build_bento_assets
from finpulse_assets.deploy.bento_export import BentoExport
from finpulse_assets.engine.executor import executor_for, executor_name
from finpulse_assets.assets.drift import build_drift_assets
from finpulse_assets.assets.embeddings import build_embedding_assets
from finpulse_assets.assets.evaluation import build_evaluation_assets
from finpulse_assets.assets.finbert import build_finbert_assets
from finpulse_assets.assets.lstm import build_lstm_assets
from finpulse_assets.assets.prediction_errors import build_prediction_error_assets
from finpulse_assets.assets.predictions import build_prediction_assets
from finpulse_assets.assets.prices import build_price_assets
from finpulse_assets.assets.sentiment import build_sentiment_assets
from finpulse_assets.assets.training import build_training_assets
from finpulse_assets.assets.tweets import build_tweet_assets
from finpulse_assets.storage.instance import configured_mlflow_uri
from finpulse_assets.io_managers.delta import PartitionedDeltaIOManager
from finpulse_assets.sensors.storage_reconciliation import build_storage_reconciliation_sensor
from finpulse_assets.models.mlflow_tracking import MlflowTracking
from finpulse_assets.models.store import ModelStore
from finpulse_assets.monitoring.report_store import ReportStore
from finpulse_assets.monitoring.settings import MonitoringSettings
from finpulse_assets.storage.object_storage import ObjectStorage
from finpulse_assets.partitions import ticker_day_partitions
from finpulse_assets.resources import price_source, tweet_source
from finpulse_assets.sensors.drift_retrain import build_drift_retrain_sensor
from finpulse_assets.sensors.new_data import build_new_data_sensor, day_bounds
from finpulse_assets.sensors.packaging import build_packaging_sensor
from finpulse_assets.settings import Settings

DATA_ASSETS_JOB = "data_assets_job"              # ticker x day: raw_tweets, vader_labels, raw_prices, price_features
SENTIMENT_MODEL_JOB = "sentiment_model_job"      # unpartitioned: finbert_model, finbert_onnx
SENTIMENT_FEATURES_JOB = "sentiment_features_job"  # ticker x day: finbert_sentiment, sentiment_features
FORECAST_MODEL_JOB = "forecast_model_job"        # unpartitioned: training_set, lstm_model, lstm_onnx
PREDICTIONS_JOB = "predictions_job"              # ticker x day: predictions
MONITORING_JOB = "monitoring_job"                # ticker x day: drift_report, prediction_errors
# Not in JOB_ORDER (the demo does not need them); `make evaluate` runs them for the embedding variants.
TEXT_MODEL_JOB = "text_model_job"                # unpartitioned: embedding_onnx
TEXT_FEATURES_JOB = "text_features_job"          # ticker x day: tweet_embeddings, tweet_embedding_features

# The order `make demo` runs them in; the per-ticker jobs run once per ticker over the whole day range.
JOB_ORDER = [DATA_ASSETS_JOB, SENTIMENT_MODEL_JOB, SENTIMENT_FEATURES_JOB, FORECAST_MODEL_JOB, PREDICTIONS_JOB,
             MONITORING_JOB, PACKAGING_JOB]
PARTITIONED_JOBS = {DATA_ASSETS_JOB, SENTIMENT_FEATURES_JOB, PREDICTIONS_JOB, MONITORING_JOB, TEXT_FEATURES_JOB}
# Not in JOB_ORDER: it needs a dataset covering the protocol's dates; `make evaluate DATA=...` runs it.
EVALUATION_JOB = "evaluation_job"                # unpartitioned: evaluation
# The order any subset of jobs runs in.
RUN_ORDER = [*JOB_ORDER[:3], TEXT_MODEL_JOB, TEXT_FEATURES_JOB, *JOB_ORDER[3:]]


def build_definitions(settings: Settings | None = None, resources: Mapping[str, object] | None = None,
                      executor: str | None = None) -> Definitions:
    """`resources` replaces any of the default resources by key (tests pass fakes and temp stores);
    `executor` names the jobs' executor (engine/executor.py; default: FINPULSE_EXECUTOR)."""
    settings = settings or Settings.from_env()
    monitoring = MonitoringSettings.from_env()
    partitions_def = ticker_day_partitions(settings)
    raw_tweets, vader_labels = build_tweet_assets(partitions_def)
    raw_prices, price_features = build_price_assets(partitions_def)
    finbert_model, finbert_onnx = build_finbert_assets()
    finbert_sentiment, sentiment_features = build_sentiment_assets(partitions_def)
    (training_set,) = build_training_assets()
    lstm_model, lstm_onnx = build_lstm_assets()
    (predictions,) = build_prediction_assets(partitions_def)
    (bento,) = build_bento_assets(settings.tickers, settings.storage_dir)
    (evaluation,) = build_evaluation_assets()
    embedding_onnx, tweet_embeddings, tweet_embedding_features = build_embedding_assets(partitions_def)
    (drift_report,) = build_drift_assets(partitions_def)
    (prediction_errors,) = build_prediction_error_assets(partitions_def)
    data_assets = [raw_tweets, vader_labels, raw_prices, price_features]
    storage = Path(settings.storage_dir)
    # FINPULSE_S3_BUCKET set: the ticker x day tables on S3; models, reports and bentos published there.
    objects = ObjectStorage.from_env()
    default_resources = {
        "tweet_source": tweet_source(settings),
        "price_source": price_source(settings),
        "io_manager": PartitionedDeltaIOManager(
            base_dir=objects.uri("assets") if objects else str(storage / "assets"),
            storage_options=objects.storage_options() if objects else {}, local_dir=str(storage / "assets")),
        "mlflow": MlflowTracking(storage_dir=str(storage), tracking_uri=configured_mlflow_uri()),
        "model_store": ModelStore(base_dir=str(storage / "models"), remote=objects.folder("models") if objects else None),
        "reports": ReportStore(base_dir=str(storage / "reports"), base_url=monitoring.reports_url,
                               remote=objects.folder("reports") if objects else None),
        "bento_export": BentoExport(remote=objects.folder("bentos") if objects else None),
    }
    sentiment_model_job = define_asset_job(SENTIMENT_MODEL_JOB, selection=[finbert_model, finbert_onnx])
    forecast_model_job = define_asset_job(FORECAST_MODEL_JOB, selection=[training_set, lstm_model, lstm_onnx])
    packaging_job = define_asset_job(PACKAGING_JOB, selection=[bento])
    ticker_day_assets = [*data_assets, finbert_sentiment, sentiment_features, predictions, drift_report,
                         prediction_errors]
    return Definitions(
        assets=[*data_assets, finbert_model, finbert_onnx, finbert_sentiment, sentiment_features, training_set,
                lstm_model, lstm_onnx, predictions, bento, evaluation, drift_report, prediction_errors,
                embedding_onnx, tweet_embeddings, tweet_embedding_features],
        jobs=[
            define_asset_job(DATA_ASSETS_JOB, selection=data_assets, partitions_def=partitions_def),
            sentiment_model_job,
            define_asset_job(SENTIMENT_FEATURES_JOB, selection=[finbert_sentiment, sentiment_features],
                             partitions_def=partitions_def),
            forecast_model_job,
            define_asset_job(PREDICTIONS_JOB, selection=[predictions], partitions_def=partitions_def),
            define_asset_job(MONITORING_JOB, selection=[drift_report, prediction_errors], partitions_def=partitions_def),
            packaging_job,
            define_asset_job(EVALUATION_JOB, selection=[evaluation]),
            define_asset_job(TEXT_MODEL_JOB, selection=[embedding_onnx]),
            define_asset_job(TEXT_FEATURES_JOB, selection=[tweet_embeddings, tweet_embedding_features],
                             partitions_def=partitions_def),
        ],
        sensors=[
            build_new_data_sensor(*day_bounds(settings.start, settings.end), ticker_day_assets,
                                  monitoring.max_days_per_run),
            build_drift_retrain_sensor(forecast_model_job, sentiment_model_job, monitoring),
            build_packaging_sensor(packaging_job),
            build_storage_reconciliation_sensor([a.key for a in ticker_day_assets]),
        ],
        resources=default_resources | dict(resources or {}),
        executor=executor_for(executor or executor_name()),
    )


defs = build_definitions()
