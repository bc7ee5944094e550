"""ONNX export, int8 quantization, parity with PyTorch, and the torch-free scorer."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from finpulse_assets.models.finbert.onnx_export import export_onnx, parity
from finpulse_assets.models.finbert.scoring import FP32_FILE, INT8_FILE, METADATA_FILE, OnnxSentimentScorer, labels
from finpulse_assets.models.finbert.train import FinetuneParams, finetune, load_finetuned, predict_proba
from finpulse_assets_tests.test_finbert_support import (build_tiny_model, labelled_frame,
                                                        sample_texts, single_thread_torch)

PARAMS = FinetuneParams(epochs=6, batch_size=8, lr=1e-2, max_length=32, seed=7, val_fraction_days=0.3)
# Model ids mean neutral, positive, negative: the scorer must still hand out positive, negative, neutral.
PERMUTED = {0: "neutral", 1: "positive", 2: "negative"}

# single_thread_torch is imported so pytest finds it in this module.
pytestmark = pytest.mark.usefixtures(single_thread_torch.__name__)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A tiny model trained to confident predictions, with a permuted head, exported to ONNX."""
    root = tmp_path_factory.mktemp("onnx")
    base = build_tiny_model(root / "base", id2label=PERMUTED)
    finetune(str(base), labelled_frame(), PARAMS, root / "trained")
    model, tokenizer = load_finetuned(root / "trained")
    result = export_onnx(model, tokenizer, root / "onnx", max_length=PARAMS.max_length)
    return model, tokenizer, result


def test_export_writes_fp32_int8_tokenizer_and_metadata(exported):
    _, _, result = exported
    files = {p.name for p in result.directory.iterdir()}
    assert {FP32_FILE, INT8_FILE, METADATA_FILE, "tokenizer.json"} <= files
    metadata = json.loads((result.directory / METADATA_FILE).read_text())
    assert metadata["id2label"] == {"0": "neutral", "1": "positive", "2": "negative"}
    assert metadata["max_length"] == PARAMS.max_length
    assert metadata["input_names"] == ["input_ids", "attention_mask", "token_type_ids"]
    # The BERT fusion found the attention blocks (what makes int8 attention possible).
    assert result.fused_operators.get("Attention") == 2
    assert result.int8_path.stat().st_size < result.fp32_path.stat().st_size


def test_onnx_matches_pytorch(exported):
    model, tokenizer, result = exported
    texts = sample_texts()
    fp32 = parity(model, result.fp32_path, tokenizer, texts)
    int8 = parity(model, result.int8_path, tokenizer, texts)
    print(f"parity fp32 {fp32}\nparity int8 {int8}")
    assert fp32["agreement"] == 1.0 and fp32["max_abs_prob_diff"] < 1e-4
    # The tiny model's weights are large after a few steps at lr 1e-2, so int8 moves its
    # probabilities more than a real encoder's; the labels must still agree.
    assert int8["agreement"] >= 0.95 and int8["max_abs_prob_diff"] < 0.5


def test_scorer_columns_are_positive_negative_neutral_whatever_the_model_order(exported):
    model, tokenizer, result = exported
    texts = ["$AAA great record upgrade", "$AAA terrible crash lawsuit", "$AAA shares trades today"]
    scorer = OnnxSentimentScorer(result.directory, model_file=FP32_FILE)
    probs = scorer.score(texts)
    assert probs.shape == (3, 3) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert list(labels(probs)) == ["positive", "negative", "neutral"]
    # Same numbers as PyTorch once its columns (neutral, positive, negative) are reordered.
    torch_probs = predict_proba(model, tokenizer, texts, PARAMS.max_length)
    np.testing.assert_allclose(probs, torch_probs[:, [1, 2, 0]], atol=1e-5)


def test_length_sorted_batches_return_rows_in_input_order(exported):
    _, _, result = exported
    texts = sample_texts()
    sorted_batches = OnnxSentimentScorer(result.directory, model_file=FP32_FILE, batch_size=4).score(texts)
    # One text per call: no sorting, no padding at all.
    single = OnnxSentimentScorer(result.directory, model_file=FP32_FILE)
    one_by_one = np.vstack([single.score([t]) for t in texts])
    np.testing.assert_allclose(sorted_batches, one_by_one, atol=1e-5)
    assert OnnxSentimentScorer(result.directory).score([]).shape == (0, 3)


def test_repeated_texts_are_scored_once_with_the_same_result(exported):
    _, _, result = exported
    texts = sample_texts()
    repeated = texts[5:10] + texts + texts[:3]
    deduped = OnnxSentimentScorer(result.directory, model_file=FP32_FILE, batch_size=4).score(repeated)
    plain = OnnxSentimentScorer(result.directory, model_file=FP32_FILE, batch_size=4, dedupe=False).score(repeated)
    np.testing.assert_allclose(deduped, plain, atol=1e-5)
    np.testing.assert_array_equal(deduped[:5], deduped[10:15])


def test_scoring_module_does_not_import_torch():
    code = ("import sys; import finpulse_assets.models.finbert.scoring; "
            "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=Path(__file__).resolve().parents[1])
    assert result.stdout.strip() == "[]"


def test_fp32_layers_leave_the_first_encoder_layer_unquantized(exported, tmp_path):
    model, tokenizer, _ = exported
    partial = export_onnx(model, tokenizer, tmp_path / "partial", max_length=PARAMS.max_length, fp32_layers=1)
    ops = {n.name: n.op_type for n in onnx.load(str(partial.int8_path)).graph.node}
    assert sorted(op for op in ops.values() if op in ("Attention", "QAttention")) == ["Attention", "QAttention"]
    assert ops["/bert/encoder/layer.0/intermediate/dense/MatMul"] == "MatMul"
    assert "/bert/encoder/layer.1/intermediate/dense/MatMul" not in ops  # quantized: replaced by MatMulInteger
    assert json.loads((partial.directory / METADATA_FILE).read_text())["quantization"]["fp32_layers"] == 1
