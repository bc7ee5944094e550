"""Fine-tuning on VADER labels: time-ordered split, metrics, safetensors output, reproducibility."""

import numpy as np
import pandas as pd
import pytest
from safetensors.numpy import load_file

from finpulse_assets.models.finbert.train import (FinetuneParams, finetune, load_finetuned, predict_proba,
                                                  time_split, time_stratified_sample)
from finpulse_assets_tests.test_finbert_support import build_tiny_model, labelled_frame, single_thread_torch

PARAMS = FinetuneParams(epochs=6, batch_size=8, lr=1e-2, max_length=32, seed=7, val_fraction_days=0.3)
METRIC_KEYS = {"accuracy", "macro_f1", "confusion_matrix", "confusion_matrix_markdown", "train_size", "val_size",
               "label_distribution", "train_seconds", "class_weights", "first_val_day", "last_train_day"}

# single_thread_torch is imported so pytest finds it in this module.
pytestmark = pytest.mark.usefixtures(single_thread_torch.__name__)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("tiny"))


def test_finetune_splits_by_time_and_saves_safetensors(tiny_dir, tmp_path):
    frame = labelled_frame()
    metrics = finetune(str(tiny_dir), frame, PARAMS, tmp_path / "out")

    assert METRIC_KEYS <= metrics.keys()
    assert metrics["last_train_day"] < metrics["first_val_day"]
    assert metrics["val_days"] == 3 and metrics["train_days"] == 7
    assert metrics["val_size"] == 36
    # The repeated text counts once in training.
    assert metrics["train_size"] == metrics["train_rows_after_dedupe"] < metrics["train_rows_before_dedupe"]
    confusion = metrics["confusion_matrix"]
    assert isinstance(confusion, pd.DataFrame) and confusion.to_numpy().sum() == metrics["val_size"]
    assert "| vader_positive |" in metrics["confusion_matrix_markdown"]
    assert 0.0 <= metrics["macro_f1"] <= 1.0 and metrics["accuracy"] > 0.5
    # Inverse frequency: neutral is half the tweets, so it weighs least.
    weights = metrics["class_weights"]
    assert weights["neutral"] < weights["positive"] and weights["neutral"] < weights["negative"]

    files = {p.name for p in (tmp_path / "out").iterdir()}
    assert {"model.safetensors", "config.json", "tokenizer.json"} <= files
    assert not [name for name in files if name.endswith((".bin", ".pkl", ".pt", ".pth"))]
    model, _ = load_finetuned(tmp_path / "out")
    assert model.config.id2label == {0: "positive", 1: "negative", 2: "neutral"}


def test_same_seed_and_data_give_the_same_model_and_metrics(tiny_dir, tmp_path):
    frame = labelled_frame()
    first = finetune(str(tiny_dir), frame, PARAMS, tmp_path / "a")
    second = finetune(str(tiny_dir), frame, PARAMS, tmp_path / "b")
    assert (first["accuracy"], first["macro_f1"]) == (second["accuracy"], second["macro_f1"])
    pd.testing.assert_frame_equal(first["confusion_matrix"], second["confusion_matrix"])
    a, b = load_file(tmp_path / "a" / "model.safetensors"), load_file(tmp_path / "b" / "model.safetensors")
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_label_order_comes_from_the_model_config(tmp_path):
    # A head whose ids mean neutral, positive, negative: training targets and evaluation must follow it.
    permuted = {0: "neutral", 1: "positive", 2: "negative"}
    directory = build_tiny_model(tmp_path / "permuted", id2label=permuted)
    metrics = finetune(str(directory), labelled_frame(), PARAMS, tmp_path / "out")
    assert metrics["id2label"] == permuted and metrics["accuracy"] > 0.5

    model, tokenizer = load_finetuned(tmp_path / "out")
    probs = predict_proba(model, tokenizer, ["$AAA terrible crash", "$AAA great record"], max_length=32)
    assert [permuted[i] for i in probs.argmax(axis=1)] == ["negative", "positive"]


def test_no_finetune_evaluates_the_base_model_as_it_is(tiny_dir, tmp_path):
    metrics = finetune(str(tiny_dir), labelled_frame(), FinetuneParams(no_finetune=True, val_fraction_days=0.3),
                       tmp_path / "out")
    assert metrics["no_finetune"] and metrics["train_seconds"] < 1.0
    base = load_file(tiny_dir / "model.safetensors")
    saved = load_file(tmp_path / "out" / "model.safetensors")
    assert all(np.array_equal(base[k], saved[k]) for k in base)


def test_split_and_cap_are_time_ordered_and_deterministic():
    frame = labelled_frame(n_days=10, per_day=12)
    train, val = time_split(frame, 0.2)
    assert train["trading_day"].max() < val["trading_day"].min() and val["trading_day"].nunique() == 2

    capped = time_stratified_sample(train, 40, seed=3)
    assert len(capped) == 40
    # Every training day keeps its share (12 tweets a day, 40 of 96 kept: 5 each).
    assert capped["trading_day"].value_counts().between(4, 6).all()
    pd.testing.assert_frame_equal(capped, time_stratified_sample(train, 40, seed=3))
