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


def _left(line: str, marker: str) -> int:
    """Seconds shown after `marker` (m:ss)."""
    minutes, seconds = line.split(marker, 1)[1].split()[0].split(":")
    return int(minutes) * 60 + int(seconds)


def test_the_whole_command_s_time_left_is_rescaled_by_finished_stages_and_counts_down_in_between():
    from finpulse_assets.runs.eta import SMOOTHING_SECONDS, prior_seconds

    clock, out = Clock(), io.StringIO()
    progress = Progress(out, interval=1e9, clock=clock)
    progress.plan([("data_assets_job", 400), ("sentiment_model_job", 2), ("predictions_job", 100)])
    prior_data, prior_model, prior_predictions = (prior_seconds("data_assets_job", 400),
                                                  prior_seconds("sentiment_model_job", 2),
                                                  prior_seconds("predictions_job", 100))
    progress.stage("data_assets_job", 400, "asset partitions", index=(1, 3), parts=2)
    assert _left(progress.line(), "all stages ~") == round(prior_data + prior_model + prior_predictions)
    clock.now = 50.0
    progress.advance(200)  # half the stage in 50 s: its rate says 50 s more, its prior (passed) 0: half of each
    stage_left = 0.5 * max(0.0, prior_data - 50) + 0.5 * 50
    assert _left(progress.line(), "all stages ~") == round(stage_left + prior_model + prior_predictions)
    clock.now = 100.0
    progress.advance(200)
    progress.end()
    scale = (100 + SMOOTHING_SECONDS) / (prior_data + SMOOTHING_SECONDS)  # this run is slower than the prior
    progress.stage("sentiment_model_job", 2, "assets", index=(2, 3))
    expected = (prior_model + prior_predictions) * scale
    shown = []
    for now in (100.0, 110.0, 130.0, 400.0):  # nothing arrives: a model trains
        clock.now = now
        shown.append(_left(progress.line(), "all stages ~"))
    assert abs(shown[0] - expected) <= 1
    # The model stage counts down to its rescaled prior and stays there: the later stage still has to run.
    assert shown == sorted(shown, reverse=True) and shown[-1] == round(prior_predictions * scale)


def test_a_per_ticker_stage_counts_the_tickers_whose_run_finished():
    clock, out = Clock(), io.StringIO()
    progress = Progress(out, interval=1e9, clock=clock)
    progress.stage("predictions_job", 20, "asset partitions", index=(5, 7), parts=2)
    clock.now = 4
    progress.advance(10)
    progress.part_done()
    assert progress.line() == "[stage 5 of 7: predictions_job] 10/20 asset partitions (50%)  tickers 1/2  2.5/s  left ~0:04"


def test_training_reports_logged_by_a_model_asset_show_on_the_line_until_the_model_is_stored():
    from finpulse_assets.models.training_progress import TrainingStep

    class Entry:
        def __init__(self, message, kind=None):
            self.user_message = message
            self.dagster_event = type("Event", (), {"event_type_value": kind})() if kind else None

    clock, out = Clock(), io.StringIO()
    progress = Progress(out, interval=1e9, clock=clock)
    progress.stage("sentiment_model_job", 2, "assets", index=(2, 7))
    listener = progress.listener()
    listener(Entry(TrainingStep("finbert_model", 1, 3, 10, 5, 40).message()))
    listener(Entry("finbert_model: some other line"))
    clock.now = 30
    assert progress.line() == "[stage 2 of 7: sentiment_model_job] 0/2 assets (0%)  finbert_model epoch 3/10 step 5/40" \
                              "  0.0/s  elapsed 0:30"
    listener(Entry("", "ASSET_MATERIALIZATION"))
    assert "epoch" not in progress.line() and progress.done == 1


def test_a_stage_outside_the_plan_shows_no_total():
    clock, out = Clock(), io.StringIO()
    progress = Progress(out, interval=1e9, clock=clock)
    progress.plan([("data_assets_job", 10)])
    progress.stage("data_assets_job", 10, "asset partitions")
    assert "all stages ~" in progress.line()
    progress.end()
    progress.stage("evaluation", 0, "candidates")
    assert "all stages" not in progress.line()
