"""A BERT-family ONNX model over texts, run with onnxruntime + tokenizers only (no torch, no transformers).

The sentiment scorer and the tweet encoder share this serving path: texts are
tokenized once, sorted by token count, and each batch is padded only to its own
longest text, so short tweets do not pay for long ones; repeated texts (retweets,
copy-pasted promotions: about 14 % of real tweets) run once. Rows come back in
input order. The serving image has only onnxruntime, numpy and tokenizers, so
this module imports nothing else (but the stdlib-only cpu_share).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from finpulse_assets.runs.cpu_share import process_threads
from finpulse_assets.models.ort_options import session_options as quiet_session_options

TOKENIZER_FILE = "tokenizer.json"


class OnnxTextModel:
    """Loads `<model_dir>/<metadata_file>` (max_length, pad_token_id, files.int8), the ONNX file and tokenizer.json."""

    kind = "text model"
    export_hint = "export it first"

    def __init__(self, model_dir: str | Path, metadata_file: str, model_file: str | None, batch_size: int,
                 intra_op_num_threads: int = 0) -> None:
        """`model_file` defaults to the int8 model; intra_op_num_threads=0: the CPUs this process may use, or a
        ticker-run worker's share of them (cpu_share.process_threads)."""
        directory = Path(model_dir)
        self.metadata_path = self._existing(directory / metadata_file)
        self.metadata = json.loads(self.metadata_path.read_text())
        self.max_length = int(self.metadata["max_length"])
        self.batch_size = batch_size
        self._pad_id = int(self.metadata["pad_token_id"])
        self.model_path = self._existing(directory / (model_file or self.metadata["files"]["int8"]))
        options = quiet_session_options()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = intra_op_num_threads or process_threads()
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(self.model_path), sess_options=options,
                                            providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.tokenizer = Tokenizer.from_file(str(self._existing(directory / TOKENIZER_FILE)))
        # tokenizer.json files often carry fixed-length padding; padding is done per batch below.
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(self.max_length)

    def _existing(self, path: Path) -> Path:
        if not path.is_file():
            raise FileNotFoundError(f"{self.kind} file {str(path)!r} is missing; {self.export_hint}")
        return path

    def run_texts(self, texts: Sequence[str], width: int, output: str,
                  transform: Callable[[np.ndarray], np.ndarray] = lambda rows: rows, dedupe: bool = True) -> np.ndarray:
        """[len(texts), width] float32: `transform` of the model's `output` for each text, in input order."""
        if not len(texts):
            return np.zeros((0, width), dtype=np.float32)
        if not dedupe:
            return self._run_distinct(list(texts), width, output, transform)
        distinct, inverse = np.unique(np.asarray(texts, dtype=object), return_inverse=True)
        return self._run_distinct(distinct.tolist(), width, output, transform)[inverse.reshape(-1)]

    def _run_distinct(self, texts: list[str], width: int, output: str, transform) -> np.ndarray:
        out = np.zeros((len(texts), width), dtype=np.float32)
        encodings = self.tokenizer.encode_batch(texts)
        lengths = np.array([len(e.ids) for e in encodings])
        order = np.argsort(lengths, kind="stable")
        for start in range(0, len(order), self.batch_size):
            index = order[start:start + self.batch_size]
            rows = self.session.run([output], self.feed([encodings[i] for i in index], int(lengths[index].max())))[0]
            out[index] = transform(rows)
        return out

    def feed(self, encodings: list, width: int) -> dict[str, np.ndarray]:
        """Session inputs for tokenizer encodings, right-padded to `width` tokens."""
        input_ids = np.full((len(encodings), width), self._pad_id, dtype=np.int64)
        attention_mask = np.zeros((len(encodings), width), dtype=np.int64)
        token_type_ids = np.zeros((len(encodings), width), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            n = len(encoding.ids)
            input_ids[row, :n], attention_mask[row, :n], token_type_ids[row, :n] = encoding.ids, 1, encoding.type_ids
        feed = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
        return {name: feed[name] for name in self.input_names}
