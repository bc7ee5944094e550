"""The progress line of long commands (finpulse_assets/runs/progress.py): terminal and log output."""

import io

from finpulse_assets.runs.progress import Progress


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_log_gets_plain_lines_at_the_interval_with_rate_and_time_left():
    clock, out = Clock(), io.StringIO()
    progress = Progress(out, interval=10, clock=clock)
    progress.stage("data_assets_job", 100)
    for _ in range(40):
        clock.now += 0.5
        progress.advance()
    progress.end()
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("[data_assets_job] 0/100 partitions (0%)")
    assert lines[1] == "[data_assets_job] 20/100 partitions (20%)  2.0/s  left ~0:40"
    assert lines[-1] == "[data_assets_job] 40/100 partitions (40%)  2.0/s  took 0:20"
    assert len(lines) == 4 and "\r" not in out.getvalue()


def test_a_terminal_gets_one_line_rewritten_in_place():
    clock, out = Clock(), Terminal()
    progress = Progress(out, clock=clock)
    progress.stage("evaluation", 0, "candidates")
    clock.now = 65
    progress.advance(3)
    progress.end()
    text = out.getvalue()
    assert text.count("\r\x1b[2K") == 3 and text.count("\n") == 1
    assert text.endswith("[evaluation] 3 candidates  0.0/s  took 1:05\n")


def test_the_listener_counts_only_materializations():
    class Event:
        def __init__(self, kind):
            self.event_type_value = kind

    class Entry:
        def __init__(self, kind):
            self.dagster_event = Event(kind) if kind else None

    progress = Progress(io.StringIO(), interval=1e9)
    progress.stage("s", 2)
    listener = progress.listener()
    for kind in ("STEP_START", "ASSET_MATERIALIZATION", None, "ASSET_MATERIALIZATION", "ASSET_CHECK_EVALUATION"):
        listener(Entry(kind))
    assert progress.done == 2


def test_the_time_left_counts_down_between_units_and_the_stage_says_k_of_n():
    """A model stage of two assets: after the first, the estimate must not grow while the second trains."""
    clock, out = Clock(), io.StringIO()
    progress = Progress(out, interval=1e9, clock=clock)
    progress.stage("forecast_model_job", 2, "assets", index=(4, 7))
    clock.now = 60
    progress.advance()
    shown = []
    for now in (60, 90, 120, 200):
        clock.now = now
        shown.append(progress.line())
    assert shown[0] == "[stage 4 of 7: forecast_model_job] 1/2 assets (50%)  0.0/s  left ~1:00"
    assert [line.rsplit("left ~", 1)[1] for line in shown] == ["1:00", "0:30", "0:00", "0:00"]
