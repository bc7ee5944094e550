"""Adaptive batching across concurrent requests, answered per request and per item.

BentoML's `batchable=True` API hands the whole batch's result to its serializer, so
a request can only get a 200 or share the batch's exception: one bad item would
fail every request batched with it. Here BentoML's own adaptive batcher (its
CorkDispatcher: same latency model, same shedding) drives a function that returns
one outcome per item, and each request maps its own outcomes to a status.

A request whose client timed out (or that the batcher shed) is marked cancelled;
if its items are still queued, the batch skips them, so its work stops.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

import anyio

logger = logging.getLogger(__name__)


class Overloaded(Exception):
    """The batcher could not start this request within its latency budget."""


class Pending(list):
    """One request's items, with a flag the batch reads to skip a request nobody waits for any more."""

    cancelled = False


class ItemBatcher:
    """`await batcher(items)` -> one outcome per item, from `work(items of several requests)`.

    `work` must return one outcome per item and should not raise for what one item holds; if it raises
    anyway, each request of the batch is redone alone and only the failing request gets the exception.
    With `enabled=False` each request runs alone (still one at a time per worker).
    """

    def __init__(self, work: Callable[[list], Sequence[Any]], *, max_batch_size: int, max_latency_ms: int,
                 enabled: bool = True):
        self.work = work
        self.enabled = enabled
        self.max_latency_ms = max_latency_ms
        self._limiter: anyio.CapacityLimiter | None = None
        self._dispatch = None
        if enabled:
            # Private: BentoML exposes its adaptive batcher only behind batchable APIs, which cannot answer per request.
            from bentoml._internal.marshal.dispatcher import CorkDispatcher

            dispatcher = CorkDispatcher(max_latency_ms, max_batch_size, fallback=lambda: _SHED, get_batch_size=len)
            self._dispatch = dispatcher(self._run_batch)

    @property
    def limiter(self) -> anyio.CapacityLimiter:
        # Created on first use, inside the server's event loop; one batch computes at a time per worker.
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(1)
        return self._limiter

    async def __call__(self, items: Sequence[Any]) -> list:
        pending = Pending(items)
        try:
            if self._dispatch is None:
                return list(await anyio.to_thread.run_sync(self.work, list(pending), limiter=self.limiter))
            outcomes = await self._dispatch(pending)
        except asyncio.CancelledError:
            pending.cancelled = True
            raise
        if outcomes is _SHED:
            pending.cancelled = True
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise asyncio.CancelledError  # the dispatcher swallowed our own cancellation (a timeout): keep it
            raise Overloaded(f"no batch could start within the latency budget of {self.max_latency_ms} ms")
        if isinstance(outcomes, Exception):
            raise outcomes
        return outcomes

    async def _run_batch(self, requests: Sequence[list]) -> list:
        return await anyio.to_thread.run_sync(self._compute, requests, limiter=self.limiter)

    def _compute(self, requests: Sequence[list]) -> list:
        live = [r for r in requests if not getattr(r, "cancelled", False)]
        flat = [item for r in live for item in r]
        try:
            outcomes = list(self.work(flat)) if flat else []
            if len(outcomes) != len(flat):
                raise RuntimeError(f"batch work returned {len(outcomes)} outcomes for {len(flat)} items")
        except Exception:
            if len(live) == 1:
                raise
            logger.warning("a batch of %d requests failed together; redoing each alone", len(live))
            by_request = {id(r): self._alone(r) for r in live}
        else:
            by_request, start = {}, 0
            for r in live:
                by_request[id(r)] = outcomes[start:start + len(r)]
                start += len(r)
        return [by_request.get(id(r), []) for r in requests]

    def _alone(self, items: list) -> list | Exception:
        try:
            return list(self.work(list(items)))
        except Exception as exc:  # this request's own failure: it becomes this request's 500, nobody else's
            return exc


_SHED = object()
