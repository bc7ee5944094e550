"""The evaluation's fit cache (evaluation/fit_cache.py): a head output is reused only when every input that
determines it is unchanged, and a walk-forward rerun through the cache refits nothing and scores the same."""

from dataclasses import replace

import numpy as np
import pytest

from finpulse_assets.evaluation import fit_cache
from finpulse_assets.evaluation.candidates import PRICE_ONLY
from finpulse_assets.evaluation.experiment import EvaluationSettings
from finpulse_assets.evaluation.fit_cache import FitCache, head_key
from finpulse_assets.evaluation.heads import CLASSIFICATION, POOLED, REGRESSION, HeadSpec
from finpulse_assets.evaluation.protocol import DEV, TRAIN, Protocol
from finpulse_assets.evaluation.samples import build_samples
from finpulse_assets.evaluation.search import SearchSettings
from finpulse_assets.evaluation.selection import FitSettings
from finpulse_assets.evaluation.synthetic_market import synthetic_market
from finpulse_assets.evaluation.walk_forward import WalkForwardSettings, walk_forward
from finpulse_assets.features.price import FEATURE_COLUMNS
from finpulse_assets.models.lstm.model import LSTMConfigParams

PARAMS = LSTMConfigParams(window=5, epochs=3, patience=2, hidden_size=8)


@pytest.fixture(scope="module")
def frame():
    return synthetic_market(n_sectors=1, leaders=1, followers=2, start="2014-09-01", seed=1)[0]


@pytest.fixture(scope="module")
def split(frame):
    samples = build_samples(frame, FEATURE_COLUMNS, 5, Protocol())
    return samples.part(TRAIN), samples.part(DEV)


def test_a_head_is_fitted_once_and_read_back_identical(split, tmp_path, monkeypatch):
    train, dev = split
    cache, spec = FitCache(tmp_path), HeadSpec(REGRESSION, POOLED, PARAMS, seeds=1)
    first = cache.head_output(train, dev, spec)
    fits = []
    monkeypatch.setattr(fit_cache, "fit_head", lambda *a: fits.append(a) or pytest.fail("refitted on a hit"))
    again = FitCache(tmp_path).head_output(train, dev, spec)
    assert fits == [] and np.array_equal(first, again) and first.shape == (len(dev),)
    assert cache.counts() == {"hits": 0, "misses": 1}
    assert list(tmp_path.rglob("*.tmp")) == []  # written whole, then renamed


def test_every_input_that_determines_a_head_changes_its_key(split, monkeypatch):
    train, dev = split
    spec = HeadSpec(REGRESSION, POOLED, PARAMS, seeds=1)
    base = head_key(train, dev, spec)
    x = train.windows.X.copy()
    x[-1, -1, 0] += 1e-3
    y = train.windows.y.copy()
    y[0] += 1e-4
    label = train.label.copy()
    label[0] = 1 - label[0] if label[0] in (0, 1) else 1
    scored_x = dev.windows.X.copy()
    scored_x[0, 0, 0] += 1e-3
    changed = {
        "one feature value": head_key(replace(train, windows=replace(train.windows, X=x)), dev, spec),
        "one target": head_key(train.with_y(y), dev, spec),
        "one label": head_key(replace(train, label=label), dev, spec),
        "one scored window": head_key(train, replace(dev, windows=replace(dev.windows, X=scored_x)), spec),
        "fewer fitting samples": head_key(train.take(np.arange(len(train) - 1)), dev, spec),
        "the seed": head_key(train, dev, replace(spec, params=replace(PARAMS, seed=1))),
        "the learning rate": head_key(train, dev, replace(spec, params=replace(PARAMS, lr=2e-3))),
        "the head": head_key(train, dev, replace(spec, head=CLASSIFICATION)),
        "the seeds averaged": head_key(train, dev, replace(spec, seeds=2)),
    }
    monkeypatch.setattr(fit_cache, "code_version", lambda: "another training code")
    changed["the training code"] = head_key(train, dev, spec)
    for what, key in changed.items():
        assert key != base, f"changing {what} kept the key"
    assert len(set(changed.values())) == len(changed)


def test_a_walk_forward_rerun_reads_every_head_from_the_cache_and_scores_the_same(frame, tmp_path):
    search = SearchSettings(n_trials=2, windows=(5,), layouts=("pooled",), hidden_sizes=(8,), startup_trials=1)

    def run():
        fit = FitSettings(replace(PARAMS, epochs=4), seeds=1, cache=FitCache(tmp_path))
        settings = WalkForwardSettings(first_test="2015-09-01", test_end="2015-11-01",
                                       evaluation=EvaluationSettings(Protocol(), search, fit, bootstrap_resamples=200))
        return walk_forward({PRICE_ONLY: frame}, settings), fit.cache

    (first, first_cache), (second, second_cache) = run(), run()
    assert first_cache.counts()["misses"] > 0
    assert second_cache.counts() == {"hits": first_cache.counts()["hits"] + first_cache.counts()["misses"],
                                     "misses": 0}
    assert second["test"][PRICE_ONLY]["pooled"] == first["test"][PRICE_ONLY]["pooled"]
