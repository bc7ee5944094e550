"""Fit and apply the two heads of a variant: a regression head (next-day log return, so the
next close) and a classification head (up vs down), each an LSTM from `models.lstm.model`.

The classification head is the same network trained by least squares on +1 (up) / -1 (down)
targets of the labelled samples only; a positive output means up. Least squares on +-1 targets
is a standard linear-discriminant-style classifier and reuses the tested, deterministic
`train_lstm` instead of a second training loop.

Early stopping uses the last `early_stop_frac` of the fitting samples' target days, never the
split being scored. Each head is an average of `seeds` networks: single LSTMs on a few
thousand noisy samples differ a lot from seed to seed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from finpulse_assets.evaluation.protocol import UP
from finpulse_assets.evaluation.samples import Samples
from finpulse_assets.models.lstm.model import LSTMConfigParams, TrainedLSTM, predict, train_lstm

REGRESSION, CLASSIFICATION = "regression", "classification"
POOLED, PER_TICKER = "pooled", "per_ticker"
POOLED_KEY = "*"


@dataclass(frozen=True)
class HeadSpec:
    head: str                 # REGRESSION or CLASSIFICATION
    layout: str               # POOLED or PER_TICKER
    params: LSTMConfigParams
    seeds: int = 3
    early_stop_frac: float = 0.15


def _training_targets(samples: Samples, head: str) -> Samples:
    if head == REGRESSION:
        return samples
    if head == CLASSIFICATION:
        labelled = samples.labelled()
        return labelled.with_y(np.where(labelled.label == UP, 1.0, -1.0))
    raise ValueError(f"unknown head {head!r}: expected {REGRESSION!r} or {CLASSIFICATION!r}")


def _early_stop_cut(samples: Samples, frac: float) -> tuple[Samples, Samples]:
    days = np.unique(samples.windows.target_dates)
    if len(days) < 10:
        raise ValueError(f"{len(days)} target days are too few to fit a head (need at least 10)")
    cut = days[int(len(days) * (1 - frac))]
    # The training windows' days t must precede the early-stopping ones (train_lstm checks it):
    # cut on day t so the two sets never share a target day either.
    fit, stop = samples.take(samples.windows.dates < cut), samples.take(samples.windows.dates >= cut)
    return fit, stop


def _fit_group(samples: Samples, spec: HeadSpec) -> list[TrainedLSTM]:
    fit, stop = _early_stop_cut(_training_targets(samples, spec.head), spec.early_stop_frac)
    params = spec.params if spec.head == REGRESSION else replace(spec.params, loss="mse")
    return [train_lstm(fit.windows, stop.windows, replace(params, seed=params.seed + k))[0]
            for k in range(spec.seeds)]


def fit_head(samples: Samples, spec: HeadSpec) -> dict[str, list[TrainedLSTM]]:
    """{POOLED_KEY or ticker: the seeds' networks} fitted on `samples`."""
    if spec.layout == POOLED:
        return {POOLED_KEY: _fit_group(samples, spec)}
    if spec.layout == PER_TICKER:
        return {t: _fit_group(samples.take(samples.windows.tickers == t), spec)
                for t in sorted(set(samples.windows.tickers))}
    raise ValueError(f"unknown layout {spec.layout!r}: expected {POOLED!r} or {PER_TICKER!r}")


def apply_head(models: dict[str, list[TrainedLSTM]], samples: Samples) -> np.ndarray:
    """The seed-averaged output for every sample: a log return (regression) or a score > 0 for up."""
    if len(samples) == 0:
        return np.empty(0)
    if POOLED_KEY in models:
        return np.mean([predict(m, samples.windows.X) for m in models[POOLED_KEY]], axis=0)
    out = np.full(len(samples), np.nan)
    for ticker in set(samples.windows.tickers):
        if ticker not in models:
            raise ValueError(f"no per-ticker model for {ticker}: it has no samples in the fitting split")
        rows = samples.windows.tickers == ticker
        out[rows] = np.mean([predict(m, samples.windows.X[rows]) for m in models[ticker]], axis=0)
    return out
