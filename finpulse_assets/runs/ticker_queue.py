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
tags its in-process runs the same way (`writer_tags`). The CLI in turn waits, before it starts a run, until
no run in progress writes its tickers (`wait_for_writers`). What is left: a queued run the daemon starts in
the second between that check and the CLI's run being STARTED.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence

from dagster import DagsterInstance, DagsterRunStatus, QueuedRunCoordinator, RunsFilter, SubmitRunContext

from finpulse_assets.partitions import TICKER_RUN_TAG, parse_key, ticker_partitions

WRITES_TAG_PREFIX = "finpulse/writes/"
IN_PROGRESS = [DagsterRunStatus.STARTING, DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING]


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


def writers_in_progress(instance: DagsterInstance, tags: Mapping[str, str]) -> list[str]:
    """Ids of the runs in progress that write one of the tickers `tags` (writer_tags) name."""
    found = []
    for key in sorted(k for k in tags if k.startswith(WRITES_TAG_PREFIX)):
        found += [r.run_id for r in instance.get_runs(RunsFilter(statuses=IN_PROGRESS, tags={key: "true"}))]
    return sorted(set(found))


def wait_for_writers(instance: DagsterInstance, tags: Mapping[str, str], poll_seconds: float = 2.0,
                     on_wait: Callable[[list[str]], None] | None = None) -> None:
    """Return once no run in progress writes a ticker of `tags`; `on_wait(run_ids)` is told what it waits for."""
    waiting_for = writers_in_progress(instance, tags)
    while waiting_for:
        if on_wait is not None:
            on_wait(waiting_for)
        time.sleep(poll_seconds)
        waiting_for = writers_in_progress(instance, tags)


class TickerRunCoordinator(QueuedRunCoordinator):
    """QueuedRunCoordinator that tags each run with the tickers it writes and limits each ticker to one run."""

    def _tickers(self) -> list[str]:
        return list(self._instance.get_dynamic_partitions(ticker_partitions.name))

    def submit_run(self, context: SubmitRunContext):
        run = context.dagster_run
        tickers = written_tickers(run.tags, self._tickers())
        tags = writer_tags(tickers)
        if len(tickers) == 1:  # the UI's runs list filters by it, as for the CLI's and the sensor's runs
            tags[TICKER_RUN_TAG] = next(iter(tickers))
        if tags:
            self._instance.add_run_tags(run.run_id, tags)
            run = self._instance.get_run_by_id(run.run_id)
        return super().submit_run(SubmitRunContext(run, context.workspace))

    def get_run_queue_config(self):
        config = super().get_run_queue_config()
        per_ticker = [{"key": key, "limit": 1} for key in writer_tags(self._tickers())]
        return config._replace(tag_concurrency_limits=[*config.tag_concurrency_limits, *per_ticker])
