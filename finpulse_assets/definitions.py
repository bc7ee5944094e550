"""The one Definitions object of FinPulse."""

from __future__ import annotations

from pathlib import Path

from dagster import Definitions, define_asset_job

from finpulse_assets.assets.prices import build_price_assets
from finpulse_assets.assets.tweets import build_tweet_assets
from finpulse_assets.io_managers.parquet import PartitionedParquetIOManager
from finpulse_assets.partitions import ticker_day_partitions
from finpulse_assets.resources import price_source, tweet_source
from finpulse_assets.settings import Settings

DATA_ASSETS_JOB = "data_assets_job"


def build_definitions(settings: Settings | None = None) -> Definitions:
    settings = settings or Settings.from_env()
    partitions_def = ticker_day_partitions(settings)
    raw_tweets, vader_labels = build_tweet_assets(partitions_def)
    raw_prices, price_features = build_price_assets(partitions_def)
    assets = [raw_tweets, vader_labels, raw_prices, price_features]
    return Definitions(
        assets=assets,
        jobs=[define_asset_job(DATA_ASSETS_JOB, selection=assets, partitions_def=partitions_def)],
        resources={
            "tweet_source": tweet_source(settings),
            "price_source": price_source(settings),
            "io_manager": PartitionedParquetIOManager(base_dir=str(Path(settings.storage_dir) / "assets")),
        },
    )


defs = build_definitions()
