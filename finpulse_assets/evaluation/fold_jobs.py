"""The walk-forward's (fold, variant) jobs: one after another, or side by side in worker processes.

A job is one variant in one fold: its Optuna study on the fold's own dev
window, the refit of the chosen heads on the fold's train + dev and the
forecast of the fold's test window. Jobs share nothing but the fit cache on
disk, and each is deterministic (fixed seeds, one torch thread per fit), so
`workers` processes give the forecasts one process gives. Workers are spawned,
not forked (the caller may hold torch or Dagster threads), and receive the
variant frames once. Jobs are submitted largest first (the latest folds train
on the most days), so the last one to finish is a short one.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import replace

import pandas as pd

from finpulse_assets.evaluation.candidates import variant
from finpulse_assets.evaluation.experiment import EvaluationSettings, _test_predictions
from finpulse_assets.evaluation.protocol import Protocol
from finpulse_assets.evaluation.search import search_variant

_worker_frames: dict[str, pd.DataFrame] = {}
_worker_settings: EvaluationSettings | None = None


def variant_in_fold(frame: pd.DataFrame, name: str, fold: Protocol, settings: EvaluationSettings,
                    tracker=None) -> dict:
    """{"dev": the search's result, "forecast": test forecasts, "seconds": {...}, "fit_cache": counts}."""
    cache = settings.fit.cache
    before = cache.counts() if cache else {}
    t0 = time.perf_counter()
    dev = search_variant(frame, variant(name), fold, settings.fit, settings.search, tracker)
    t1 = time.perf_counter()
    forecast = _test_predictions(frame, dev["choice"], replace(settings, protocol=fold))
    after = cache.counts() if cache else {}
    return {"dev": dev, "forecast": forecast,
            "seconds": {"dev_search": round(t1 - t0, 1), "refit_and_test": round(time.perf_counter() - t1, 1)},
            "fit_cache": {k: after[k] - before[k] for k in after}}


def _init_worker(frames: dict[str, pd.DataFrame], settings: EvaluationSettings) -> None:
    import torch

    global _worker_frames, _worker_settings
    torch.set_num_threads(1)
    _worker_frames, _worker_settings = frames, settings


def _worker_job(name: str, fold: Protocol) -> dict:
    return variant_in_fold(_worker_frames[name], name, fold, _worker_settings)


def fold_results(frames: dict[str, pd.DataFrame], fold_list: list[Protocol], settings: EvaluationSettings,
                 workers: int = 1, tracker=None) -> Iterator[tuple[int, dict[str, dict]]]:
    """Yields (fold index, {variant: variant_in_fold result}) as each fold's jobs are all done: in fold order
    with one worker, in order of completion with more."""
    if workers <= 1:
        for k, fold in enumerate(fold_list):
            yield k, {name: variant_in_fold(frame, name, fold, settings, tracker) for name, frame in frames.items()}
        return
    if tracker is not None:
        raise ValueError("fold_results: MLflow tracking logs from one process; run with workers=1 to track trials")
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                             initargs=(frames, settings)) as pool:
        pending = {}
        for k in reversed(range(len(fold_list))):
            for name in frames:
                pending[pool.submit(_worker_job, name, fold_list[k])] = (k, name)
        done_by_fold: dict[int, dict[str, dict]] = {}
        try:
            while pending:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    k, name = pending.pop(future)
                    done_by_fold.setdefault(k, {})[name] = future.result()
                    if len(done_by_fold[k]) == len(frames):
                        results = done_by_fold.pop(k)
                        if settings.fit.cache is not None:
                            for result in results.values():
                                settings.fit.cache.add(result["fit_cache"])
                        yield k, {n: results[n] for n in frames}
        finally:
            for future in pending:
                future.cancel()
