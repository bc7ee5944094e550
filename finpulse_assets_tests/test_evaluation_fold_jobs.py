"""The walk-forward's (fold, variant) jobs in worker processes (evaluation/fold_jobs.py): the same pooled
forecasts as one process, and the heads the workers fitted land in the shared fit cache."""

from dataclasses import replace

import pytest

from finpulse_assets.evaluation.candidates import PRICE_MARKET, PRICE_ONLY
from finpulse_assets.evaluation.experiment import EvaluationSettings
from finpulse_assets.evaluation.fit_cache import FitCache
from finpulse_assets.evaluation.look_ahead import with_audited_context
from finpulse_assets.evaluation.protocol import Protocol
from finpulse_assets.evaluation.search import SearchSettings
from finpulse_assets.evaluation.selection import FitSettings
from finpulse_assets.evaluation.synthetic_market import synthetic_market
from finpulse_assets.evaluation.walk_forward import WalkForwardSettings, walk_forward
from finpulse_assets.features.market_context import market_context
from finpulse_assets.models.lstm.model import LSTMConfigParams


def _settings(workers: int, cache: FitCache | None) -> WalkForwardSettings:
    search = SearchSettings(n_trials=2, windows=(5,), layouts=("pooled",), hidden_sizes=(8,), startup_trials=1)
    fit = FitSettings(LSTMConfigParams(epochs=4, patience=2), seeds=1, cache=cache)
    return WalkForwardSettings(first_test="2015-09-01", test_end="2015-12-01", workers=workers,
                               evaluation=EvaluationSettings(Protocol(), search, fit, bootstrap_resamples=200))


def test_workers_give_the_forecasts_of_one_process_and_fill_the_shared_cache(tmp_path):
    frame, sectors = synthetic_market(n_sectors=1, leaders=1, followers=2, start="2014-09-01", seed=2)
    frame, _ = with_audited_context(frame, lambda f: market_context(f, sectors=sectors))
    frames = {PRICE_ONLY: frame, PRICE_MARKET: frame}
    cache = FitCache(tmp_path)
    parallel = walk_forward(frames, _settings(2, cache))
    assert parallel["settings"]["workers"] == 2 and len(parallel["folds"]) == 3
    assert cache.counts()["misses"] > 0  # the workers' counts reach the caller's cache
    serial = walk_forward(frames, _settings(1, None))
    for name in (PRICE_ONLY, PRICE_MARKET):
        assert parallel["test"][name]["pooled"] == serial["test"][name]["pooled"]
    assert [f["choices"] for f in parallel["folds"]] == [f["choices"] for f in serial["folds"]]
    reread = FitCache(tmp_path)
    again = walk_forward(frames, _settings(1, reread))
    assert reread.counts()["misses"] == 0 and again["test"] == parallel["test"]


def test_a_worker_count_below_one_is_refused():
    with pytest.raises(ValueError, match="must be >= 1"):
        replace(_settings(1, None), workers=0)
