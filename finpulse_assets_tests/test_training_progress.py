"""Training loops' epoch/step reports (finpulse_assets/models/training_progress.py)."""

from finpulse_assets.models import training_progress
from finpulse_assets.models.training_progress import TrainingStep, parse, report, reporting_to


def test_reports_are_throttled_keep_each_fit_s_first_and_last_and_count_fits():
    now, sent = [0.0], []
    with reporting_to("lstm_model", sent.append, clock=lambda: now[0], interval=2.0):
        for fit in range(2):
            for epoch in range(1, 6):
                now[0] += 0.5
                report(epoch, 5)
    report(1, 5)  # outside the block: nobody listens
    assert [(s.fit, s.epoch) for s in sent] == [(1, 1), (1, 5), (2, 1), (2, 5)]
    assert all(s.model == "lstm_model" and s.epochs == 5 for s in sent)
    assert training_progress._listener.get() is None


def test_a_message_reads_back_as_the_step_it_was_made_from():
    step = TrainingStep("finbert_model", 1, 2, 3, 17, 40)
    assert parse(step.message()) == step
    assert parse(TrainingStep("lstm_model", 4, 7, 20).message()) == TrainingStep("lstm_model", 4, 7, 20)
    assert parse("training progress: nonsense") is None and parse("") is None
    assert step.text() == "finbert_model epoch 2/3 step 17/40"
    assert abs(step.fraction() - (1 + 17 / 40) / 3) < 1e-9


def test_the_lstm_fit_reports_each_epoch():
    import numpy as np

    from finpulse_assets.models.lstm.dataset import Windows
    from finpulse_assets.models.lstm.model import LSTMConfigParams, train_lstm

    rng = np.random.default_rng(0)
    n, window, features = 40, 3, 2
    dates = np.arange(np.datetime64("2024-01-01"), np.datetime64("2024-01-01") + n).astype("datetime64[ns]")

    def windows(rows):
        return Windows(X=rng.normal(size=(len(rows), window, features)).astype(np.float32),
                       y=rng.normal(size=len(rows)).astype(np.float32), tickers=np.array(["A"] * len(rows)),
                       dates=dates[rows], target_dates=dates[rows], close_t=np.ones(len(rows)),
                       target_close=np.ones(len(rows)), close_history=np.ones((len(rows), window)),
                       feature_columns=("a", "b"))

    sent = []
    with reporting_to("lstm_model", sent.append, clock=lambda: 0.0, interval=0.0):
        train_lstm(windows(np.arange(30)), windows(np.arange(30, 40)),
                   LSTMConfigParams(window=window, hidden_size=4, epochs=3, patience=3))
    assert [(s.epoch, s.epochs) for s in sent] == [(1, 3), (2, 3), (3, 3)]
