"""Tweet sentiment probabilities from an exported ONNX model, without torch or transformers.

The serving image has only onnxruntime, numpy, tokenizers and pydantic, so this
module imports nothing else (a test runs it in a fresh interpreter and checks
that torch never gets imported). Batching and deduplication: `models.onnx_text`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from finpulse_assets.models.finbert.labels import SENTIMENT_LABELS, check_id2label, column_order
from finpulse_assets.models.onnx_text import TOKENIZER_FILE, OnnxTextModel

FP32_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"
METADATA_FILE = "sentiment_onnx.json"
__all__ = ["FP32_FILE", "INT8_FILE", "METADATA_FILE", "TOKENIZER_FILE", "OnnxSentimentScorer", "labels", "softmax"]


class OnnxSentimentScorer(OnnxTextModel):
    """Probabilities [n, 3] with columns SENTIMENT_LABELS ("positive", "negative", "neutral")."""

    columns: tuple[str, ...] = SENTIMENT_LABELS
    kind = "sentiment model"
    export_hint = "export it with onnx_export.export_onnx"

    def __init__(self, model_dir: str | Path, model_file: str | None = None, batch_size: int = 64,
                 intra_op_num_threads: int = 0, dedupe: bool = True) -> None:
        """dedupe scores each distinct text once (identical texts get identical rows either way)."""
        super().__init__(model_dir, METADATA_FILE, model_file, batch_size, intra_op_num_threads)
        self.id2label = check_id2label(self.metadata["id2label"], str(self.metadata_path))
        self.dedupe = dedupe
        # Model output column for each of SENTIMENT_LABELS, whatever the model's own order.
        self._columns = column_order(self.id2label)

    def score(self, texts: Sequence[str]) -> np.ndarray:
        """Probabilities [len(texts), 3] in SENTIMENT_LABELS column order, rows in input order."""
        return self.run_texts(texts, len(SENTIMENT_LABELS), "logits",
                              lambda logits: softmax(logits)[:, self._columns], dedupe=self.dedupe)

    def labels(self, probs: np.ndarray) -> np.ndarray:
        return labels(probs)


def labels(probs: np.ndarray) -> np.ndarray:
    """Label names of the argmax of probabilities in SENTIMENT_LABELS column order."""
    return np.asarray(SENTIMENT_LABELS, dtype=object)[np.asarray(probs).argmax(axis=1)]


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)
