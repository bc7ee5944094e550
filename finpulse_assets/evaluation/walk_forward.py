"""Walk-forward evaluation: rolling origins, each fold trained only on the data before it.

StockNet's fixed split tests on 64 trading days, too few to tell two models
apart. Here each fold is a `Protocol` of its own: its test window is one step
(a month by default) of target days, its dev window the `dev_months` before it,
its train split everything from `train_start` to the dev window. Each fold runs
the same search as the fixed split (`search.search_variant`: hyper-parameters
chosen on the fold's own dev window), refits the chosen heads on its train +
dev and forecasts its test window once. The folds' test windows do not overlap,
so pooling their forecasts scores every target day from the first test month
on, each by a model that saw nothing at or after its own month. Intervals and
paired ablations are the fixed split's (`experiment.score_forecasts`): whole
days resampled, all tickers of a day together.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from finpulse_assets.evaluation.candidates import CHOSEN_PER_FOLD
from finpulse_assets.evaluation.experiment import (
    EvaluationSettings, _majority_label, finpulse_choice, score_forecasts,
)
from finpulse_assets.evaluation.fold_jobs import fold_results
from finpulse_assets.evaluation.protocol import TEST, UP, Protocol
from finpulse_assets.evaluation.samples import build_samples
from finpulse_assets.evaluation.scoring import truth_frame
from finpulse_assets.features.price import FEATURE_COLUMNS


@dataclass(frozen=True)
class WalkForwardSettings:
    train_start: str = "2014-01-01"
    first_test: str = "2014-10-01"     # the first fold's test window starts here
    test_end: str = "2016-01-01"       # exclusive: the last fold's test window ends here
    step_months: int = 1               # one refit per step; a fold's test window is one step long
    dev_months: int = 2
    workers: int = 1                   # processes running the (fold, variant) jobs side by side (fold_jobs.py)
    evaluation: EvaluationSettings = field(default_factory=EvaluationSettings)

    def __post_init__(self):
        if min(self.step_months, self.dev_months, self.workers) < 1:
            raise ValueError(f"step_months ({self.step_months}), dev_months ({self.dev_months}) and workers "
                             f"({self.workers}) must be >= 1")
        earliest_dev = pd.Timestamp(self.first_test) - pd.DateOffset(months=self.dev_months)
        if not pd.Timestamp(self.train_start) < earliest_dev:
            raise ValueError(f"the first fold has no train window: train_start {self.train_start} is not before "
                             f"its dev window ({earliest_dev.date()}); set a later first test day (the evaluation config's wf_first_test) or walk_forward: false")
        if not pd.Timestamp(self.first_test) < pd.Timestamp(self.test_end):
            raise ValueError(f"first_test {self.first_test} must be before test_end {self.test_end}")


def folds(settings: WalkForwardSettings) -> list[Protocol]:
    """One Protocol per origin: train [train_start, dev), dev [test - dev_months, test), test [test, test + step)."""
    base = settings.evaluation.protocol
    out, start, end = [], pd.Timestamp(settings.first_test), pd.Timestamp(settings.test_end)
    while start < end:
        stop = min(start + pd.DateOffset(months=settings.step_months), end)
        dev = start - pd.DateOffset(months=settings.dev_months)
        out.append(Protocol(settings.train_start, dev.date().isoformat(), start.date().isoformat(),
                            stop.date().isoformat(), base.up_above, base.down_at_or_below))
        start = stop
    return out


def _fold_predictions(frames: dict[str, pd.DataFrame], fold: Protocol, settings: EvaluationSettings,
                      variants: dict[str, dict]) -> dict:
    """The fold's pooled inputs from its variants' `fold_jobs.variant_in_fold` results."""
    reference = next(iter(frames.values()))
    samples = build_samples(reference, FEATURE_COLUMNS, min(settings.search.windows), fold)
    truth = truth_frame(samples.part(TEST))
    majority = _majority_label(reference, replace(settings, protocol=fold))
    dev = {name: v["dev"] for name, v in variants.items()}
    return {"dev": dev, "forecasts": {name: v["forecast"] for name, v in variants.items()}, "truth": truth,
            "variant_seconds": {name: v["seconds"] for name, v in variants.items()},
            "majority_up": np.full(len(truth), majority == UP), "headline": finpulse_choice(dev)}


def _choice_text(dev_entry: dict) -> dict:
    choice = dev_entry["choice"]
    best = dev_entry["study"]["best_trial"]
    return {"direction_head": choice["direction"]["head"], "direction_candidate": choice["direction"]["candidate"],
            "best_dev_mcc": best["dev_mcc"]}


def _fold_record(k: int, fold: Protocol, result: dict) -> dict:
    seconds = result["variant_seconds"]
    return {"fold": k, "train_start": fold.train_start, "dev_start": fold.dev_start,
            "test_start": fold.test_start, "test_end": fold.test_end,
            "test_samples": len(result["truth"]), "headline": result["headline"],
            "choices": {n: _choice_text(e) for n, e in result["dev"].items()}, "variant_seconds": seconds,
            "seconds": round(sum(v["dev_search"] + v["refit_and_test"] for v in seconds.values()), 1)}


def walk_forward(frames: dict[str, pd.DataFrame], settings: WalkForwardSettings, tracker=None,
                 progress=None) -> dict:
    """Every fold's search, refit and test forecasts, pooled: scores with intervals, ablations, per-fold
    choices, seconds. The headline is CHOSEN_PER_FOLD: in each fold the forecasts of the FinBERT variant with
    the best dev MCC of that fold (the fixed split's rule), so the choice itself is evaluated out of sample."""
    started = time.perf_counter()
    fold_list = folds(settings)
    by_fold = {}
    for k, variants in fold_results(frames, fold_list, settings.evaluation, settings.workers, tracker):
        by_fold[k] = _fold_predictions(frames, fold_list[k], settings.evaluation, variants)
        if progress is not None:
            progress(_fold_record(k, fold_list[k], by_fold[k]))
    truths, majority, per_fold = [], [], []
    forecasts = {name: [] for name in [*frames, CHOSEN_PER_FOLD]}
    for k, fold in enumerate(fold_list):
        result = by_fold[k]
        if result["truth"].empty:
            continue
        truths.append(result["truth"])
        majority.append(result["majority_up"])
        for name, f in result["forecasts"].items():
            forecasts[name].append(f)
        if result["headline"] is not None:
            forecasts[CHOSEN_PER_FOLD].append(result["forecasts"][result["headline"]])
        per_fold.append(_fold_record(k, fold, result))
    if not truths:
        raise ValueError("walk-forward: no fold has test samples; the data does not reach the test windows")
    truth = pd.concat(truths, ignore_index=True)
    if len(forecasts[CHOSEN_PER_FOLD]) < len(per_fold):  # no FinBERT variant: nothing was chosen
        forecasts.pop(CHOSEN_PER_FOLD)
    pooled = score_forecasts(truth, {n: pd.concat(f, ignore_index=True) for n, f in forecasts.items()},
                             np.concatenate(majority), settings.evaluation)
    headline = CHOSEN_PER_FOLD if CHOSEN_PER_FOLD in pooled["test"] else None
    return {**pooled, "finpulse_variant": headline, "folds": per_fold,
            "settings": {"train_start": settings.train_start, "first_test": settings.first_test,
                         "test_end": settings.test_end, "step_months": settings.step_months,
                         "dev_months": settings.dev_months, "n_folds": len(per_fold),
                         "n_trials": settings.evaluation.search.n_trials, "seeds": settings.evaluation.fit.seeds,
                         "layouts": list(settings.evaluation.search.layouts), "workers": settings.workers},
            "seconds": {"total": time.perf_counter() - started}}


def interval_widths(results: dict) -> dict:
    """{variant: {"accuracy": width, "mcc": width}} of the pooled 95 % intervals."""
    out = {}
    for name, scores in results["test"].items():
        row = scores["pooled"]
        if row.get("mcc_ci"):
            out[name] = {"accuracy": row["accuracy_ci"][1] - row["accuracy_ci"][0],
                         "mcc": row["mcc_ci"][1] - row["mcc_ci"][0]}
    return out
