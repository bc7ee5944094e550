"""The whole evaluation on a synthetic market where day-t sentiment leads the next day's return."""

import json

import pytest

from finpulse_assets.evaluation.candidates import FINBERT, MAJORITY, PRICE_ONLY, RANDOM_WALK
from finpulse_assets.evaluation.experiment import EvaluationSettings, evaluate_variants
from finpulse_assets.evaluation.protocol import Protocol
from finpulse_assets.evaluation.report import headline, markdown, write_report
from finpulse_assets.evaluation.selection import FitSettings
from finpulse_assets.models.lstm.model import LSTMConfigParams
from finpulse_assets.models.lstm.synthetic import synthetic_frame

PROTOCOL = Protocol("2023-02-01", "2023-08-01", "2023-10-01", "2024-01-01")


@pytest.fixture(scope="module")
def results():
    frame = synthetic_frame(n_tickers=2, n_days=260, seed=1).assign(adj_close=lambda f: f["close"])
    settings = EvaluationSettings(PROTOCOL, windows=(5,), layouts=("pooled",), sentiment_sets=("mean_and_count",),
                                  fit=FitSettings(LSTMConfigParams(hidden_size=16, epochs=30, patience=5, lr=3e-3), 1))
    return evaluate_variants({PRICE_ONLY: frame, FINBERT: frame}, settings)


def test_sentiment_that_leads_returns_beats_the_baselines_and_the_price_only_model(results):
    pooled = {name: scores["pooled"] for name, scores in results["test"].items()}
    assert list(results["test"]) == [MAJORITY, RANDOM_WALK, PRICE_ONLY, FINBERT]
    assert pooled[FINBERT]["mae_ratio_random_walk"] < 0.9
    assert pooled[FINBERT]["mcc"] > pooled[PRICE_ONLY]["mcc"] + 0.2
    assert pooled[MAJORITY]["mcc"] == 0.0
    # Every variant is scored on the same test samples.
    assert len({scores["pooled"]["n_samples"] for scores in results["test"].values() if "n_samples" in scores["pooled"]}) == 1


def test_the_report_holds_the_headline_and_a_table(results, tmp_path):
    report = {"dataset": "synthetic", "tickers": ["T0", "T1"], "test": headline(results),
              "protocol": PROTOCOL.as_dict(), "variants_test": results["test"], "dev": results["dev"], "runtime": {}}
    json_path, md_path = write_report(report, tmp_path)
    assert set(json.loads(json_path.read_text())["test"]) == {"accuracy", "mcc", "mae_ratio_random_walk", "n_samples"}
    text = md_path.read_text()
    assert text == markdown(report) and "| pooled | **finpulse_lstm_finbert** |" in text and "| T1 |" in text
