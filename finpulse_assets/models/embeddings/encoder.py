"""Tweet embeddings from an exported int8 ONNX sentence encoder, without torch or transformers.

The same serving path as the sentiment scorer (`models.onnx_text`); the graph
already mean-pools the tokens and L2-normalises, so its output is the sentence
embedding.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from finpulse_assets.models.onnx_text import OnnxTextModel

FP32_FILE = "encoder.onnx"
INT8_FILE = "encoder.int8.onnx"
METADATA_FILE = "embedding_onnx.json"
OUTPUT_NAME = "embedding"


class OnnxTweetEncoder(OnnxTextModel):
    """Embeddings [n, dim] (float32, unit length) of texts, rows in input order."""

    kind = "embedding model"
    export_hint = "export it with models.embeddings.onnx_export.export_encoder"

    def __init__(self, model_dir: str | Path, model_file: str | None = None, batch_size: int = 32,
                 intra_op_num_threads: int = 0) -> None:
        super().__init__(model_dir, METADATA_FILE, model_file, batch_size, intra_op_num_threads)
        self.dim = int(self.metadata["dim"])

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self.run_texts(texts, self.dim, OUTPUT_NAME)
