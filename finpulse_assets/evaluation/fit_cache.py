"""Head outputs kept on disk under a content hash of everything that determines them.

A head's output on a scored set is a function of its fitting samples (windows,
targets, days, tickers, labels), its `HeadSpec` (head, layout, network
parameters with the seed, seeds, early-stopping share), the scored windows and
the training code: `train_lstm` is deterministic on CPU (fixed seed, one
thread, deterministic algorithms). So a rerun of the evaluation whose inputs
did not change for a variant or a fold reads the outputs instead of refitting,
and within one run a head asked for twice on the same inputs (the price refit
and the direction refit of one candidate) is fitted once. A change to any input
changes the key; so does a change to the source of the training code
(`TRAINING_MODULES`) or the torch version. Outputs are .npy files, read with
allow_pickle=False.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import os
from dataclasses import asdict
from functools import lru_cache
from pathlib import Path

import numpy as np

from finpulse_assets.evaluation.heads import HeadSpec, apply_head, fit_head
from finpulse_assets.evaluation.samples import Samples

# The code whose change must invalidate every stored output.
TRAINING_MODULES = ("finpulse_assets.evaluation.heads", "finpulse_assets.models.lstm.model",
                    "finpulse_assets.models.lstm.dataset", "finpulse_assets.models.attention.alstm")


def update_with_sources(digest, modules) -> None:
    """Adds the source text of each module to `digest`: what a cache keyed by it must forget when code changes."""
    for name in modules:
        digest.update(inspect.getsource(importlib.import_module(name)).encode())


@lru_cache(maxsize=1)
def code_version() -> str:
    import torch

    digest = hashlib.sha256(torch.__version__.encode())
    update_with_sources(digest, TRAINING_MODULES)
    return digest.hexdigest()


def _update_array(digest, array: np.ndarray) -> None:
    array = np.ascontiguousarray(array)
    if array.dtype == object:  # tickers: hash their text, not object pointers
        array = array.astype(str)
    digest.update(f"{array.dtype.str}{array.shape}".encode())
    digest.update(array.tobytes())


def _update_samples(digest, samples: Samples, with_targets: bool) -> None:
    w = samples.windows
    digest.update(json.dumps(list(w.feature_columns)).encode())
    arrays = [w.X, w.dates, w.tickers]
    if with_targets:
        arrays += [w.y, w.target_dates, samples.label]
    for array in arrays:
        _update_array(digest, array)


def head_key(fitting: Samples, scored: Samples, spec: HeadSpec) -> str:
    digest = hashlib.sha256(code_version().encode())
    digest.update(json.dumps({**asdict(spec), "params": asdict(spec.params)}, sort_keys=True).encode())
    _update_samples(digest, fitting, with_targets=True)
    _update_samples(digest, scored, with_targets=False)
    return digest.hexdigest()


class FitCache:
    """Head outputs in `root`/<key[:2]>/<key>.npy; hits and misses counted for the report."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.hits = self.misses = 0

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.npy"

    def head_output(self, fitting: Samples, scored: Samples, spec: HeadSpec) -> np.ndarray:
        path = self._path(head_key(fitting, scored, spec))
        if path.exists():
            self.hits += 1
            return np.load(path, allow_pickle=False)
        self.misses += 1
        out = apply_head(fit_head(fitting, spec), scored)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename: a reader (or a second process) never sees half a file.
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        with open(partial, "wb") as f:
            np.save(f, out, allow_pickle=False)
        os.replace(partial, path)
        return out

    def counts(self) -> dict:
        return {"hits": self.hits, "misses": self.misses}

    def add(self, counts: dict) -> None:
        """Counts of the same cache used in another process (the walk-forward's workers)."""
        self.hits += counts.get("hits", 0)
        self.misses += counts.get("misses", 0)


def head_output(cache: FitCache | None, fitting: Samples, scored: Samples, spec: HeadSpec) -> np.ndarray:
    """The head fitted on `fitting` applied to `scored`, through `cache` when one is given."""
    if cache is None:
        return apply_head(fit_head(fitting, spec), scored)
    return cache.head_output(fitting, scored, spec)
