"""The `evaluation` asset invoked directly on a synthetic market: the text-embedding variant's inputs, the
report files, the importance plots and the metadata the UI shows."""

import json

import numpy as np
import pandas as pd
import pytest
from dagster import build_asset_context

from finpulse_assets.assets.evaluation import EvaluationConfig, build_evaluation_assets
from finpulse_assets.evaluation.candidates import EMBEDDINGS, FINBERT, PRICE_ONLY
from finpulse_assets.models.mlflow_tracking import MlflowTracking
from finpulse_assets.models.lstm.synthetic import synthetic_frame
from finpulse_assets.sentiment.daily import SENTIMENT_FEATURE_COLUMNS

PROTOCOL = {"train_start": "2023-02-01", "dev_start": "2023-08-01", "test_start": "2023-10-01",
            "test_end": "2024-01-01"}


def _inputs():
    rng = np.random.default_rng(0)
    frame = synthetic_frame(n_tickers=2, n_days=260, seed=1).assign(adj_close=lambda f: f["close"])
    for column in SENTIMENT_FEATURE_COLUMNS:
        if column not in frame:
            frame[column] = rng.normal(size=len(frame))
    # Daily mean embeddings whose first axis carries the same lead as sentiment_mean, the rest noise.
    emb = rng.normal(0, 0.05, size=(len(frame), 8)).astype(np.float32)
    emb[:, 0] += frame["sentiment_mean"].to_numpy(np.float32)
    embeddings = pd.DataFrame({"ticker": frame["ticker"], "trading_day": frame["date"], "embedded_tweets": 5,
                               **{f"emb_{i:03d}": emb[:, i] for i in range(8)}})
    return frame, embeddings


def _run(tmp_path, embeddings):
    (evaluation,) = build_evaluation_assets()
    frame, _ = _inputs()
    config = EvaluationConfig(**PROTOCOL, variants=[PRICE_ONLY, FINBERT, EMBEDDINGS], n_trials=2, seeds=1, epochs=10,
                              windows=[5], layouts=["pooled"], embedding_components=[2], bootstrap_resamples=300,
                              report_dir=str(tmp_path / "reports"), dataset="synthetic",
                              wf_first_test="2023-09-01", wf_step_months=2, wf_dev_months=1, wf_n_trials=1,
                              wf_variants=[PRICE_ONLY, FINBERT])
    with build_asset_context() as context:
        outputs = list(evaluation(context, config=config, mlflow=MlflowTracking(storage_dir=str(tmp_path)),
                                  training_set=frame, vader_labels=pd.DataFrame(), raw_tweets=pd.DataFrame(),
                                  tweet_embedding_features=embeddings))
    (output,) = outputs
    return output


@pytest.fixture(scope="module")
def output(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("evaluation"), _inputs()[1])


def test_the_report_and_metadata_carry_the_headline_with_intervals_and_the_ablations(output):
    report = json.loads(open(output.value["json_path"]).read())
    assert report["test"]["model"] in (FINBERT, EMBEDDINGS) and len(report["test"]["mcc_ci"]) == 2
    assert set(report["variants_test"]) >= {PRICE_ONLY, FINBERT, EMBEDDINGS}
    assert [a["ablation"] for a in report["ablations"]] == ["+ FinBERT sentiment (LSTM)", "+ tweet embeddings (LSTM)"]
    meta = output.metadata
    assert meta["finpulse_model"].value == report["test"]["model"]
    assert meta["test_mcc_ci95"].value == report["test"]["mcc_ci"]
    assert "95 % CI" in meta["test_pooled"].value and "+ tweet embeddings (LSTM)" in meta["ablations"].value
    assert set(meta["best_trials"].value) == {PRICE_ONLY, FINBERT, EMBEDDINGS}


def test_the_walk_forward_report_is_written_beside_the_stocknet_split(output):
    report = json.loads(open(output.value["json_path"]).read())
    walk = report["walk_forward"]
    assert [(f["test_start"], f["test_end"]) for f in walk["folds"]] == [("2023-09-01", "2023-11-01"),
                                                                       ("2023-11-01", "2024-01-01")]
    assert set(walk["test"]) >= {PRICE_ONLY, FINBERT, "finpulse_chosen_per_fold"}
    assert walk["bootstrap"]["n_days"] > report["bootstrap"]["n_days"]  # four months of test days, not three
    widths = walk["interval_widths"]
    assert set(widths["walk_forward"]) >= {PRICE_ONLY, FINBERT} and PRICE_ONLY in widths["stocknet_split"]
    text = open(output.value["md_path"]).read()
    assert "## Walk-forward (rolling origins)" in text and "Interval widths under each protocol" in text
    assert "95 % CI" in output.metadata["walk_forward_pooled"].value


def test_the_embedding_variant_chose_text_components_and_importance_plots_are_shown(output):
    report = json.loads(open(output.value["json_path"]).read())
    assert report["dev"][EMBEDDINGS]["choice"]["direction"]["candidate"]["embeddings"] == 2
    for name, file in report["importance_plots"].items():
        assert (output.value["json_path"].rsplit("/", 1)[0] + "/" + file).endswith(".png")
        assert output.metadata[f"importance_{name}"].value.startswith(f"![{name} hyper-parameter importance]")


def test_without_stored_embeddings_the_embedding_variants_are_left_out_and_said_so():
    from finpulse_assets.assets import evaluation as module

    frame, _ = _inputs()
    config = EvaluationConfig(**PROTOCOL, variants=[PRICE_ONLY, EMBEDDINGS])
    settings = module._settings(config)
    frames, skipped = module.variant_frames(config, settings, frame, pd.DataFrame(), pd.DataFrame(), pd.DataFrame())
    assert list(frames) == [PRICE_ONLY] and "tweet_embedding_features" in skipped[EMBEDDINGS]
    with pytest.raises(ValueError, match="unknown variants"):
        module.variant_frames(EvaluationConfig(variants=["gpt"]), settings, frame, None, None, pd.DataFrame())
