"""Fine-tune a three-label sentiment classifier on VADER labels, and evaluate it.

Input is a `vader_labels` frame (at least text, label, trading_day). The split
is by time: the last `val_fraction_days` of the trading days validate and every
earlier day trains, so the held-out figures never see the future. Metrics
measure agreement with VADER on those held-out days (VADER is the only label
FinPulse has; agreement is not accuracy against human sentiment).

Label names and order come from `model.config.id2label` only.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from finpulse_assets.models.finbert.base_model import load_classifier
from finpulse_assets.models.finbert.labels import SENTIMENT_LABELS, normalise_id2label
from finpulse_assets.models import training_progress

PARAMS_FILE = "finetune_params.json"
REQUIRED_COLUMNS = ("text", "label", "trading_day")


@dataclass(frozen=True)
class FinetuneParams:
    epochs: int = 1
    batch_size: int = 32
    lr: float = 5e-5
    max_length: int = 64
    seed: int = 13
    # Fraction of the distinct trading days, the latest ones, held out for validation.
    val_fraction_days: float = 0.2
    # Cap on training examples after deduplication; None trains on all of them.
    max_train_tweets: int | None = None
    weight_decay: float = 0.01
    warmup_fraction: float = 0.1
    max_grad_norm: float = 1.0
    eval_batch_size: int = 128
    # Evaluate the base model as it is (e.g. a real FinBERT checkpoint) without training.
    no_finetune: bool = False


def finetune(base: str | Path | tuple[PreTrainedModel, PreTrainedTokenizerBase], frame: pd.DataFrame,
             params: FinetuneParams, out_dir: str | Path) -> dict:
    """Train on the earlier days, evaluate on the later ones, save to `out_dir`; returns the metrics.

    `base` is a base model spec/directory (see base_model.py) or an already loaded (model, tokenizer),
    which is then trained in place. With params.no_finetune the base model is only evaluated and saved.
    """
    _check_frame(frame)
    train, val = time_split(frame, params.val_fraction_days)
    rows_before_dedupe = len(train)
    # VADER labels are a function of the text, so a repeated text (retweets,
    # promotions) adds no information, only training time.
    train = train.drop_duplicates("text", keep="first")
    rows_after_dedupe = len(train)
    train = time_stratified_sample(train, params.max_train_tweets, params.seed)

    # fork_rng: seeding must not change the caller's global random stream. CPU kernels are deterministic
    # for a given thread count, so the same seed and data give bit-identical weights (a test checks it).
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(params.seed)
        # Seeded before loading: a freshly initialised head draws from this stream.
        model, tokenizer = load_classifier(base) if isinstance(base, (str, Path)) else base
        label2id = {name: i for i, name in normalise_id2label(model.config.id2label).items()}
        weights = class_weights(train["label"], label2id)
        started = time.perf_counter()
        if not params.no_finetune:
            _train(model, tokenizer, train, label2id, weights, params)
        train_seconds = time.perf_counter() - started
    model.eval()

    started = time.perf_counter()
    probs = predict_proba(model, tokenizer, val["text"].tolist(), params.max_length, params.eval_batch_size)
    eval_seconds = time.perf_counter() - started
    id2label = normalise_id2label(model.config.id2label)
    predicted = np.array([id2label[i] for i in probs.argmax(axis=1)])
    metrics = agreement_metrics(val["label"].to_numpy(), predicted)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # transformers 5 writes model.safetensors only (no pickle-based format remains).
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / PARAMS_FILE).write_text(json.dumps(asdict(params), indent=2))

    days = frame["trading_day"]
    metrics.update({
        "no_finetune": params.no_finetune,
        "train_size": len(train), "train_rows_before_dedupe": rows_before_dedupe,
        "train_rows_after_dedupe": rows_after_dedupe, "val_size": len(val),
        "train_days": int(train["trading_day"].nunique()), "val_days": int(val["trading_day"].nunique()),
        "last_train_day": str(pd.Timestamp(train["trading_day"].max()).date()),
        "first_val_day": str(pd.Timestamp(val["trading_day"].min()).date()),
        "all_days": int(days.nunique()),
        "label_distribution": {"train": _distribution(train["label"]), "val": _distribution(val["label"])},
        "class_weights": {name: round(float(weights[i]), 4) for name, i in label2id.items()},
        "id2label": {int(i): n for i, n in id2label.items()},
        "train_seconds": round(train_seconds, 2), "eval_seconds": round(eval_seconds, 2),
        "model_dir": str(out),
    })
    return metrics


def load_finetuned(out_dir: str | Path) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """(model in eval mode, tokenizer) saved by `finetune`; the head and its id2label are kept as saved."""
    return load_classifier(Path(out_dir))


def time_split(frame: pd.DataFrame, val_fraction_days: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, val): val holds the latest whole trading days, at least one; train at least one day."""
    days = np.sort(pd.to_datetime(frame["trading_day"]).unique())
    if len(days) < 2:
        raise ValueError(f"a time-ordered split needs at least 2 trading days, got {len(days)}")
    n_val = min(max(1, round(len(days) * val_fraction_days)), len(days) - 1)
    first_val_day = days[len(days) - n_val]
    is_val = pd.to_datetime(frame["trading_day"]).to_numpy() >= first_val_day
    order = ["trading_day"] + (["tweet_id"] if "tweet_id" in frame else [])
    return (frame[~is_val].sort_values(order, kind="stable"),
            frame[is_val].sort_values(order, kind="stable"))


def time_stratified_sample(frame: pd.DataFrame, cap: int | None, seed: int) -> pd.DataFrame:
    """At most `cap` rows spread evenly over time: each day keeps its share, random (seeded) within the day."""
    if cap is None or len(frame) <= cap:
        return frame
    shuffle_key = np.random.default_rng(seed).random(len(frame))
    ordered = frame.assign(_key=shuffle_key).sort_values(["trading_day", "_key"], kind="stable")
    positions = np.unique(np.linspace(0, len(ordered) - 1, cap).round().astype(int))
    return ordered.iloc[positions].drop(columns="_key")


def class_weights(labels: pd.Series, label2id: dict[str, int]) -> np.ndarray:
    """Inverse-frequency weights n / (k * n_c), indexed by model label id; 1.0 for a class absent from training."""
    counts = labels.value_counts()
    weights = np.ones(len(label2id), dtype=np.float32)
    for name, i in label2id.items():
        if counts.get(name, 0) > 0:
            weights[i] = len(labels) / (len(label2id) * counts[name])
    return weights


def predict_proba(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, texts: Sequence[str],
                  max_length: int, batch_size: int = 128) -> np.ndarray:
    """Softmax probabilities [n, num_labels] in the model's own id order, input order kept.

    Batches are sorted by token length so each pads only to its own longest text.
    """
    lengths = [len(ids) for ids in tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]]
    order = np.argsort(lengths, kind="stable")
    probs = np.zeros((len(texts), model.config.num_labels), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            index = order[start:start + batch_size]
            batch = tokenizer([texts[i] for i in index], padding=True, truncation=True, max_length=max_length,
                              return_tensors="pt")
            probs[index] = torch.softmax(model(**batch).logits, dim=-1).numpy()
    return probs


def agreement_metrics(expected: np.ndarray, predicted: np.ndarray) -> dict:
    """Accuracy, macro-F1 and the confusion matrix (rows VADER, columns model) in SENTIMENT_LABELS order.

    Macro-F1 averages over the labels present in either array (a label nobody used has no F1).
    """
    labels = list(SENTIMENT_LABELS)
    index = {name: i for i, name in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels)), dtype=np.int64)
    np.add.at(matrix, ([index[x] for x in expected], [index[x] for x in predicted]), 1)
    f1s = []
    for i in range(len(labels)):
        true_pos, support, predicted_count = matrix[i, i], matrix[i].sum(), matrix[:, i].sum()
        if support + predicted_count:
            f1s.append(2 * true_pos / (support + predicted_count))
    confusion = pd.DataFrame(matrix, index=[f"vader_{x}" for x in labels], columns=[f"model_{x}" for x in labels])
    total = int(matrix.sum())
    return {
        "accuracy": float(np.trace(matrix) / total) if total else math.nan,
        "macro_f1": float(np.mean(f1s)) if f1s else math.nan,
        "confusion_matrix": confusion,
        "confusion_matrix_markdown": confusion.to_markdown(),
    }


def _train(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, train: pd.DataFrame,
           label2id: dict[str, int], weights: np.ndarray, params: FinetuneParams) -> None:
    texts = train["text"].tolist()
    targets = torch.tensor([label2id[x] for x in train["label"]], dtype=torch.long)
    loss_weights = torch.from_numpy(weights)
    steps_per_epoch = math.ceil(len(texts) / params.batch_size)
    total_steps = max(1, steps_per_epoch * params.epochs)
    warmup_steps = int(total_steps * params.warmup_fraction)
    optimizer = torch.optim.AdamW(_parameter_groups(model, params.weight_decay), lr=params.lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: _linear_schedule(step, warmup_steps,
                                                                                        total_steps))
    lengths = torch.tensor([len(ids) for ids in tokenizer(texts, truncation=True,
                                                          max_length=params.max_length)["input_ids"]])
    generator = torch.Generator().manual_seed(params.seed)
    model.train()
    for epoch in range(1, params.epochs + 1):
        batches = _length_bucketed_batches(lengths, params.batch_size, generator)
        for step, batch_index in enumerate(batches, 1):
            batch = tokenizer([texts[i] for i in batch_index], padding=True, truncation=True,
                              max_length=params.max_length, return_tensors="pt")
            logits = model(**batch).logits
            loss = F.cross_entropy(logits, targets[batch_index], weight=loss_weights)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), params.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            training_progress.report(epoch, params.epochs, step, len(batches))
    model.eval()


def _length_bucketed_batches(lengths: torch.Tensor, batch_size: int, generator: torch.Generator) -> list:
    """Shuffled batches of similar token length: less padding per batch, still random order and content.

    Shuffle, sort by length within windows of 50 batches, cut into batches, shuffle the batches.
    """
    window = 50 * batch_size
    shuffled = torch.randperm(len(lengths), generator=generator)
    batches = []
    for chunk in shuffled.split(window):
        by_length = chunk[torch.argsort(lengths[chunk], stable=True)]
        batches.extend(by_length.split(batch_size))
    return [batches[i] for i in torch.randperm(len(batches), generator=generator)]


def _parameter_groups(model: PreTrainedModel, weight_decay: float) -> list[dict]:
    # Decaying biases and LayerNorm gains only shrinks them toward 0, which hurts BERT fine-tuning.
    decay, no_decay = [], []
    for parameter in model.parameters():
        if parameter.requires_grad:
            (no_decay if parameter.ndim < 2 else decay).append(parameter)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _linear_schedule(step: int, warmup_steps: int, total_steps: int) -> float:
    if step < warmup_steps:
        return (step + 1) / (warmup_steps + 1)
    return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))


def _distribution(labels: pd.Series) -> dict[str, int]:
    counts = labels.value_counts()
    return {name: int(counts.get(name, 0)) for name in SENTIMENT_LABELS}


def _check_frame(frame: pd.DataFrame) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in frame]
    if missing:
        raise ValueError(f"training frame lacks columns {missing}; expected a vader_labels frame")
    unknown = sorted(set(frame["label"]) - set(SENTIMENT_LABELS))
    if unknown:
        raise ValueError(f"training frame has labels {unknown} outside {list(SENTIMENT_LABELS)}")
