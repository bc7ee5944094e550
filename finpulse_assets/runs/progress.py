"""Progress of long commands: the stage, done of total, rate and time left.

On a terminal one line is rewritten in place; in a log (stderr not a tty, as in
CI) a plain line is printed every `FINPULSE_PROGRESS_SECONDS` (default 15) and
when a stage ends, also while nothing arrives (a step writes all its partitions at its end, so a long step
would otherwise look stuck). Stages of a Dagster run count its events as they are stored:
`listener()` is a callback for `DagsterInstance.add_event_listener` that
advances on each ASSET_MATERIALIZATION of the run (one per asset partition).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import TextIO


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
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None

    def stage(self, name: str, total: int, unit: str = "partitions", index: tuple[int, int] | None = None) -> None:
        """Start a stage of `total` units (0: unknown, shows elapsed time only); `index`: (k, n), stage k of n."""
        self.name = f"stage {index[0]} of {index[1]}: {name}" if index else name
        self.unit, self.total, self.done = unit, total, 0
        self.started = self.clock()
        self._left, self._left_at = 0.0, 0.0
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
        now = self.clock()
        if self.total and self.done < self.total and now > self.started:
            self._left, self._left_at = (self.total - self.done) * (now - self.started) / self.done, now
        if self.clock() - self.last_shown >= self.interval:
            self._show()

    def end(self, note: str = "") -> None:
        """The stage's final line (kept on the terminal)."""
        self._stop.set()
        self._show(final=True, note=note)

    def line(self, final: bool = False, note: str = "") -> str:
        elapsed = self.clock() - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        parts = []
        if self.total:
            parts.append(f"{self.done:,}/{self.total:,} {self.unit} ({100 * self.done / self.total:.0f}%)")
        else:
            parts.append(f"{self.done:,} {self.unit}")
        parts.append(f"{rate:,.1f}/s")
        if final:
            parts.append(f"took {_duration(elapsed)}")
        elif self.total and self.done and self.done < self.total and self._left_at:
            parts.append(f"left ~{_duration(max(0.0, self._left - (self.clock() - self._left_at)))}")
        else:
            parts.append(f"elapsed {_duration(elapsed)}")
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
        """A callback for `instance.add_event_listener(run_id, cb)`: one unit per event of `event_type`."""

        def on_event(entry) -> None:
            if entry.dagster_event is not None and entry.dagster_event.event_type_value == event_type:
                self.advance()

        return on_event
