"""Ticker x day partitions and how backfills batch them.

Tickers are dynamic partitions: the set grows from configuration or a sensor
without a code change. Days are calendar days from the configured start;
closed days are valid partitions that materialize empty.

A backfill must not cost one run per partition. Every ticker x day asset
processes all partitions of its run at once (`context.partition_keys`), and
the single-run backfill policy lets Dagster put a ticker's whole range of
days in one run: Dagster groups a multi-partition backfill by its smaller
dimension, so a UI backfill of T tickers over more than T days launches T runs
(over fewer days, one run per day over all T tickers). The CLI's
`dagster asset materialize --partition-range` needs this policy too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd
from dagster import (
    BackfillPolicy,
    DailyPartitionsDefinition,
    DimensionPartitionMapping,
    DynamicPartitionsDefinition,
    IdentityPartitionMapping,
    MultiPartitionKey,
    MultiPartitionMapping,
    MultiPartitionsDefinition,
    TimeWindowPartitionMapping,
)

from finpulse_assets.settings import Settings

TICKER_DIM = "ticker"
DATE_DIM = "date"

ticker_partitions = DynamicPartitionsDefinition(name="tickers")

TICKER_DAY_BACKFILL_POLICY = BackfillPolicy.single_run()
# The ticker of a run over one ticker (the CLI's, new_data_sensor's, and one-ticker backfill runs once
# queued), for finding runs in the UI; the queue's per-ticker limit is on runs/ticker_queue.py's tags.
TICKER_RUN_TAG = "finpulse/ticker"
# Dagster's documented recommendation: at most 100,000 partitions per asset (the UI and the
# partition status queries slow down past it). Every ticker x day asset has tickers x days of them.
PARTITIONS_PER_ASSET_CEILING = 100_000


class PartitionCeilingError(ValueError):
    """The configured universe would give each ticker x day asset more partitions than Dagster handles well."""


def check_partition_ceiling(tickers: int, days: int, ceiling: int = PARTITIONS_PER_ASSET_CEILING) -> int:
    """tickers x days, or PartitionCeilingError saying what to change when it passes `ceiling`."""
    count = tickers * days
    if count > ceiling:
        raise PartitionCeilingError(
            f"{tickers} tickers x {days} days = {count:,} partitions per ticker x day asset, past Dagster's "
            f"recommended ceiling of {ceiling:,} per asset. Use fewer days (FINPULSE_START/FINPULSE_END: at most "
            f"{ceiling // tickers:,} days for {tickers} tickers) or fewer tickers per code location (split "
            f"FINPULSE_TICKERS over code locations, at most {ceiling // days:,} tickers each for {days} days).")
    return count


def day_window_mapping(start_offset: int, end_offset: int) -> MultiPartitionMapping:
    """Ticker x day partition t reads the same ticker's days t + start_offset .. t + end_offset (calendar days)."""
    return MultiPartitionMapping({
        DATE_DIM: DimensionPartitionMapping(DATE_DIM, TimeWindowPartitionMapping(
            start_offset=start_offset, end_offset=end_offset, allow_nonexistent_upstream_partitions=True)),
        TICKER_DIM: DimensionPartitionMapping(TICKER_DIM, IdentityPartitionMapping()),
    })


def day_partitions(settings: Settings) -> DailyPartitionsDefinition:
    return DailyPartitionsDefinition(start_date=settings.start, end_date=settings.end)


def ticker_day_partitions(settings: Settings) -> MultiPartitionsDefinition:
    """Refuses (PartitionCeilingError) a universe past PARTITIONS_PER_ASSET_CEILING."""
    days = (pd.Timestamp(settings.end) - pd.Timestamp(settings.start)).days
    check_partition_ceiling(len(settings.tickers), days)
    return MultiPartitionsDefinition({DATE_DIM: day_partitions(settings), TICKER_DIM: ticker_partitions})


@dataclass(frozen=True, order=True)
class TickerDay:
    ticker: str
    day: date

    @property
    def key(self) -> MultiPartitionKey:
        return MultiPartitionKey({DATE_DIM: self.day.isoformat(), TICKER_DIM: self.ticker})


def parse_key(key: str | MultiPartitionKey) -> TickerDay:
    if not isinstance(key, MultiPartitionKey):
        date_part, ticker_part = str(key).split("|")
        key = MultiPartitionKey({DATE_DIM: date_part, TICKER_DIM: ticker_part})
    dims = key.keys_by_dimension
    return TickerDay(ticker=dims[TICKER_DIM], day=pd.Timestamp(dims[DATE_DIM]).date())


def parse_keys(keys) -> list[TickerDay]:
    return sorted(parse_key(k) for k in keys)


def key_for(ticker: str, day: date) -> str:
    return str(TickerDay(ticker, day).key)


def range_tags(ticker: str, first: date, last: date) -> dict[str, str]:
    """Run tags for one run over a ticker's days first..last (inclusive), as a single-run backfill sets them."""
    # Dagster's public API sets these only through backfills; a run of its own needs the tags themselves.
    from finpulse_assets.dagster_private import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

    return {ASSET_PARTITION_RANGE_START_TAG: key_for(ticker, first), ASSET_PARTITION_RANGE_END_TAG: key_for(ticker, last)}
