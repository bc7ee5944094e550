"""Export the offline sentence encoder (all-MiniLM-L6-v2) to ONNX with pooling inside, fuse, quantize to int8.

The same pipeline as `models.finbert.onnx_export` (TorchScript exporter with eager
attention, ONNX Runtime's BERT fusion, dynamic int8 with per-channel weights),
around a graph that returns what sentence-transformers returns for this model:
the attention-masked mean of the last hidden states, L2-normalised.
`parity` compares the int8 graph, through `OnnxTweetEncoder`, with torch.
"""

from __future__ import annotations

import json
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
import torch
from onnxruntime.quantization import QuantType, quantize_dynamic
from onnxruntime.transformers.optimizer import optimize_model
from torch import nn

from finpulse_assets.models.embeddings.encoder import FP32_FILE, INT8_FILE, METADATA_FILE, OUTPUT_NAME, OnnxTweetEncoder
from finpulse_assets.models.ort_options import without_preprocessing_advice

OPSET = 17
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_DUMMY_TEXTS = ["$AAPL beats estimates and guidance looks strong", "$TSLA falls"]


class MeanPooledEncoder(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, token_type_ids):
        states = self.model(input_ids=input_ids, attention_mask=attention_mask,
                            token_type_ids=token_type_ids).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(states.dtype)
        pooled = (states * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        return nn.functional.normalize(pooled, p=2.0, dim=-1)


def load_encoder(model_dir: str | Path):
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager", dtype="float32")
    return MeanPooledEncoder(model).eval(), AutoTokenizer.from_pretrained(str(model_dir))


def torch_embeddings(encoder: MeanPooledEncoder, tokenizer, texts: Sequence[str], max_length: int,
                     batch_size: int = 64) -> np.ndarray:
    out = []
    encoder.eval()  # torch.onnx.export restores the mode a module had; dropout must stay off here
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(list(texts[start:start + batch_size]), padding=True, truncation=True,
                              max_length=max_length, return_tensors="pt")
            out.append(encoder(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"]).numpy())
    return np.concatenate(out) if out else np.zeros((0, encoder.model.config.hidden_size), np.float32)


def export_encoder(encoder: MeanPooledEncoder, tokenizer, out_dir: str | Path, max_length: int = 64) -> dict:
    """encoder.onnx (fp32, fused), encoder.int8.onnx, tokenizer files and embedding_onnx.json in `out_dir`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    config = encoder.model.config
    dummy = tokenizer(_DUMMY_TEXTS, padding=True, return_tensors="pt")
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.onnx"
        with torch.no_grad(), warnings.catch_warnings():
            # The legacy exporter's deprecation notice and the tracer's frozen mask-padding branch (see
            # models.finbert.onnx_export); both harmless for an encoder whose key length is its mask length.
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.filterwarnings("ignore", message="Exporting aten::index operator")  # no negative indices
            torch.onnx.export(encoder, tuple(dummy[n] for n in INPUTS), str(raw), dynamo=False,
                              input_names=list(INPUTS), output_names=[OUTPUT_NAME], opset_version=OPSET,
                              dynamic_axes={**{n: {0: "batch", 1: "sequence"} for n in INPUTS},
                                            OUTPUT_NAME: {0: "batch"}})
        optimized = optimize_model(str(raw), model_type="bert", num_heads=config.num_attention_heads,
                                   hidden_size=config.hidden_size, opt_level=0)
        optimized.save_model_to_file(str(out / FP32_FILE))
    with without_preprocessing_advice():
        quantize_dynamic(out / FP32_FILE, out / INT8_FILE, weight_type=QuantType.QInt8, per_channel=True,
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    tokenizer.save_pretrained(out)
    metadata = {"dim": int(config.hidden_size), "max_length": int(max_length),
                "pad_token_id": int(tokenizer.pad_token_id), "input_names": list(INPUTS),
                "files": {"fp32": FP32_FILE, "int8": INT8_FILE}, "pooling": "attention-masked mean, L2-normalised",
                "fused_operators": {k: int(v) for k, v in optimized.get_fused_operator_statistics().items() if v}}
    (out / METADATA_FILE).write_text(json.dumps(metadata, indent=2))
    return metadata


def parity(encoder: MeanPooledEncoder, tokenizer, onnx_dir: str | Path, texts: Sequence[str],
           model_file: str = INT8_FILE) -> dict:
    """Cosine similarity of ONNX (through OnnxTweetEncoder) and torch embeddings of `texts`: mean and minimum."""
    onnx_encoder = OnnxTweetEncoder(onnx_dir, model_file=model_file)
    reference = torch_embeddings(encoder, tokenizer, texts, int(json.loads(
        (Path(onnx_dir) / METADATA_FILE).read_text())["max_length"]))
    served = onnx_encoder.embed(texts)
    cosine = np.sum(reference * served, axis=1) / (np.linalg.norm(reference, axis=1) * np.linalg.norm(served, axis=1))
    return {"n": len(texts), "mean_cosine": float(cosine.mean()) if len(texts) else 1.0,
            "min_cosine": float(cosine.min()) if len(texts) else 1.0, "file": model_file}
