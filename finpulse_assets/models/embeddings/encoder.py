"""Tweet embeddings from an exported int8 ONNX sentence encoder, without torch or transformers.

The same serving path as `models.finbert.scoring.OnnxSentimentScorer`
(onnxruntime + tokenizers, length-sorted batches padded to their own longest
text, repeated texts embedded once); the graph already mean-pools the tokens
and L2-normalises, so its output is the sentence embedding.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

FP32_FILE = "encoder.onnx"
INT8_FILE = "encoder.int8.onnx"
METADATA_FILE = "embedding_onnx.json"
TOKENIZER_FILE = "tokenizer.json"
OUTPUT_NAME = "embedding"


def _existing(path: Path) -> Path:
    if not path.is_file():
        raise FileNotFoundError(f"embedding model file {str(path)!r} is missing; export it with "
                                "models.embeddings.onnx_export.export_encoder")
    return path


class OnnxTweetEncoder:
    """Embeddings [n, dim] (float32, unit length) of texts, rows in input order."""

    def __init__(self, model_dir: str | Path, model_file: str | None = None, batch_size: int = 32,
                 intra_op_num_threads: int = 0) -> None:
        directory = Path(model_dir)
        metadata = json.loads(_existing(directory / METADATA_FILE).read_text())
        self.dim = int(metadata["dim"])
        self.batch_size = batch_size
        self._pad_id = int(metadata["pad_token_id"])
        self.model_path = _existing(directory / (model_file or metadata["files"]["int8"]))
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = intra_op_num_threads
        self.session = ort.InferenceSession(str(self.model_path), sess_options=options,
                                            providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.tokenizer = Tokenizer.from_file(str(_existing(directory / TOKENIZER_FILE)))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(int(metadata["max_length"]))

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not len(texts):
            return np.zeros((0, self.dim), dtype=np.float32)
        distinct, inverse = np.unique(np.asarray(texts, dtype=object), return_inverse=True)
        return self._embed_distinct(distinct.tolist())[inverse.reshape(-1)]

    def _embed_distinct(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        encodings = self.tokenizer.encode_batch(texts)
        lengths = np.array([len(e.ids) for e in encodings])
        order = np.argsort(lengths, kind="stable")
        for start in range(0, len(order), self.batch_size):
            index = order[start:start + self.batch_size]
            out[index] = self.session.run([OUTPUT_NAME], self._feed([encodings[i] for i in index],
                                                                    int(lengths[index].max())))[0]
        return out

    def _feed(self, encodings: list, width: int) -> dict[str, np.ndarray]:
        input_ids = np.full((len(encodings), width), self._pad_id, dtype=np.int64)
        attention_mask = np.zeros((len(encodings), width), dtype=np.int64)
        token_type_ids = np.zeros((len(encodings), width), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            n = len(encoding.ids)
            input_ids[row, :n], attention_mask[row, :n], token_type_ids[row, :n] = encoding.ids, 1, encoding.type_ids
        feed = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
        return {name: feed[name] for name in self.input_names}
