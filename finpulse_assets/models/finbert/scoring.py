"""Tweet sentiment probabilities from an exported ONNX model, without torch or transformers.

The serving image has only onnxruntime, numpy, tokenizers and pydantic, so this
module imports nothing else (a test runs it in a fresh interpreter and checks
that torch never gets imported).

Speed comes from length-sorted batches: texts are tokenized once, sorted by
token count, and each batch is padded only to its own longest text, so short
tweets do not pay for long ones; repeated texts are scored once. Results are
put back in input order.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from finpulse_assets.models.finbert.labels import SENTIMENT_LABELS, check_id2label, column_order

FP32_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"
METADATA_FILE = "sentiment_onnx.json"
TOKENIZER_FILE = "tokenizer.json"


class OnnxSentimentScorer:
    """Probabilities [n, 3] with columns SENTIMENT_LABELS ("positive", "negative", "neutral")."""

    columns: tuple[str, ...] = SENTIMENT_LABELS

    def __init__(self, model_dir: str | Path, model_file: str | None = None, batch_size: int = 64,
                 intra_op_num_threads: int = 0, dedupe: bool = True) -> None:
        """`model_file` defaults to the int8 model; intra_op_num_threads=0 lets ONNX Runtime use every core;
        dedupe scores each distinct text once (identical texts get identical rows either way)."""
        directory = Path(model_dir)
        metadata = json.loads(_existing(directory / METADATA_FILE).read_text())
        self.id2label = check_id2label(metadata["id2label"], str(directory / METADATA_FILE))
        self.max_length = int(metadata["max_length"])
        self.batch_size = batch_size
        self.dedupe = dedupe
        self._pad_id = int(metadata["pad_token_id"])
        # Model output column for each of SENTIMENT_LABELS, whatever the model's own order.
        self._columns = column_order(self.id2label)

        self.model_path = _existing(directory / (model_file or metadata["files"]["int8"]))
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = intra_op_num_threads
        self.session = ort.InferenceSession(str(self.model_path), sess_options=options,
                                            providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]

        self.tokenizer = Tokenizer.from_file(str(_existing(directory / TOKENIZER_FILE)))
        # tokenizer.json files often carry fixed-length padding; padding is done per batch below.
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(self.max_length)

    def score(self, texts: Sequence[str]) -> np.ndarray:
        """Probabilities [len(texts), 3] in SENTIMENT_LABELS column order, rows in input order."""
        if not len(texts):
            return np.zeros((0, len(SENTIMENT_LABELS)), dtype=np.float32)
        if not self.dedupe:
            return self._score_distinct(list(texts))
        # Retweets and copy-pasted promotions repeat texts (about 14 % of real tweets): score each once.
        distinct, inverse = np.unique(np.asarray(texts, dtype=object), return_inverse=True)
        return self._score_distinct(distinct.tolist())[inverse.reshape(-1)]

    def _score_distinct(self, texts: list[str]) -> np.ndarray:
        probs = np.zeros((len(texts), len(SENTIMENT_LABELS)), dtype=np.float32)
        encodings = self.tokenizer.encode_batch(texts)
        lengths = np.array([len(e.ids) for e in encodings])
        order = np.argsort(lengths, kind="stable")
        for start in range(0, len(order), self.batch_size):
            index = order[start:start + self.batch_size]
            logits = self.session.run(["logits"], self.feed([encodings[i] for i in index], lengths[index].max()))[0]
            probs[index] = softmax(logits)[:, self._columns]
        return probs

    def labels(self, probs: np.ndarray) -> np.ndarray:
        return labels(probs)

    def feed(self, encodings: list, width: int) -> dict[str, np.ndarray]:
        """Session inputs for tokenizer encodings, right-padded to `width` tokens."""
        input_ids = np.full((len(encodings), width), self._pad_id, dtype=np.int64)
        attention_mask = np.zeros((len(encodings), width), dtype=np.int64)
        token_type_ids = np.zeros((len(encodings), width), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            n = len(encoding.ids)
            input_ids[row, :n] = encoding.ids
            attention_mask[row, :n] = 1
            token_type_ids[row, :n] = encoding.type_ids
        feed = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
        return {name: feed[name] for name in self.input_names}


def labels(probs: np.ndarray) -> np.ndarray:
    """Label names of the argmax of probabilities in SENTIMENT_LABELS column order."""
    return np.asarray(SENTIMENT_LABELS, dtype=object)[np.asarray(probs).argmax(axis=1)]


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def _existing(path: Path) -> Path:
    if not path.is_file():
        raise FileNotFoundError(f"sentiment model file {str(path)!r} is missing; export it with onnx_export.export_onnx")
    return path
