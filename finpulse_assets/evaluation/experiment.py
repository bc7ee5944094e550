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
    ABLATIONS, MAJORITY, RANDOM_WALK, VARIANT_ORDER, Candidate, variant,
)
from finpulse_assets.evaluation.heads import REGRESSION
from finpulse_assets.evaluation.intervals import N_RESAMPLES, bootstrap
from finpulse_assets.evaluation.protocol import DEV, TEST, TRAIN, UP, Protocol
from finpulse_assets.evaluation.samples import build_samples, split_counts
from finpulse_assets.evaluation.scoring import POOLED_ROW, score, truth_frame
from finpulse_assets.evaluation.search import SearchSettings, search_variant
from finpulse_assets.evaluation.selection import FitSettings, direction_score, predictions
from finpulse_assets.features.price import FEATURE_COLUMNS
from finpulse_assets.models.baselines import close_from_log_return
from finpulse_assets.models.lstm.model import LSTMConfigParams

KEYS = ["ticker", "target_date"]


@dataclass(frozen=True)
class EvaluationSettings:
    protocol: Protocol = field(default_factory=Protocol)
    search: SearchSettings = field(default_factory=SearchSettings)
    fit: FitSettings = field(default_factory=lambda: FitSettings(LSTMConfigParams()))
    bootstrap_resamples: int = N_RESAMPLES


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
    samples = build_samples(frame, FEATURE_COLUMNS, min(settings.search.windows), settings.protocol)
    labelled = samples.part(TRAIN, DEV).labelled()
    return int(np.mean(labelled.label == UP) >= 0.5)  # a tie goes to up


def finpulse_choice(dev: dict) -> str | None:
    """The headline model: of the project's own variants (FinBERT text), the one whose chosen direction
    head has the best dev MCC (then dev accuracy). Chosen on dev, like everything else. None when no such
    variant was evaluated (a run over the data stages only)."""
    own = [name for name in dev if variant(name).finpulse]
    if not own:
        return None

    def dev_direction(name: str) -> tuple[float, float]:
        choice = dev[name]["choice"]["direction"]
        row = next(r for r in dev[name]["candidates"] if r["candidate"] == choice["candidate"])
        return direction_score(row, choice["head"])

    return max(own, key=dev_direction)


def _intervals(truth: pd.DataFrame, test: dict, settings: EvaluationSettings) -> tuple[list[dict], dict]:
    """Adds accuracy_ci / mcc_ci to each pooled row; returns the ablations' paired differences and the
    bootstrap's settings."""
    movers = {v: truth[f"up/{v}"].to_numpy() for v in test if f"up/{v}" in truth}
    movers[MAJORITY] = truth["up/" + MAJORITY].to_numpy()
    pairs = [(a, b) for _, a, b in ABLATIONS if a in movers and b in movers]
    result = bootstrap(truth["target_date"].to_numpy(), truth["label"].to_numpy(), movers, pairs,
                       n_resamples=settings.bootstrap_resamples)
    for name, cis in result["variants"].items():
        test[name][POOLED_ROW] |= cis
    ablations = []
    for title, a, b in ABLATIONS:
        if (a, b) not in pairs:
            continue
        pa, pb = test[a][POOLED_ROW], test[b][POOLED_ROW]
        ablations.append({"ablation": title, "with": a, "without": b,
                          "accuracy_difference": pa["accuracy"] - pb["accuracy"], "mcc_difference": pa["mcc"] - pb["mcc"],
                          **result["differences"][f"{a} - {b}"]})
    return ablations, result["settings"]


def score_forecasts(truth: pd.DataFrame, forecasts: dict[str, pd.DataFrame], majority_up: np.ndarray,
                    settings: EvaluationSettings) -> dict:
    """Every variant's forecasts scored on the same samples (those all of them forecast), with day-clustered
    bootstrap intervals and the paired ablations.

    truth: `truth_frame` of the scored split; forecasts: {variant: KEYS, predicted_up, predicted_close};
    majority_up: the majority class's forecast per row of `truth` (True: up).
    """
    truth = truth.assign(**{"up/" + MAJORITY: np.asarray(majority_up, dtype=bool)})
    for name, f in forecasts.items():
        truth = truth.merge(f.rename(columns={"predicted_up": f"up/{name}", "predicted_close": f"close/{name}"}),
                            on=KEYS, how="inner", validate="one_to_one")
    if truth.empty:
        raise ValueError("no sample is forecast by every variant")
    test = {MAJORITY: score(truth, truth["up/" + MAJORITY].to_numpy(), None),
            RANDOM_WALK: score(truth, None, truth["close_t"].to_numpy())}
    for name in forecasts:
        test[name] = score(truth, truth[f"up/{name}"].to_numpy(), truth[f"close/{name}"].to_numpy())
    ablations, bootstrap_settings = _intervals(truth, test, settings)
    return {"test": {v: test[v] for v in VARIANT_ORDER if v in test}, "ablations": ablations,
            "bootstrap": bootstrap_settings, "test_samples_scored": len(truth)}


def evaluate_variants(frames: dict[str, pd.DataFrame], settings: EvaluationSettings, tracker=None) -> dict:
    """frames: {variant name: its daily frame}. Returns dev searches and choices, test scores with bootstrap
    intervals, ablations, the headline variant, split counts, seconds."""
    started = time.perf_counter()
    dev, forecasts, seconds = {}, {}, {}
    for name, frame in frames.items():
        t0 = time.perf_counter()
        dev[name] = search_variant(frame, variant(name), settings.protocol, settings.fit, settings.search, tracker)
        t1 = time.perf_counter()
        forecasts[name] = _test_predictions(frame, dev[name]["choice"], settings)
        seconds[name] = {"dev_search": t1 - t0, "refit_and_test": time.perf_counter() - t1}
    headline_variant = finpulse_choice(dev)
    # The test split is read here, once, after every choice was made.
    reference = next(iter(frames.values()))
    reference_samples = build_samples(reference, FEATURE_COLUMNS, min(settings.search.windows), settings.protocol)
    truth = truth_frame(reference_samples.part(TEST))
    majority = _majority_label(reference, settings)
    scored = score_forecasts(truth, forecasts, np.full(len(truth), majority == UP), settings)
    return {**scored, "dev": dev, "finpulse_variant": headline_variant,
            "majority_label": "up" if majority == UP else "down", "splits": split_counts(reference_samples),
            "seconds": seconds | {"total": time.perf_counter() - started}}
