"""raw_tweets and vader_labels: the day's tweets per ticker, and their VADER labels."""

import pandas as pd
from dagster import AssetExecutionContext, AssetIn, IOManager, ResourceParam, asset

from finpulse_assets.assets.completeness import ReplaceConfig, guard_replacement, guard_ticker_coverage
from finpulse_assets.assets.partitioned import emit, run_partitions, schema_check_spec, split_by_partition
from finpulse_assets.sources.cleaning import clean_tweets
from finpulse_assets.features.market_calendar import tweet_window_utc
from finpulse_assets.partitions import TICKER_DAY_BACKFILL_POLICY
from finpulse_assets.assets.schemas import RawTweets, VaderLabels
from finpulse_assets.sentiment.vader import vader_scores
from finpulse_assets.sources.base import TweetSource


def build_tweet_assets(partitions_def):
    @asset(
        partitions_def=partitions_def,
        backfill_policy=TICKER_DAY_BACKFILL_POLICY,
        check_specs=[schema_check_spec("raw_tweets")],
        group_name="sentiment_data",
        kinds={"pandas", "parquet"},
    )
    def raw_tweets(context: AssetExecutionContext, config: ReplaceConfig, tweet_source: TweetSource,
                   io_manager: ResourceParam[IOManager]):
        """The tweets filed under the ticker that count toward the trading day.

        A tweet counts toward trading day t when posted after the previous
        trading day's 16:00 New York close and at or before t's close; closed
        days are empty. Deduplicated by tweet_id (the first row of an id in the source is the tweet), HTML
        entities unescaped. Refuses to replace stored partitions with fewer rows (see ReplaceConfig)."""
        parts = run_partitions(context)
        tickers = sorted({p.ticker for p in parts})
        first, last = min(p.day for p in parts), max(p.day for p in parts)
        # (close before the first day, close of the last day]: load_tweets is [start, end).
        start, end = tweet_window_utc(first, last)
        where = tweet_source.location(tickers)
        guard_ticker_coverage(context, tickers, tweet_source.available_tickers(), config, where)
        raw = tweet_source.load_tweets(tickers, start, end)
        clean, rejects = clean_tweets(raw)
        frames = split_by_partition(clean, parts, "trading_day")
        replaced = guard_replacement(context, io_manager, frames, config, where, rejects)
        yield from emit(context, frames, RawTweets, rejects, run_metadata=replaced)

    @asset(
        partitions_def=partitions_def,
        backfill_policy=TICKER_DAY_BACKFILL_POLICY,
        ins={"raw_tweets": AssetIn()},
        check_specs=[schema_check_spec("vader_labels")],
        group_name="sentiment_data",
        kinds={"pandas", "parquet"},
    )
    def vader_labels(context: AssetExecutionContext, raw_tweets: pd.DataFrame):
        """VADER compound/pos/neu/neg per tweet and a label: positive >= 0.05, negative <= -0.05, else neutral."""
        parts = run_partitions(context)
        base = raw_tweets[["tweet_id", "ticker", "trading_day", "text"]] if len(raw_tweets) else \
            pd.DataFrame({"tweet_id": pd.Series(dtype=str), "ticker": pd.Series(dtype=str),
                          "trading_day": pd.Series(dtype="datetime64[ns]"), "text": pd.Series(dtype=str)})
        labelled = pd.concat([base.reset_index(drop=True), vader_scores(base["text"]).reset_index(drop=True)], axis=1)
        frames = split_by_partition(labelled, parts, "trading_day")
        yield from emit(context, frames, VaderLabels)

    return raw_tweets, vader_labels
