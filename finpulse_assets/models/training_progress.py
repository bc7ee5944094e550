"""Epoch and step progress of a training loop, for whoever is watching (the CLI's progress line).

The loops (FinBERT fine-tuning, every LSTM fit) call `report(...)`; an asset that trains wraps the
training in `reporting_to(callback)`, so the loops need no extra parameter through the layers that
call them (the LSTM's pooling decision and ablation fit several models). Without a callback
`report` does nothing. The asset logs each report as one line in `message()`'s format, which
`parse()` reads back from the run's event log.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

PREFIX = "training progress:"
_PATTERN = re.compile(rf"^{PREFIX} (?P<model>\S+) fit (?P<fit>\d+) epoch (?P<epoch>\d+)/(?P<epochs>\d+)"
                      r"(?: step (?P<step>\d+)/(?P<steps>\d+))?$")


@dataclass(frozen=True)
class TrainingStep:
    model: str
    fit: int  # the how-many-th model this asset trains (the LSTM fits several)
    epoch: int  # 1-based, of `epochs`
    epochs: int
    step: int = 0  # 1-based batch within the epoch, 0 when reported per epoch only
    steps: int = 0

    def message(self) -> str:
        where = f" step {self.step}/{self.steps}" if self.steps else ""
        return f"{PREFIX} {self.model} fit {self.fit} epoch {self.epoch}/{self.epochs}{where}"

    def fraction(self) -> float:
        """Share of this fit done."""
        within = self.step / self.steps if self.steps else 1.0
        return min(1.0, ((self.epoch - 1) + within) / self.epochs)

    def text(self) -> str:
        """What the progress line shows."""
        fit = f" fit {self.fit}" if self.fit > 1 else ""
        where = f" step {self.step}/{self.steps}" if self.steps else ""
        return f"{self.model}{fit} epoch {self.epoch}/{self.epochs}{where}"


def parse(message: str) -> TrainingStep | None:
    found = _PATTERN.match(message or "")
    if found is None:
        return None
    numbers = {k: int(v) for k, v in found.groupdict().items() if k != "model" and v is not None}
    return TrainingStep(found["model"], **numbers)


_listener: ContextVar[Callable[[int, int, int, int], None] | None] = ContextVar("training_progress", default=None)


def report(epoch: int, epochs: int, step: int = 0, steps: int = 0) -> None:
    """Called by a training loop after each step (or epoch); 1-based."""
    listener = _listener.get()
    if listener is not None:
        listener(epoch, epochs, step, steps)


@contextmanager
def reporting_to(model: str, emit: Callable[[TrainingStep], None], clock, interval: float = 2.0) -> Iterator[None]:
    """Send `model`'s training reports to `emit`, at most one per `interval` seconds of `clock` except each
    fit's first and last (a step per event would flood the event log); a restart at epoch 1 is a new fit."""
    state = {"fit": 0, "last": None, "shown_at": float("-inf")}

    def on_report(epoch: int, epochs: int, step: int, steps: int) -> None:
        last = state["last"]
        if last is None or (epoch, step) < (last.epoch, last.step):
            state["fit"] += 1
        current = TrainingStep(model, state["fit"], epoch, epochs, step, steps)
        state["last"] = current
        first = epoch == 1 and step <= 1
        final = epoch == epochs and step == steps
        if first or final or clock() - state["shown_at"] >= interval:
            state["shown_at"] = clock()
            emit(current)

    token = _listener.set(on_report)
    try:
        yield
    finally:
        _listener.reset(token)
