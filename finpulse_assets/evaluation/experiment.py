"""The whole evaluation: dev choices per variant, one refit on train + dev, the test split read once.

Refit on train + dev: the dev months are the latest data before the test
months, and a model that skipped them would forecast the test split from data
two months older than necessary. Early stopping of the refit uses the last
part of train + dev (`heads.HeadSpec.early_stop_frac`), never the test split.

Every variant is scored on the same test samples: the (ticker, target day)
pairs that all of them forecast.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from finpulse_assets.evaluation.candidates import (
    MAJORITY, PRICE_ONLY, RANDOM_WALK, VARIANT_ORDER, Candidate, candidates_for,
)
from finpulse_assets.evaluation.heads import POOLED, PER_TICKER, REGRESSION
from finpulse_assets.evaluation.protocol import DEV, TEST, TRAIN, UP, Protocol
from finpulse_assets.evaluation.samples import build_samples, split_counts
from finpulse_assets.evaluation.scoring import score, truth_frame
from finpulse_assets.evaluation.selection import FitSettings, choose, dev_scores, predictions
from finpulse_assets.features.price import FEATURE_COLUMNS
from finpulse_assets.models.baselines import close_from_log_return
from finpulse_assets.models.lstm.model import LSTMConfigParams

KEYS = ["ticker", "target_date"]


@dataclass(frozen=True)
class EvaluationSettings:
    protocol: Protocol = field(default_factory=Protocol)
    windows: tuple[int, ...] = (5, 10)
    layouts: tuple[str, ...] = (POOLED, PER_TICKER)
    sentiment_sets: tuple[str, ...] = ("all", "mean_and_count")
    fit: FitSettings = field(default_factory=lambda: FitSettings(LSTMConfigParams()))


def _test_predictions(frame: pd.DataFrame, choice: dict, settings: EvaluationSettings) -> pd.DataFrame:
    """Refit the chosen heads on train + dev, forecast the test split: KEYS, predicted_up, predicted_close."""
    price_c, dir_c = Candidate(**choice["price"]), Candidate(**choice["direction"]["candidate"])
    head = choice["direction"]["head"]
    out = {}
    for candidate, heads in ((price_c, [REGRESSION]), (dir_c, [head])):
        samples = build_samples(frame, candidate.feature_columns, candidate.window, settings.protocol)
        test = samples.part(TEST)
        if not len(test):
            raise ValueError(f"no test samples for {candidate}: the dataset does not reach the test dates")
        result = predictions(samples.part(TRAIN, DEV), test, candidate, settings.fit, heads)
        out[(candidate, tuple(heads))] = (truth_frame(test), result)
    truth, price = out[(price_c, (REGRESSION,))]
    forecasts = truth[KEYS].assign(predicted_close=close_from_log_return(truth["close_t"], price[REGRESSION]))
    dir_truth, direction = out[(dir_c, (head,))]
    ups = dir_truth[KEYS].assign(predicted_up=direction[head] > 0)
    return forecasts.merge(ups, on=KEYS, how="inner", validate="one_to_one")


def _majority_label(frame: pd.DataFrame, settings: EvaluationSettings) -> int:
    samples = build_samples(frame, FEATURE_COLUMNS, min(settings.windows), settings.protocol)
    labelled = samples.part(TRAIN, DEV).labelled()
    return int(np.mean(labelled.label == UP) >= 0.5)  # a tie goes to up


def evaluate_variants(frames: dict[str, pd.DataFrame], settings: EvaluationSettings) -> dict:
    """frames: {variant: its daily frame}. Returns dev rows and choices, test scores, split counts, seconds."""
    started = time.perf_counter()
    dev, forecasts, seconds = {}, {}, {}
    for variant, frame in frames.items():
        t0 = time.perf_counter()
        rows = [dev_scores(frame, c, settings.protocol, settings.fit)
                for c in candidates_for(variant, settings.windows, settings.layouts, settings.sentiment_sets)]
        choice = choose(rows)
        dev[variant] = {"candidates": rows, "choice": choice}
        t1 = time.perf_counter()
        forecasts[variant] = _test_predictions(frame, choice, settings)
        seconds[variant] = {"dev_selection": t1 - t0, "refit_and_test": time.perf_counter() - t1}
    # The test split is read here, once, after every choice was made.
    reference = frames[PRICE_ONLY]
    reference_samples = build_samples(reference, FEATURE_COLUMNS, min(settings.windows), settings.protocol)
    truth = truth_frame(reference_samples.part(TEST))
    for variant, f in forecasts.items():
        truth = truth.merge(f.rename(columns={"predicted_up": f"up/{variant}", "predicted_close": f"close/{variant}"}),
                            on=KEYS, how="inner", validate="one_to_one")
    majority = _majority_label(reference, settings)
    test = {MAJORITY: score(truth, np.full(len(truth), majority == UP), None),
            RANDOM_WALK: score(truth, None, truth["close_t"].to_numpy())}
    for variant in forecasts:
        test[variant] = score(truth, truth[f"up/{variant}"].to_numpy(), truth[f"close/{variant}"].to_numpy())
    return {"test": {v: test[v] for v in VARIANT_ORDER if v in test}, "dev": dev,
            "majority_label": "up" if majority == UP else "down",
            "splits": split_counts(reference_samples), "test_samples_scored": len(truth),
            "seconds": seconds | {"total": time.perf_counter() - started}}
