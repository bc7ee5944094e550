"""Progress of long commands: the stage, done of total, rate and time left.

On a terminal one line is rewritten in place; in a log (stderr not a tty, as in
CI) a plain line is printed every `FINPULSE_PROGRESS_SECONDS` (default 15) and
when a stage ends, also while nothing arrives (a step writes all its partitions at its end, so a long step
would otherwise look stuck). Stages of a Dagster run count its events as they are stored:
`listener()` is a callback for `DagsterInstance.add_event_listener` that
advances on each ASSET_MATERIALIZATION of the run (one per asset partition), and shows the training
progress a model asset logs (models/training_progress.py: epoch, step).

A stage of per-ticker runs also counts the tickers whose run finished (`part_done`). With `plan` the
line ends with the whole command's time left (runs/eta.py), estimated at each unit, ticker,
training report and stage end, and counting down in between.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Sequence
from typing import TextIO

from finpulse_assets.models.training_progress import PREFIX as TRAINING_PREFIX
from finpulse_assets.models.training_progress import TrainingStep, parse
from finpulse_assets.runs.eta import OverallEstimate


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 \
        else f"{seconds // 60}:{seconds % 60:02d}"


class Progress:
    def __init__(self, stream: TextIO | None = None, interval: float | None = None, clock=time.monotonic):
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        default = 0.2 if self.tty else float(os.environ.get("FINPULSE_PROGRESS_SECONDS", "15"))
        self.interval = default if interval is None else interval
        self.clock = clock
        self.name, self.unit, self.total, self.done = "", "", 0, 0
        self.started = self.last_shown = 0.0
        # Time left as estimated at the last unit, and when: between units it counts down instead of
        # growing with the elapsed time (a model stage's one asset of two done, the next one training).
        self._left, self._left_at = 0.0, 0.0
        self.job = ""
        self.parts_total = self.parts_done = 0
        self.parts_unit = "tickers"
        self.training: TrainingStep | None = None
        self.overall: OverallEstimate | None = None
        # The whole command's time left when last estimated: (this stage's, the later stages'), and when.
        self._overall_left, self._overall_at = (0.0, 0.0), None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None

    def plan(self, stages: Sequence[tuple[str, int]]) -> None:
        """The command's stages in order, (name, units): the line then shows the time left for all of them."""
        self.overall = OverallEstimate(stages)

    def stage(self, name: str, total: int, unit: str = "partitions", index: tuple[int, int] | None = None,
              parts: int = 0) -> None:
        """Start a stage of `total` units (0: unknown, shows elapsed time only); `index`: (k, n), stage k of n;
        `parts`: the tickers whose runs make up the stage (counted by `part_done`)."""
        self.job = name
        self.name = f"stage {index[0]} of {index[1]}: {name}" if index else name
        self.unit, self.total, self.done = unit, total, 0
        self.parts_total, self.parts_done, self.training = parts, 0, None
        self.started = self.clock()
        self._left, self._left_at = 0.0, 0.0
        self._overall_at = None  # a stage outside the plan (make evaluate's evaluation) shows no total
        self._estimate_overall()
        self.last_shown = float("-inf")
        self._show()
        self._stop.clear()
        if self._heartbeat is None or not self._heartbeat.is_alive():
            self._heartbeat = threading.Thread(target=self._beat, name="progress", daemon=True)
            self._heartbeat.start()

    def _beat(self) -> None:
        """Re-show the line (elapsed time, rate) every interval (at least 1 s) while the stage runs."""
        while not self._stop.wait(max(self.interval, 1.0)):
            if self.clock() - self.last_shown >= self.interval:
                self._show()

    def advance(self, n: int = 1) -> None:
        self.done += n
        self.training = None  # a trained model is stored: what follows (its export) is not training
        now = self.clock()
        if self.total and self.done < self.total and now > self.started:
            self._left, self._left_at = (self.total - self.done) * (now - self.started) / self.done, now
        self._estimate_overall()
        self._show_due()

    def part_done(self) -> None:
        """One ticker's run of the stage finished (its partitions are committed)."""
        self.parts_done += 1
        self._estimate_overall()
        self._show_due()

    def trained(self, step: TrainingStep) -> None:
        self.training = step
        self._show_due()

    def end(self, note: str = "") -> None:
        """The stage's final line (kept on the terminal)."""
        self._stop.set()
        if self.overall is not None and self.job in self.overall.prior:
            self.overall.finished(self.job, self.clock() - self.started)
        self._show(final=True, note=note)

    def _show_due(self) -> None:
        if self.clock() - self.last_shown >= self.interval:
            self._show()

    def _estimate_overall(self) -> None:
        if self.overall is None or self.job not in self.overall.prior:
            return
        now = self.clock()
        rate_left = max(0.0, self._left - (now - self._left_at)) if self._left_at else None
        share = min(1.0, self.done / self.total) if self.total else 0.0
        if share == 1.0:
            rate_left = 0.0
        self._overall_left = self.overall.left(self.job, now - self.started, share, rate_left)
        self._overall_at = now

    def line(self, final: bool = False, note: str = "") -> str:
        elapsed = self.clock() - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        parts = []
        if self.total:
            parts.append(f"{self.done:,}/{self.total:,} {self.unit} ({100 * self.done / self.total:.0f}%)")
        else:
            parts.append(f"{self.done:,} {self.unit}")
        if self.parts_total > 1:
            parts.append(f"{self.parts_unit} {self.parts_done}/{self.parts_total}")
        if self.training is not None and not final:
            parts.append(self.training.text())
        parts.append(f"{rate:,.1f}/s")
        if final:
            parts.append(f"took {_duration(elapsed)}")
        elif self.total and self.done and self.done < self.total and self._left_at:
            parts.append(f"left ~{_duration(max(0.0, self._left - (self.clock() - self._left_at)))}")
        else:
            parts.append(f"elapsed {_duration(elapsed)}")
        if self._overall_at is not None and not final:
            current, later = self._overall_left
            parts.append(f"all stages ~{_duration(later + max(0.0, current - (self.clock() - self._overall_at)))}")
        return f"[{self.name}] " + "  ".join(parts + ([note] if note else []))

    def _show(self, final: bool = False, note: str = "") -> None:
        with self._lock:  # the heartbeat thread and event callbacks both write
            self.last_shown = self.clock()
            text = self.line(final, note)
            if self.tty:
                self.stream.write("\r\x1b[2K" + text + ("\n" if final else ""))
            else:
                self.stream.write(text + "\n")
            self.stream.flush()

    def listener(self, event_type: str = "ASSET_MATERIALIZATION"):
        """A callback for `instance.add_event_listener(run_id, cb)`: one unit per event of `event_type`; the
        training reports a model asset logs update the line's training part."""

        def on_event(entry) -> None:
            if entry.dagster_event is not None:
                if entry.dagster_event.event_type_value == event_type:
                    self.advance()
            elif (getattr(entry, "user_message", None) or "").startswith(TRAINING_PREFIX):
                step = parse(entry.user_message)
                if step is not None:
                    self.trained(step)

        return on_event
