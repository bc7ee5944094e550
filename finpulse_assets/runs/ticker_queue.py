"""The run queue of a deployment: one run at a time writes a ticker, whatever launched it.

`TickerRunCoordinator` is Dagster's QueuedRunCoordinator (dagster.yaml's `run_coordinator`) with two
additions. Every run it enqueues gets a tag `finpulse/writes/<TICKER>` for each ticker its partitions
cover, read from the partition tags Dagster itself puts on the run: a single partition, or the range of a
backfill (one ticker x many days, or one day x several tickers when the backfill has fewer days than
tickers: Dagster groups a backfill's runs by the dimension with fewer keys). And the queue's tag limits
include `finpulse/writes/<TICKER>: 1` for every registered ticker, so the daemon starts no run while
another run writing one of its tickers is in progress. A per-value limit on one tag could not do this: a
run over several tickers would need several values of it.

Runs that do not pass through the queue count too: the daemon counts every run in progress, and the CLI
tags its in-process runs the same way (`writer_tags`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from dagster import QueuedRunCoordinator, SubmitRunContext

from finpulse_assets.partitions import TICKER_RUN_TAG, parse_key, ticker_partitions

WRITES_TAG_PREFIX = "finpulse/writes/"


def writer_tags(tickers: Iterable[str]) -> dict[str, str]:
    """The tags of a run that writes `tickers`' ticker x day partitions."""
    return {f"{WRITES_TAG_PREFIX}{ticker}": "true" for ticker in sorted(set(tickers))}


def written_tickers(tags: Mapping[str, str], known: Sequence[str]) -> set[str]:
    """The tickers whose partitions a run with `tags` writes; `known`: the registered tickers, in Dagster's
    order (a backfill range over tickers covers the ones between its ends in that order)."""
    from finpulse_assets.dagster_private import (
        ASSET_PARTITION_RANGE_END_TAG,
        ASSET_PARTITION_RANGE_START_TAG,
        PARTITION_NAME_TAG,
    )

    if PARTITION_NAME_TAG in tags:
        return {parse_key(tags[PARTITION_NAME_TAG]).ticker}
    if ASSET_PARTITION_RANGE_START_TAG in tags and ASSET_PARTITION_RANGE_END_TAG in tags:
        first = parse_key(tags[ASSET_PARTITION_RANGE_START_TAG]).ticker
        last = parse_key(tags[ASSET_PARTITION_RANGE_END_TAG]).ticker
        if first == last:
            return {first}
        if first in known and last in known and known.index(first) <= known.index(last):
            return set(known[known.index(first):known.index(last) + 1])
        return set(known) | {first, last}  # an order we cannot place: every ticker, to be safe
    return {tags[TICKER_RUN_TAG]} if TICKER_RUN_TAG in tags else set()


class TickerRunCoordinator(QueuedRunCoordinator):
    """QueuedRunCoordinator that tags each run with the tickers it writes and limits each ticker to one run."""

    def _tickers(self) -> list[str]:
        return list(self._instance.get_dynamic_partitions(ticker_partitions.name))

    def submit_run(self, context: SubmitRunContext):
        run = context.dagster_run
        tags = writer_tags(written_tickers(run.tags, self._tickers()))
        if tags:
            self._instance.add_run_tags(run.run_id, tags)
            run = self._instance.get_run_by_id(run.run_id)
        return super().submit_run(SubmitRunContext(run, context.workspace))

    def get_run_queue_config(self):
        config = super().get_run_queue_config()
        per_ticker = [{"key": key, "limit": 1} for key in writer_tags(self._tickers())]
        return config._replace(tag_concurrency_limits=[*config.tag_concurrency_limits, *per_ticker])
