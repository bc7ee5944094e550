"""The two model directories the bento ships, and the JSON manifest in each.

`finpulse-forecaster`: per LSTM model (`pooled/` or `<TICKER>/`) its config.json
and the kept ONNX file, plus forecaster.json (version, window, feature
columns, which file each model serves, the tickers served).
`finpulse-sentiment`: the int8 ONNX model, tokenizer.json, sentiment_onnx.json
(what OnnxSentimentScorer reads) and sentiment.json.

Only serving files are copied: no safetensors, no fp32 FinBERT, no pickle.
Each file's sha256 is checked against what the model asset recorded before it
is copied, and recorded in the manifest; reading a bundle (the service at start)
verifies every file against the manifest and refuses a mismatch.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path

from finpulse_assets.models.finbert.scoring import METADATA_FILE, TOKENIZER_FILE
from finpulse_assets.models.integrity import file_hashes, verify_files
from finpulse_assets.models.lstm.forecast import POOLED_KEY, verify_export
from finpulse_assets.models.lstm.serving import CONFIG_FILE

FORECASTER_MODEL = "finpulse-forecaster"
SENTIMENT_MODEL = "finpulse-sentiment"
FORECASTER_MANIFEST = "forecaster.json"
SENTIMENT_MANIFEST = "sentiment.json"
BUNDLE_FORMAT_VERSION = 2  # 2: every file's sha256 in the manifest


def _sub_dir(key: str) -> str:
    return "pooled" if key == POOLED_KEY else key


def stage_forecaster(lstm_onnx: Mapping, tickers: Iterable[str], out: Path) -> dict:
    """Copy the serving files of an `lstm_onnx` export into `out`; returns the manifest written there.

    `tickers`: what a pooled model serves (the tickers it was trained on); per-ticker models serve their own.
    """
    verify_export(lstm_onnx)
    models = {}
    for key, spec in lstm_onnx["models"].items():
        target = out / _sub_dir(key)
        target.mkdir(parents=True, exist_ok=True)
        for name in (CONFIG_FILE, spec["onnx_file"]):
            shutil.copy2(Path(spec["dir"]) / name, target / name)
        models[key] = {"subdir": _sub_dir(key), "onnx_file": spec["onnx_file"], "variant": spec["variant"]}
    served = sorted(set(tickers)) if POOLED_KEY in models else sorted(models)
    if not served:
        raise ValueError("stage_forecaster: no tickers to serve")
    manifest = {"format_version": BUNDLE_FORMAT_VERSION, "version": lstm_onnx["version"],
                "mode": lstm_onnx.get("mode"), "window": int(lstm_onnx["window"]),
                "feature_columns": list(lstm_onnx["feature_columns"]), "models": models, "tickers": served,
                "parity": dict(lstm_onnx["parity"]), "registry": dict(lstm_onnx["registry"]),
                "sha256": file_hashes(out),
                "chosen_by": dict(lstm_onnx.get("chosen_by") or {})}  # the evaluation that chose it, if any
    if lstm_onnx.get("direction_scales"):
        from finpulse_assets.models.lstm.direction import METHOD

        manifest["direction"] = {"method": METHOD, "scales": dict(lstm_onnx["direction_scales"])}
    (out / FORECASTER_MANIFEST).write_text(json.dumps(manifest, indent=2))
    return manifest


def stage_sentiment(finbert_onnx: Mapping, out: Path) -> dict:
    """Copy the int8 model, tokenizer and scorer metadata of a `finbert_onnx` export into `out`."""
    source = Path(finbert_onnx["onnx_dir"])
    files = [finbert_onnx["int8_file"], TOKENIZER_FILE, METADATA_FILE]
    verify_files(source, finbert_onnx.get("sha256"), files, what=f"finbert_onnx {finbert_onnx['version']}")
    out.mkdir(parents=True, exist_ok=True)
    for name in files:
        shutil.copy2(source / name, out / name)
    manifest = {"format_version": BUNDLE_FORMAT_VERSION, "version": finbert_onnx["version"],
                "int8_file": finbert_onnx["int8_file"], "parity": dict(finbert_onnx["parity"]),
                "registry": dict(finbert_onnx["registry"]), "sha256": file_hashes(out)}
    (out / SENTIMENT_MANIFEST).write_text(json.dumps(manifest, indent=2))
    return manifest


def _manifest(path: Path) -> dict:
    """The manifest, after every file it lists has been verified against its recorded sha256."""
    if not path.is_file():
        raise FileNotFoundError(f"model bundle manifest {str(path)!r} is missing")
    manifest = json.loads(path.read_text())
    if manifest.get("format_version") != BUNDLE_FORMAT_VERSION:
        raise ValueError(f"{path}: unsupported format_version {manifest.get('format_version')!r} (expected "
                         f"{BUNDLE_FORMAT_VERSION}: build the bento again)")
    verify_files(path.parent, manifest.get("sha256"), what=f"model bundle {manifest.get('version')}")
    return manifest


def read_forecaster(model_dir: str | Path) -> dict:
    """The manifest with each model's absolute `dir`: the `lstm_onnx` shape ForecastModels takes."""
    model_dir = Path(model_dir)
    manifest = _manifest(model_dir / FORECASTER_MANIFEST)
    for spec in manifest["models"].values():
        spec["dir"] = str(model_dir / spec["subdir"])
    return manifest


def read_sentiment(model_dir: str | Path) -> dict:
    return _manifest(Path(model_dir) / SENTIMENT_MANIFEST)
