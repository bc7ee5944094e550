"""new_data_sensor: days and tickers the price source holds that raw_prices has not materialized.

Each tick asks the configured price source for its tickers and their days
(`PriceSource.available_tickers`, `available_days`), compares them with the
materialized raw_prices partitions, registers new tickers as dynamic partitions
and requests the missing ticker x day partitions in the same SensorResult: one
run per ticker and contiguous range of missing days (at most `max_days_per_run`
days each), never one run per partition. The runs cover every ticker x day
asset whose model inputs exist, so a new trading day flows on to sentiment,
predictions, drift and prediction errors.

With an s3_landing source it also watches the landing prefix: every object that is new
or overwritten (another ETag or LastModified) since the cursor asks for the ticker x
days it holds to be (re)loaded, materialized or not; the cursor (key -> ETag@LastModified
of every object seen) advances in the same SensorResult. A bad file fails the tick with
an error naming its key and leaves the cursor where it was.

Before requesting a ticker's runs it reads both sources for that ticker and days, as the CLI does before its
first run (`assets/run_inputs.input_problems`): a ticker whose input cannot be read (prices but no tweets, a
file cut or ambiguous) gets no run, and the tick's log says why.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, timedelta

import pandas as pd
from dagster import AddDynamicPartitionsRequest, AssetKey, DefaultSensorStatus, RunRequest, SensorResult, sensor
from finpulse_assets.dagster_private import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from finpulse_assets.assets.run_inputs import input_problems
from finpulse_assets.partitions import TICKER_RUN_TAG, parse_key, range_tags, ticker_partitions
from finpulse_assets.sensors.widening import widening_tags
from finpulse_assets.sources.base import PriceSource, TweetSource
from finpulse_assets.sources.s3_landing import (
    LandingObject,
    S3LandingPriceSource,
    S3LandingTweetSource,
    price_ticker,
)

NEW_DATA_SENSOR = "new_data_sensor"
DATA_ASSETS = ["raw_tweets", "vader_labels", "raw_prices", "price_features"]
# Downstream ticker x day assets and the unpartitioned assets they need before they can run.
DOWNSTREAM = [(["finbert_sentiment", "sentiment_features"], ["finbert_onnx"]),
              (["predictions", "prediction_errors"], ["lstm_onnx"]),
              (["drift_report"], ["lstm_model", "training_set"])]
SPAN_REASON = ("the landed files' days are reloaded as one contiguous range per run, so the days between "
               "them that the files do not hold (closed days, days of other drops) are written again too")


def missing_ranges(source_days: list[date], materialized: set[date], first: date, max_days: int):
    """Contiguous (start, end) ranges of calendar days from `first` to the last source day that are not
    materialized (closed days included: they are partitions too), each at most `max_days` long."""
    return day_ranges(missing_days(source_days, materialized, first), max_days)


def missing_days(source_days: list[date], materialized: set[date], first: date) -> set[date]:
    if not source_days:
        return set()
    span = (max(source_days) - first).days + 1
    return {first + timedelta(days=i) for i in range(span) if first + timedelta(days=i) not in materialized}


def day_span(days: set[date]) -> set[date]:
    """Every calendar day from the first to the last of `days` (closed days are partitions too)."""
    if not days:
        return set()
    lo, hi = min(days), max(days)
    return {lo + timedelta(days=i) for i in range((hi - lo).days + 1)}


def day_ranges(days: set[date], max_days: int) -> list[tuple[date, date]]:
    """Contiguous (start, end) ranges of `days`, each at most `max_days` long."""
    ranges: list[list[date]] = []
    for day in sorted(days):
        if ranges and (day - ranges[-1][-1]).days == 1 and len(ranges[-1]) < max_days:
            ranges[-1].append(day)
        else:
            ranges.append([day])
    return [(r[0], r[-1]) for r in ranges]


def object_version(obj: LandingObject) -> str:
    return f"{obj.etag}@{obj.last_modified.isoformat()}"


def changed_objects(cursor: str | None, objects: list[LandingObject]) -> tuple[list[LandingObject], str]:
    """Objects new or overwritten since `cursor`, and the cursor that has seen all of `objects`."""
    seen = json.loads(cursor) if cursor else {}
    current = {o.key: object_version(o) for o in objects}
    changed = [o for o in objects if seen.get(o.key) != current[o.key]]
    return changed, json.dumps(current, sort_keys=True, separators=(",", ":"))


def landing_days(context, price_source: PriceSource, tweet_source: TweetSource):
    """({ticker: days to (re)load}, digest of the changed objects, new cursor), or None without a landing source."""
    watched = [s for s in (price_source, tweet_source) if isinstance(s, (S3LandingPriceSource, S3LandingTweetSource))]
    if not watched:
        return None
    objects = watched[0].landing.objects()
    changed, cursor = changed_objects(context.cursor, objects)
    changed_keys = {o.key for o in changed}
    days: dict[str, set[date]] = {}

    def add(found: dict[str, set[date]]):
        for ticker, found_days in found.items():
            days.setdefault(ticker, set()).update(found_days)

    used: set[str] = set()
    if isinstance(price_source, S3LandingPriceSource):
        prices = price_source.landing.folder("prices")
        for obj in changed:
            if obj.key.startswith(prices) and price_ticker(obj.key):
                add(price_source.days_in(obj))
                used.add(obj.key)
    if isinstance(tweet_source, S3LandingTweetSource):
        for drop in tweet_source.drops().values():
            if any(o.key in changed_keys for o in drop):
                add(tweet_source.days_in(drop))
                used.update(o.key for o in drop)
    unused = sorted(changed_keys - used)
    if unused:
        context.log.warning(f"{len(unused)} landing objects are no price file or tweet drop of a configured "
                            f"s3_landing source, nothing requested for them: {unused[:10]}")
    digest = hashlib.sha256("\n".join(f"{o.key}={object_version(o)}" for o in changed).encode()).hexdigest()[:12]
    if changed:
        context.log.info(f"{len(changed)} new or overwritten landing objects: "
                         + ", ".join(o.key for o in changed[:10]))
    return days, digest, cursor


def unreadable_inputs(price_source: PriceSource, tweet_source: TweetSource,
                      wanted: dict[str, tuple[list[tuple[date, date]], set, str]]) -> dict[str, list[str]]:
    """{ticker: problems} of the tickers whose sources cannot be read over their wanted days: the CLI's input
    check, so that a run of this sensor cannot commit one source's tables and then fail on the other's. One
    read of every wanted ticker; only when it finds a problem, one per ticker to name which."""
    if not wanted:
        return {}
    first = min(r[0][0][0] for r in wanted.values())
    last = max(r[0][-1][1] for r in wanted.values())
    if not input_problems(tweet_source, price_source, list(wanted), first, last):
        return {}
    problems = {t: input_problems(tweet_source, price_source, [t], r[0][0][0], r[0][-1][1])
                for t, r in wanted.items()}
    return {ticker: found for ticker, found in problems.items() if found}


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
    def new_data_sensor(context, price_source: PriceSource, tweet_source: TweetSource):
        """Requests the ticker x day partitions of new source data (new days, new files, new tickers)."""
        landing = landing_days(context, price_source, tweet_source)
        changed, digest, cursor = landing if landing is not None else ({}, "", None)
        instance = context.instance
        known = set(instance.get_dynamic_partitions(ticker_partitions.name))
        done: dict[str, set[date]] = {}
        for key in instance.get_materialized_partitions(AssetKey("raw_prices")):
            part = parse_key(key)
            done.setdefault(part.ticker, set()).add(part.day)
        tickers = sorted(price_source.available_tickers())
        new_tickers = [t for t in tickers if t not in known]
        selection = runnable_assets(instance)
        without_prices = sorted(set(changed) - set(tickers))
        if without_prices:
            context.log.warning(f"landing tweets for tickers without a price file, not requested until their "
                                f"prices land: {without_prices}")
        wanted: dict[str, tuple[list[tuple[date, date]], set[date], str]] = {}
        for ticker in tickers:
            days = missing_days(price_source.available_days(ticker, first_day, last_day), done.get(ticker, set()),
                                first_day)
            held = {d for d in changed.get(ticker, set()) if first_day <= d <= last_day}
            landed = {d for d in day_span(held) if first_day <= d <= last_day}
            # A re-landed range gets a run key of its own: Dagster would skip a key it has seen.
            if ticker_ranges := day_ranges(days | landed, max_days_per_run):
                wanted[ticker] = (ticker_ranges, days | held, f":{digest}" if landed else "")
        unreadable = unreadable_inputs(price_source, tweet_source, wanted)
        requests = [
            RunRequest(run_key=f"{NEW_DATA_SENSOR}:{ticker}:{start}:{end}{suffix}", asset_selection=selection,
                       tags={**range_tags(ticker, start, end), TICKER_RUN_TAG: ticker, "finpulse/trigger": "new data",
                             **widening_tags(asked, start, end, SPAN_REASON)})
            for ticker, (ticker_ranges, asked, suffix) in wanted.items() if ticker not in unreadable
            for start, end in ticker_ranges]
        if unreadable:
            context.log.warning("no run requested for " + "; ".join(
                f"{ticker} ({', '.join(problems)})" for ticker, problems in unreadable.items())
                + ": an input cannot be read. Fix it; the next tick requests them.")
            if any(ticker in changed for ticker in unreadable):
                cursor = context.cursor  # their landed files stay unseen; the others' run keys repeat, so no rerun
        if not requests and not new_tickers:
            held = f"raw_prices holds every day the source has for {len(tickers) - len(unreadable)} tickers"
            return SensorResult(cursor=cursor, skip_reason=held + (
                f"; inputs that cannot be read: {', '.join(unreadable)} (see the tick's log)" if unreadable else ""))
        context.log.info(f"new tickers {new_tickers}; {len(requests)} runs: "
                         + ", ".join(f"{r.tags[ASSET_PARTITION_RANGE_START_TAG]}..{r.tags[ASSET_PARTITION_RANGE_END_TAG]}"
                                     for r in requests[:10]))
        dynamic = [AddDynamicPartitionsRequest(ticker_partitions.name, new_tickers)] if new_tickers else []
        return SensorResult(run_requests=requests, dynamic_partitions_requests=dynamic, cursor=cursor)

    return new_data_sensor


def day_bounds(start: str, end_exclusive: str) -> tuple[date, date]:
    return pd.Timestamp(start).date(), (pd.Timestamp(end_exclusive) - pd.Timedelta(days=1)).date()
