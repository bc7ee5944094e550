"""The one Definitions object of FinPulse."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from dagster import Definitions, define_asset_job

from finpulse_assets.assets.finbert import build_finbert_assets
from finpulse_assets.assets.lstm import build_lstm_assets
from finpulse_assets.assets.predictions import build_prediction_assets
from finpulse_assets.assets.prices import build_price_assets
from finpulse_assets.assets.sentiment import build_sentiment_assets
from finpulse_assets.assets.training import build_training_assets
from finpulse_assets.assets.tweets import build_tweet_assets
from finpulse_assets.io_managers.parquet import PartitionedParquetIOManager
from finpulse_assets.mlflow_tracking import MlflowTracking
from finpulse_assets.model_store import ModelStore
from finpulse_assets.partitions import ticker_day_partitions
from finpulse_assets.resources import price_source, tweet_source
from finpulse_assets.settings import Settings

DATA_ASSETS_JOB = "data_assets_job"              # ticker x day: raw_tweets, vader_labels, raw_prices, price_features
SENTIMENT_MODEL_JOB = "sentiment_model_job"      # unpartitioned: finbert_model, finbert_onnx
SENTIMENT_FEATURES_JOB = "sentiment_features_job"  # ticker x day: finbert_sentiment, sentiment_features
FORECAST_MODEL_JOB = "forecast_model_job"        # unpartitioned: training_set, lstm_model, lstm_onnx
PREDICTIONS_JOB = "predictions_job"              # ticker x day: predictions

# The order `make demo` runs them in; the per-ticker jobs run once per ticker over the whole day range.
JOB_ORDER = [DATA_ASSETS_JOB, SENTIMENT_MODEL_JOB, SENTIMENT_FEATURES_JOB, FORECAST_MODEL_JOB, PREDICTIONS_JOB]
PARTITIONED_JOBS = {DATA_ASSETS_JOB, SENTIMENT_FEATURES_JOB, PREDICTIONS_JOB}


def build_definitions(settings: Settings | None = None, resources: Mapping[str, object] | None = None) -> Definitions:
    """`resources` replaces any of the default resources by key (tests pass fakes and temp stores)."""
    settings = settings or Settings.from_env()
    partitions_def = ticker_day_partitions(settings)
    raw_tweets, vader_labels = build_tweet_assets(partitions_def)
    raw_prices, price_features = build_price_assets(partitions_def)
    finbert_model, finbert_onnx = build_finbert_assets()
    finbert_sentiment, sentiment_features = build_sentiment_assets(partitions_def)
    (training_set,) = build_training_assets()
    lstm_model, lstm_onnx = build_lstm_assets()
    (predictions,) = build_prediction_assets(partitions_def)
    data_assets = [raw_tweets, vader_labels, raw_prices, price_features]
    storage = Path(settings.storage_dir)
    default_resources = {
        "tweet_source": tweet_source(settings),
        "price_source": price_source(settings),
        "io_manager": PartitionedParquetIOManager(base_dir=str(storage / "assets")),
        "mlflow": MlflowTracking(storage_dir=str(storage)),
        "model_store": ModelStore(base_dir=str(storage / "models")),
    }
    return Definitions(
        assets=[*data_assets, finbert_model, finbert_onnx, finbert_sentiment, sentiment_features, training_set,
                lstm_model, lstm_onnx, predictions],
        jobs=[
            define_asset_job(DATA_ASSETS_JOB, selection=data_assets, partitions_def=partitions_def),
            define_asset_job(SENTIMENT_MODEL_JOB, selection=[finbert_model, finbert_onnx]),
            define_asset_job(SENTIMENT_FEATURES_JOB, selection=[finbert_sentiment, sentiment_features],
                             partitions_def=partitions_def),
            define_asset_job(FORECAST_MODEL_JOB, selection=[training_set, lstm_model, lstm_onnx]),
            define_asset_job(PREDICTIONS_JOB, selection=[predictions], partitions_def=partitions_def),
        ],
        resources=default_resources | dict(resources or {}),
    )


defs = build_definitions()
