"""The dev-split Optuna search: what a trial proposes, pruning, MLflow runs per trial, importances."""

import optuna
import pytest

from finpulse_assets.evaluation import search as search_module
from finpulse_assets.evaluation.candidates import ALSTM_FINBERT, EMBEDDINGS, PRICE_ONLY, variant
from finpulse_assets.evaluation.protocol import Protocol
from finpulse_assets.evaluation.search import SearchSettings, importance_png, search_variant, suggest
from finpulse_assets.evaluation.selection import FitSettings
from finpulse_assets.models.mlflow_tracking import MlflowTracking
from finpulse_assets.models.lstm.model import LSTMConfigParams
from finpulse_assets.models.lstm.synthetic import synthetic_frame

PROTOCOL = Protocol("2023-02-01", "2023-08-01", "2023-10-01", "2024-01-01")
SPACE = SearchSettings(n_trials=4, windows=(5,), layouts=("pooled",), hidden_sizes=(8, 16),
                       sentiment_sets=("mean_and_count",), startup_trials=2)


def _fake_row(candidate, mcc):
    scores = {"mcc": mcc, "accuracy": 0.5 + mcc / 2}
    return {"candidate": candidate.as_dict(), "price": {"mae": 1.0 - mcc, "mae_ratio_random_walk": 1.0 - mcc},
            "direction": {"classification": scores, "regression": scores}}


def test_a_trial_asks_only_for_the_choices_its_variant_has():
    space = SearchSettings()
    for name, expected in ((PRICE_ONLY, {"window", "layout", "hidden_size", "lr", "dropout", "weight_decay"}),
                           (EMBEDDINGS, {"sentiment", "embeddings"}), (ALSTM_FINBERT, {"adversarial"})):
        trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1)).ask()
        candidate = suggest(trial, variant(name), space)
        assert expected <= set(trial.params) and candidate.architecture == variant(name).architecture
        if name == PRICE_ONLY:
            assert candidate.sentiment == "none" and candidate.embeddings == 0 and "sentiment" not in trial.params


def test_trials_trailing_the_median_are_pruned_after_their_first_seed(monkeypatch):
    seen = []

    def fake_dev_scores(frame, candidate, protocol, fit, after_seed):
        mcc = 0.5 - 0.1 * len(seen)  # every trial worse than the ones before
        seen.append(candidate)
        for k in range(fit.seeds):
            after_seed(k, _fake_row(candidate, mcc))
        return _fake_row(candidate, mcc)

    monkeypatch.setattr(search_module, "dev_scores", fake_dev_scores)
    result = search_variant(None, variant(PRICE_ONLY), PROTOCOL, FitSettings(LSTMConfigParams(), seeds=3), SPACE)
    study = result["study"]
    assert (study["n_trials"], study["complete"], study["pruned"]) == (4, 2, 2)
    assert study["best_trial"]["number"] == 0 and len(result["candidates"]) == 2
    assert result["choice"]["direction"]["candidate"] == seen[0].as_dict()


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    frame = synthetic_frame(n_tickers=2, n_days=240, seed=2).assign(adj_close=lambda f: f["close"])
    tracker = MlflowTracking(storage_dir=str(tmp_path_factory.mktemp("mlflow")))
    fit = FitSettings(LSTMConfigParams(epochs=6, patience=3), seeds=1)
    return search_variant(frame, variant(ALSTM_FINBERT), PROTOCOL, fit, SPACE, tracker), tracker


def test_every_trial_is_an_mlflow_run_under_one_run_per_study(searched):
    result, tracker = searched
    client = tracker.client()
    runs = client.search_runs([tracker.experiment_id(client)])
    parents = [r for r in runs if r.info.run_name == f"search/{ALSTM_FINBERT}"]
    trials = [r for r in runs if r.info.run_name.startswith(f"{ALSTM_FINBERT}/trial-")]
    assert len(parents) == 1 and len(trials) == 4
    assert all(r.data.tags["mlflow.parentRunId"] == parents[0].info.run_id for r in trials)
    complete = [r for r in trials if r.data.tags["finpulse.search.state"] == "complete"]
    assert len(complete) == result["study"]["complete"]
    assert all("dev_mcc_classification" in r.data.metrics and r.data.params["architecture"] == "alstm"
               for r in complete)
    assert parents[0].data.metrics["best_dev_mcc"] == pytest.approx(result["study"]["best_trial"]["dev_mcc"])


def test_the_study_reports_its_best_trial_and_importances_as_a_plot(searched):
    result, _ = searched
    study = result["study"]
    assert "window" in study["best_trial"]["params"] or "lr" in study["best_trial"]["params"]
    shares = study.get("importances")
    assert shares is not None, study.get("reason")
    assert sum(shares.values()) == pytest.approx(1.0)
    assert importance_png(ALSTM_FINBERT, shares)[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_search_needs_a_budget():
    with pytest.raises(ValueError, match="n_trials must be >= 1"):
        SearchSettings(n_trials=0)
