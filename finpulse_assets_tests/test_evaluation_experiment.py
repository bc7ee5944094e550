"""The whole evaluation on a synthetic market where day-t sentiment leads the next day's return:
dev searches (Optuna), refits, test scores with bootstrap intervals, ablations, the report."""

import json

import pytest

from finpulse_assets.evaluation.candidates import (
    ALSTM_FINBERT, ALSTM_PRICE_ONLY, FINBERT, MAJORITY, PRICE_ONLY, RANDOM_WALK,
)
from finpulse_assets.evaluation.experiment import EvaluationSettings, evaluate_variants
from finpulse_assets.evaluation.protocol import Protocol
from finpulse_assets.evaluation.report import headline, markdown, write_report
from finpulse_assets.evaluation.search import SearchSettings
from finpulse_assets.evaluation.selection import FitSettings
from finpulse_assets.models.lstm.model import LSTMConfigParams
from finpulse_assets.models.lstm.synthetic import synthetic_frame

PROTOCOL = Protocol("2023-02-01", "2023-08-01", "2023-10-01", "2024-01-01")


@pytest.fixture(scope="module")
def results():
    frame = synthetic_frame(n_tickers=2, n_days=260, seed=1).assign(adj_close=lambda f: f["close"])
    search = SearchSettings(n_trials=2, windows=(5,), layouts=("pooled",), hidden_sizes=(16,), lr=(3e-3, 5e-3),
                            startup_trials=1, sentiment_sets=("mean_and_count",))
    settings = EvaluationSettings(PROTOCOL, search, FitSettings(LSTMConfigParams(epochs=30, patience=5), 1),
                                  bootstrap_resamples=500)
    return evaluate_variants({PRICE_ONLY: frame, FINBERT: frame, ALSTM_PRICE_ONLY: frame, ALSTM_FINBERT: frame},
                             settings)


def test_sentiment_that_leads_returns_beats_the_baselines_and_the_price_only_models(results):
    pooled = {name: scores["pooled"] for name, scores in results["test"].items()}
    assert list(results["test"]) == [MAJORITY, RANDOM_WALK, PRICE_ONLY, FINBERT, ALSTM_PRICE_ONLY, ALSTM_FINBERT]
    for with_text, price_only in ((FINBERT, PRICE_ONLY), (ALSTM_FINBERT, ALSTM_PRICE_ONLY)):
        assert pooled[with_text]["mae_ratio_random_walk"] < 0.9
        assert pooled[with_text]["mcc"] > pooled[price_only]["mcc"] + 0.2
    assert pooled[MAJORITY]["mcc"] == 0.0
    # Every variant is scored on the same test samples.
    assert len({scores["pooled"]["n_samples"] for scores in results["test"].values() if "n_samples" in scores["pooled"]}) == 1


def test_every_pooled_row_has_intervals_around_its_estimate_and_the_text_gain_is_measurable(results):
    for name, scores in results["test"].items():
        row = scores["pooled"]
        if name != RANDOM_WALK:
            assert row["accuracy_ci"][0] <= row["accuracy"] <= row["accuracy_ci"][1]
            assert row["mcc_ci"][0] <= row["mcc"] <= row["mcc_ci"][1]
    ablations = {a["ablation"]: a for a in results["ablations"]}
    assert set(ablations) == {"+ FinBERT sentiment (LSTM)", "+ FinBERT sentiment (ALSTM)",
                              "attention vs LSTM, price only", "attention vs LSTM, + FinBERT"}
    assert ablations["+ FinBERT sentiment (LSTM)"]["mcc_ci"][0] > 0
    assert results["bootstrap"]["n_resamples"] == 500


def test_each_variant_was_searched_on_dev_and_the_headline_is_chosen_on_dev(results):
    for name, entry in results["dev"].items():
        assert entry["study"]["n_trials"] == 2 and entry["study"]["complete"] >= 1
        assert entry["choice"]["direction"]["candidate"]["architecture"] == ("alstm" if "alstm" in name else "lstm")
    assert results["finpulse_variant"] in (FINBERT, ALSTM_FINBERT)


def test_the_report_holds_the_headline_intervals_ablations_and_tables(results, tmp_path):
    report = {"dataset": "synthetic", "tickers": ["T0", "T1"], "test": headline(results),
              "protocol": PROTOCOL.as_dict(), "variants_test": results["test"], "dev": results["dev"],
              "ablations": results["ablations"], "bootstrap": results["bootstrap"], "runtime": {}}
    json_path, md_path = write_report(report, tmp_path)
    top = json.loads(json_path.read_text())["test"]
    assert {"accuracy", "mcc", "mae_ratio_random_walk", "n_samples", "accuracy_ci", "mcc_ci", "model"} == set(top)
    text = md_path.read_text()
    assert text == markdown(report) and f"| **{results['finpulse_variant']}** |" in text and "| T1 |" in text
    assert "+ FinBERT sentiment (LSTM)" in text and "95 % CI" in text
