"""Batching across concurrent requests, answered per request and per item.

BentoML's `batchable=True` API hands the whole batch's result to its serializer, so
a request can only get a 200 or share the batch's exception: one bad item would
fail every request batched with it. Here `work` returns one outcome per item and
each request maps its own outcomes to a status.

The batching is the simplest that cannot stall: while a batch computes, requests
queue; when it ends, the next batch takes what queued (up to `max_batch_size`).
A lone request starts at once. BentoML's adaptive batcher (CorkDispatcher, used
here before) corks requests for the average wait it has seen, and that average
is fed by its own corking: after load a lone request kept waiting 100+ ms for a
minute and more, and one large request taught it a per-batch cost that shed
normal requests for 1-2 minutes (issue 24). Nothing here learns from the past.

Overload: a request still queued `max_latency_ms` after it arrived is shed (503);
so is one that arrives while `max_queue_size` items wait. A request whose client
went away (timeout, disconnect) is marked cancelled and its queued items skipped.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio

logger = logging.getLogger(__name__)


class Overloaded(Exception):
    """The batcher could not start this request within its latency budget."""

    def __init__(self, message: str, reason: str = "latency"):
        super().__init__(message)
        self.reason = reason


@dataclass(eq=False)
class _Job:
    items: list
    size: int
    future: asyncio.Future
    enqueued: float = field(default_factory=time.monotonic)
    cancelled: bool = False


class BatchObserver:
    """Hooks for metrics; the default records nothing."""

    def batch(self, items: int, requests: int, seconds: float) -> None: ...

    def queue(self, items: int) -> None: ...

    def shed(self, reason: str) -> None: ...


class ItemBatcher:
    """`await batcher(items)` -> one outcome per item, from `work(items of several requests)`.

    `work` must return one outcome per item and should not raise for what one item holds; if it raises
    anyway, each request of the batch is redone alone and only the failing request gets the exception.
    One batch computes at a time (in a worker thread). With `enabled=False` each request is its own batch.
    """

    def __init__(self, work: Callable[[list], Sequence[Any]], *, max_batch_size: int, max_latency_ms: int,
                 enabled: bool = True, max_queue_size: int | None = None, size: Callable[[list], int] = len,
                 observer: BatchObserver | None = None):
        self.work = work
        self.enabled = enabled
        self.max_batch_size = max_batch_size if enabled else 1
        self.max_latency_ms = max_latency_ms
        self.max_queue_size = max_queue_size if max_queue_size is not None else 16 * max_batch_size
        self.size = size
        self.observer = observer or BatchObserver()
        self._queue: collections.deque[_Job] = collections.deque()
        self._queued = 0
        self._runner: asyncio.Task | None = None

    async def __call__(self, items: Sequence[Any]) -> list:
        size = self.size(items)
        if self._queued and self._queued + size > self.max_queue_size:
            self.observer.shed("queue_full")
            raise Overloaded(f"{self._queued} items are queued (at most {self.max_queue_size})", "queue_full")
        job = _Job(list(items), size, asyncio.get_running_loop().create_future())
        self._queue.append(job)
        self._queued += size
        self.observer.queue(self._queued)
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run())
        try:
            outcome = await job.future
        except asyncio.CancelledError:
            job.cancelled = True
            raise
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def _next_batch(self) -> list[_Job]:
        batch, size, now = [], 0, time.monotonic()
        budget = self.max_latency_ms / 1000
        while self._queue:
            job = self._queue[0]
            if batch and (not self.enabled or size + job.size > self.max_batch_size):
                break
            self._queue.popleft()
            self._queued -= job.size
            if job.cancelled or job.future.done():
                continue
            if now - job.enqueued > budget:
                self.observer.shed("latency")
                job.future.set_result(Overloaded(
                    f"no batch could start within the latency budget of {self.max_latency_ms} ms", "latency"))
                continue
            batch.append(job)
            size += job.size
        self.observer.queue(self._queued)
        return batch

    async def _run(self) -> None:
        while self._queue:
            batch = self._next_batch()
            if not batch:
                continue
            start = time.perf_counter()
            try:
                outcomes = await anyio.to_thread.run_sync(self._compute, [job.items for job in batch])
            except BaseException as exc:  # the runner itself was cancelled (shutdown): nobody gets an answer
                for job in batch:
                    if not job.future.done():
                        job.future.cancel()
                if isinstance(exc, Exception):
                    logger.exception("the batch runner failed")
                    continue
                raise
            self.observer.batch(sum(len(job.items) for job in batch), len(batch), time.perf_counter() - start)
            for job, outcome in zip(batch, outcomes):
                if not job.future.done():
                    job.future.set_result(outcome)

    def _compute(self, requests: list[list]) -> list:
        flat = [item for r in requests for item in r]
        try:
            outcomes = list(self.work(flat)) if flat else []
            if len(outcomes) != len(flat):
                raise RuntimeError(f"batch work returned {len(outcomes)} outcomes for {len(flat)} items")
        except Exception as exc:
            if len(requests) == 1:
                return [exc]
            logger.warning("a batch of %d requests failed together; redoing each alone", len(requests))
            return [self._alone(r) for r in requests]
        by_request, start = [], 0
        for r in requests:
            by_request.append(outcomes[start:start + len(r)])
            start += len(r)
        return by_request

    def _alone(self, items: list) -> list | Exception:
        try:
            return list(self.work(list(items)))
        except Exception as exc:  # this request's own failure: it becomes this request's 500, nobody else's
            return exc
