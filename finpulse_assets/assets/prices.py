"""raw_prices and price_features: the day's bar per ticker, and features from its trailing window."""


import pandas as pd
from dagster import AssetExecutionContext, AssetIn, asset

from finpulse_assets.assets.partitioned import emit, run_partitions, schema_check_spec, split_by_partition
from finpulse_assets.cleaning import clean_prices
from finpulse_assets.features.price import LOOKAHEAD_CALENDAR_DAYS, LOOKBACK_CALENDAR_DAYS, features_by_ticker
from finpulse_assets.partitions import TICKER_DAY_BACKFILL_POLICY, day_window_mapping
from finpulse_assets.schemas import PriceFeatures, RawPrices
from finpulse_assets.sources.base import PriceSource

# price_features of day t reads raw_prices from t - LOOKBACK to t + LOOKAHEAD
# (the later days feed the target columns only).
PRICE_WINDOW_MAPPING = day_window_mapping(-LOOKBACK_CALENDAR_DAYS, LOOKAHEAD_CALENDAR_DAYS)


def _missing_bar(part) -> str:
    return "no bar in the source for this trading day"


def build_price_assets(partitions_def):
    @asset(
        partitions_def=partitions_def,
        backfill_policy=TICKER_DAY_BACKFILL_POLICY,
        check_specs=[schema_check_spec("raw_prices")],
        group_name="price_data",
        kinds={"pandas", "parquet"},
    )
    def raw_prices(context: AssetExecutionContext, price_source: PriceSource):
        """The day's OHLCV and adjusted close; rows with impossible prices are rejected by reason."""
        parts = run_partitions(context)
        tickers = sorted({p.ticker for p in parts})
        raw = price_source.load_prices(tickers, min(p.day for p in parts), max(p.day for p in parts))
        clean, rejects = clean_prices(raw)
        frames = split_by_partition(clean, parts, "date")
        yield from emit(context, frames, RawPrices, rejects, empty_reason=_missing_bar)

    @asset(
        partitions_def=partitions_def,
        backfill_policy=TICKER_DAY_BACKFILL_POLICY,
        ins={"raw_prices": AssetIn(partition_mapping=PRICE_WINDOW_MAPPING)},
        check_specs=[schema_check_spec("price_features")],
        group_name="price_data",
        kinds={"pandas", "parquet"},
    )
    def price_features(context: AssetExecutionContext, raw_prices: pd.DataFrame):
        """Features of trading day t from bars up to t; next-day targets in separate target_* columns."""
        parts = run_partitions(context)
        bars = raw_prices if len(raw_prices) else RawPrices.empty()
        features = features_by_ticker(bars)
        frames = split_by_partition(features, parts, "date")
        yield from emit(context, frames, PriceFeatures, empty_reason=_missing_bar)

    return raw_prices, price_features
