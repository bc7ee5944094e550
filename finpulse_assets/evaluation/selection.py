"""Model choices on the dev split: a candidate fitted on train and scored on dev; the best kept.

The candidates come from the Optuna search (`evaluation.search`); this module
fits and scores one of them and picks among the scored ones.

The price forecast takes the regression head of the candidate with the lowest
dev MAE; the direction takes whichever head (classification, or the sign of the
regression) of whichever candidate has the highest dev MCC, ties to the higher
dev accuracy, then to the earlier candidate. The test split plays no part here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from finpulse_assets.evaluation.candidates import Candidate
from finpulse_assets.evaluation.fit_cache import FitCache, head_output
from finpulse_assets.evaluation.heads import CLASSIFICATION, REGRESSION, HeadSpec
from finpulse_assets.evaluation.protocol import DEV, TRAIN, Protocol
from finpulse_assets.evaluation.samples import Samples, build_samples
from finpulse_assets.evaluation.scoring import movement_metrics, price_metrics
from finpulse_assets.models.baselines import close_from_log_return
from finpulse_assets.models.lstm.model import LSTMConfigParams


@dataclass(frozen=True)
class FitSettings:
    params: LSTMConfigParams
    seeds: int = 3
    # Head outputs kept by a content hash of their inputs (`fit_cache`); None: every head is fitted.
    cache: FitCache | None = field(default=None, compare=False, repr=False)


def head_spec(head: str, candidate: Candidate, fit: FitSettings) -> HeadSpec:
    params = LSTMConfigParams(**{**fit.params.__dict__, **candidate.param_overrides()})
    return HeadSpec(head, candidate.layout, params, fit.seeds)


def predictions(fitting: Samples, scored: Samples, candidate: Candidate, fit: FitSettings,
                heads=(REGRESSION, CLASSIFICATION)) -> dict[str, np.ndarray]:
    """{head: output on `scored`} for heads fitted on `fitting`."""
    return {head: head_output(fit.cache, fitting, scored, head_spec(head, candidate, fit)) for head in heads}


def dev_scores(frame: pd.DataFrame, candidate: Candidate, protocol: Protocol, fit: FitSettings,
               after_seed: Callable[[int, dict], None] | None = None) -> dict:
    """Both heads fitted on train and scored on dev, one seed at a time.

    after_seed(k, row) sees the scores of the average of seeds 0..k (the search's pruner stops a trial
    there by raising); the final row is the average of all `fit.seeds`, the same networks `predictions`
    averages.
    """
    samples = build_samples(frame, candidate.feature_columns, candidate.window, protocol)
    train, dev = samples.part(TRAIN), samples.part(DEV)
    if not len(train) or not len(dev):
        raise ValueError(f"{candidate}: {len(train)} train and {len(dev)} dev samples; the dataset does not "
                         f"cover the protocol's train and dev dates")
    outputs = {REGRESSION: [], CLASSIFICATION: []}
    row = {}
    for k in range(fit.seeds):
        one = replace(fit, params=replace(fit.params, seed=fit.params.seed + k), seeds=1)
        for head, out in predictions(train, dev, candidate, one).items():
            outputs[head].append(out)
        row = _dev_row(candidate, dev, {head: np.mean(outs, axis=0) for head, outs in outputs.items()})
        if after_seed is not None:
            after_seed(k, row)
    return row


def _dev_row(candidate: Candidate, dev: Samples, out: dict[str, np.ndarray]) -> dict:
    w = dev.windows
    price = price_metrics(w.target_close, close_from_log_return(w.close_t, out[REGRESSION]), w.close_t)
    return {"candidate": candidate.as_dict(), "price": price,
            "direction": {CLASSIFICATION: movement_metrics(dev.label, out[CLASSIFICATION] > 0),
                          REGRESSION: movement_metrics(dev.label, out[REGRESSION] > 0)}}


def choose(rows: list[dict]) -> dict:
    """{"price": candidate dict, "direction": {"candidate": ..., "head": ...}} from `dev_scores` rows."""
    if not rows:
        raise ValueError("no candidates were scored on dev")
    price = min(rows, key=lambda r: r["price"]["mae"])
    best, head = max(((r, head) for r in rows for head in (CLASSIFICATION, REGRESSION)),
                     key=lambda o: direction_score(o[0], o[1]))
    return {"price": price["candidate"], "direction": {"candidate": best["candidate"], "head": head}}


def direction_score(row: dict, head: str) -> tuple[float, float]:
    """What the direction choice maximises: dev MCC, then dev accuracy."""
    scores = row["direction"][head]
    return scores["mcc"] or 0.0, scores["accuracy"] or 0.0


def best_direction_mcc(row: dict) -> float:
    return max(direction_score(row, head)[0] for head in (CLASSIFICATION, REGRESSION))
