"""Walk-forward evaluation on a synthetic market: rolling folds, a planted cross-sectional signal found
through the market context, a planted look-ahead caught."""

from functools import partial

import numpy as np
import pandas as pd
import pytest

from finpulse_assets.evaluation.candidates import CHOSEN_PER_FOLD, FINBERT, MAJORITY, PRICE_MARKET, PRICE_ONLY
from finpulse_assets.evaluation.experiment import EvaluationSettings
from finpulse_assets.evaluation.look_ahead import audit_no_look_ahead, with_audited_context
from finpulse_assets.evaluation.protocol import Protocol
from finpulse_assets.evaluation.search import SearchSettings
from finpulse_assets.evaluation.selection import FitSettings
from finpulse_assets.evaluation.synthetic_market import synthetic_market
from finpulse_assets.evaluation.walk_forward import WalkForwardSettings, folds, interval_widths, walk_forward
from finpulse_assets.features.market_context import MARKET_COLUMNS, market_context
from finpulse_assets.models.lstm.model import LSTMConfigParams


def _settings(**kw) -> WalkForwardSettings:
    search = SearchSettings(n_trials=1, windows=(5,), layouts=("pooled",), hidden_sizes=(16,), lr=(3e-3, 5e-3),
                            startup_trials=1, sentiment_sets=("mean_and_count",))
    evaluation = EvaluationSettings(Protocol(), search, FitSettings(LSTMConfigParams(epochs=25, patience=4), 1),
                                    bootstrap_resamples=500)
    return WalkForwardSettings(**{"first_test": "2015-07-01", "step_months": 2, "dev_months": 2,
                                  "evaluation": evaluation, **kw})


def test_folds_roll_forward_without_overlap_and_each_trains_only_before_its_dev_and_test():
    fs = folds(WalkForwardSettings(first_test="2014-10-01", step_months=1, dev_months=2))
    assert len(fs) == 15
    assert (fs[0].train_start, fs[0].dev_start, fs[0].test_start, fs[0].test_end) == \
        ("2014-01-01", "2014-08-01", "2014-10-01", "2014-11-01")
    assert fs[-1].test_end == "2016-01-01"
    for a, b in zip(fs, fs[1:]):
        assert a.test_end == b.test_start  # contiguous, no overlap: every day tested once
    quarterly = folds(WalkForwardSettings(first_test="2015-01-01", step_months=5))
    assert [(f.test_start, f.test_end) for f in quarterly] == [("2015-01-01", "2015-06-01"),
                                                             ("2015-06-01", "2015-11-01"),
                                                             ("2015-11-01", "2016-01-01")]
    with pytest.raises(ValueError, match="no train window"):
        WalkForwardSettings(first_test="2014-02-01", dev_months=2)
    with pytest.raises(ValueError, match="must be >= 1"):
        WalkForwardSettings(step_months=0)


@pytest.fixture(scope="module")
def market():
    frame, sectors = synthetic_market(seed=3)
    contextual, audit = with_audited_context(frame, partial(market_context, sectors=sectors))
    return contextual, sectors, audit


def test_the_market_context_passes_the_look_ahead_audit_and_a_planted_leak_is_caught(market):
    frame, sectors, audit = market
    assert audit["rows_compared"] > 0 and set(MARKET_COLUMNS) <= set(audit["columns"])
    honest = partial(market_context, sectors=sectors)

    def tomorrow_in_market_return(f):
        out = honest(f)
        # The planted leak: the market's return of the next day, known only at t+1's close.
        nxt = out.groupby("ticker")["mkt_ret"].shift(-1)
        return out.assign(mkt_ret=nxt)

    def reads_the_label(f):
        return honest(f).assign(peer_ret=f["target_log_return"].to_numpy())

    for leaky in (tomorrow_in_market_return, reads_the_label):
        with pytest.raises(ValueError, match="look-ahead"):
            audit_no_look_ahead(leaky, frame, MARKET_COLUMNS)
        with pytest.raises(ValueError, match="look-ahead"):
            with_audited_context(frame, leaky)


@pytest.fixture(scope="module")
def results(market):
    frame, _, _ = market
    return walk_forward({PRICE_ONLY: frame, PRICE_MARKET: frame, FINBERT: frame}, _settings())


def test_the_planted_cross_sectional_signal_is_found_only_with_market_context(results):
    pooled = {name: scores["pooled"] for name, scores in results["test"].items()}
    assert pooled[PRICE_MARKET]["mcc"] > 0.3
    assert pooled[PRICE_MARKET]["mcc_ci"][0] > 0.15
    assert pooled[PRICE_ONLY]["mcc_ci"][0] < 0.15 and pooled[PRICE_ONLY]["mcc"] < pooled[PRICE_MARKET]["mcc"] - 0.2
    gain = next(a for a in results["ablations"] if a["with"] == PRICE_MARKET and a["without"] == PRICE_ONLY)
    assert gain["mcc_ci"][0] > 0 and gain["share_of_resamples_mcc_a_above_b"] > 0.99
    assert pooled[PRICE_MARKET]["mae_ratio_random_walk"] < pooled[PRICE_ONLY]["mae_ratio_random_walk"]
    assert pooled[MAJORITY]["mcc"] == 0.0


def test_the_folds_are_pooled_and_every_test_day_is_scored_once_by_a_model_fitted_before_it(results, market):
    frame, _, _ = market
    assert [(f["test_start"], f["test_end"]) for f in results["folds"]] == \
        [("2015-07-01", "2015-09-01"), ("2015-09-01", "2015-11-01"), ("2015-11-01", "2016-01-01")]
    assert results["test_samples_scored"] == sum(f["test_samples"] for f in results["folds"])
    assert results["bootstrap"]["n_days"] > 100  # six months of test days, not one quarter's
    assert results["finpulse_variant"] == CHOSEN_PER_FOLD and CHOSEN_PER_FOLD in results["test"]
    for fold in results["folds"]:
        assert fold["dev_start"] < fold["test_start"] and set(fold["choices"]) == {PRICE_ONLY, PRICE_MARKET, FINBERT}
    widths = interval_widths(results)
    assert 0 < widths[PRICE_MARKET]["mcc"] < 1


def test_a_fold_forecast_does_not_change_when_data_after_its_test_window_changes(market):
    frame, _, _ = market
    settings = _settings(first_test="2015-09-01", test_end="2015-11-01")
    first = walk_forward({PRICE_ONLY: frame}, settings)
    later = pd.to_datetime(frame["date"]) >= pd.Timestamp("2015-11-01")
    rewritten = frame.copy()
    numeric_cols = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c]) and c != "history_complete"]
    rewritten[numeric_cols] = rewritten[numeric_cols].astype(float)
    numeric = numeric_cols
    rewritten.loc[later, numeric] = rewritten.loc[later, numeric] * 1.7 + 0.01
    second = walk_forward({PRICE_ONLY: rewritten}, settings)
    for key in ("accuracy", "mcc", "mae"):
        assert first["test"][PRICE_ONLY]["pooled"][key] == pytest.approx(second["test"][PRICE_ONLY]["pooled"][key])
    assert np.isfinite(first["test"][PRICE_ONLY]["pooled"]["mcc"])
