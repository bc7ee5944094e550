"""new_data_sensor: days and tickers the price source holds that raw_prices has not materialized.

Each tick asks the configured price source for its tickers and their days
(`PriceSource.available_tickers`, `available_days`), compares them with the
materialized raw_prices partitions, registers new tickers as dynamic partitions
and requests the missing ticker x day partitions in the same SensorResult: one
run per ticker and contiguous range of missing days (at most `max_days_per_run`
days each), never one run per partition. The runs cover every ticker x day
asset whose model inputs exist, so a new trading day flows on to sentiment,
predictions, drift and prediction errors.
"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
from dagster import AddDynamicPartitionsRequest, AssetKey, DefaultSensorStatus, RunRequest, SensorResult, sensor
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from finpulse_assets.partitions import key_for, parse_key, ticker_partitions
from finpulse_assets.sources.base import PriceSource

NEW_DATA_SENSOR = "new_data_sensor"
DATA_ASSETS = ["raw_tweets", "vader_labels", "raw_prices", "price_features"]
# Downstream ticker x day assets and the unpartitioned assets they need before they can run.
DOWNSTREAM = [(["finbert_sentiment", "sentiment_features"], ["finbert_onnx"]),
              (["predictions", "prediction_errors"], ["lstm_onnx"]),
              (["drift_report"], ["lstm_model", "training_set"])]


def missing_ranges(source_days: list[date], materialized: set[date], first: date, max_days: int):
    """Contiguous (start, end) ranges of calendar days from `first` to the last source day that are not
    materialized (closed days included: they are partitions too), each at most `max_days` long."""
    if not source_days:
        return []
    span = (max(source_days) - first).days + 1
    missing = [first + timedelta(days=i) for i in range(span) if first + timedelta(days=i) not in materialized]
    ranges: list[list[date]] = []
    for day in missing:
        if ranges and (day - ranges[-1][-1]).days == 1 and len(ranges[-1]) < max_days:
            ranges[-1].append(day)
        else:
            ranges.append([day])
    return [(r[0], r[-1]) for r in ranges]


def runnable_assets(instance) -> list[AssetKey]:
    keys = [AssetKey(k) for k in DATA_ASSETS]
    for assets, needs in DOWNSTREAM:
        if all(instance.get_latest_materialization_event(AssetKey(n)) is not None for n in needs):
            keys += [AssetKey(a) for a in assets]
    return keys


def build_new_data_sensor(first_day: date, last_day: date, target_assets, max_days_per_run: int):
    """`first_day`..`last_day`: the day partitions; `target_assets`: every ticker x day asset."""

    @sensor(name=NEW_DATA_SENSOR, target=target_assets, default_status=DefaultSensorStatus.RUNNING,
            minimum_interval_seconds=300)
    def new_data_sensor(context, price_source: PriceSource):
        """Requests the ticker x day partitions of new source data (new days, new files, new tickers)."""
        instance = context.instance
        known = set(instance.get_dynamic_partitions(ticker_partitions.name))
        done: dict[str, set[date]] = {}
        for key in instance.get_materialized_partitions(AssetKey("raw_prices")):
            part = parse_key(key)
            done.setdefault(part.ticker, set()).add(part.day)
        tickers = sorted(price_source.available_tickers())
        new_tickers = [t for t in tickers if t not in known]
        selection = runnable_assets(instance)
        requests = []
        for ticker in tickers:
            days = price_source.available_days(ticker, first_day, last_day)
            for start, end in missing_ranges(days, done.get(ticker, set()), first_day, max_days_per_run):
                requests.append(RunRequest(
                    run_key=f"{NEW_DATA_SENSOR}:{ticker}:{start}:{end}", asset_selection=selection,
                    tags={ASSET_PARTITION_RANGE_START_TAG: key_for(ticker, start),
                          ASSET_PARTITION_RANGE_END_TAG: key_for(ticker, end), "finpulse/trigger": "new data"}))
        if not requests and not new_tickers:
            return SensorResult(skip_reason=f"raw_prices holds every day the source has for {len(tickers)} tickers")
        context.log.info(f"new tickers {new_tickers}; {len(requests)} runs: "
                         + ", ".join(f"{r.tags[ASSET_PARTITION_RANGE_START_TAG]}..{r.tags[ASSET_PARTITION_RANGE_END_TAG]}"
                                     for r in requests[:10]))
        dynamic = [AddDynamicPartitionsRequest(ticker_partitions.name, new_tickers)] if new_tickers else []
        return SensorResult(run_requests=requests, dynamic_partitions_requests=dynamic)

    return new_data_sensor


def day_bounds(start: str, end_exclusive: str) -> tuple[date, date]:
    return pd.Timestamp(start).date(), (pd.Timestamp(end_exclusive) - pd.Timedelta(days=1)).date()
