"""A tiny local BERT and small labelled frames, for tests and benchmarks (offline, seconds to train).

The tiny model has the bundled MiniLM tokenizer and vocabulary but 2 layers of
width 32, so training and export take about a second each; nothing touches the
network or the real data.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

POSITIVE_WORDS = ["great", "soaring", "beats", "bullish", "strong", "record", "upgrade"]
NEGATIVE_WORDS = ["terrible", "awful", "crash", "bearish", "weak", "lawsuit", "downgrade"]
NEUTRAL_WORDS = ["trades", "today", "volume", "shares", "listed", "session", "chart"]
FILLER = ["on", "the", "desk", "this", "morning", "after", "open", "report", "and", "news"]


def build_tiny_model(directory: Path, id2label: dict[int, str] | None = None, seed: int = 0) -> Path:
    """Save an untrained 2-layer BERT sequence classifier with the bundled tokenizer into `directory`."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from finpulse_assets.models.finbert.base_model import offline_default_dir
    from finpulse_assets.models.finbert.labels import FINBERT_ID2LABEL

    tokenizer = AutoTokenizer.from_pretrained(str(offline_default_dir()))
    id2label = id2label or FINBERT_ID2LABEL
    config = BertConfig(num_hidden_layers=2, hidden_size=32, num_attention_heads=2, intermediate_size=64,
                        vocab_size=len(tokenizer), max_position_embeddings=128, num_labels=3, id2label=id2label,
                        label2id={v: k for k, v in id2label.items()},
                        architectures=["BertForSequenceClassification"])
    torch.manual_seed(seed)
    model = BertForSequenceClassification(config)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def labelled_frame(n_days: int = 10, per_day: int = 12, seed: int = 0) -> pd.DataFrame:
    """A vader_labels-shaped frame whose label is decided by its sentiment word; some texts repeat."""
    rng = np.random.default_rng(seed)
    words = {"positive": POSITIVE_WORDS, "negative": NEGATIVE_WORDS, "neutral": NEUTRAL_WORDS}
    rows = []
    days = pd.bdate_range("2024-03-01", periods=n_days)
    for d, day in enumerate(days):
        for k in range(per_day):
            label = ["positive", "negative", "neutral", "neutral"][k % 4]
            filler = " ".join(rng.choice(FILLER, size=int(rng.integers(0, 8))))
            text = f"$AAA {rng.choice(words[label])} {filler}".strip()
            rows.append({"tweet_id": f"{d:03d}{k:03d}", "ticker": "AAA", "trading_day": day, "text": text,
                         "compound": 0.0, "pos": 0.0, "neu": 1.0, "neg": 0.0, "label": label})
    frame = pd.DataFrame(rows)
    # A retweeted text on several days: deduplication must train on it once.
    frame.loc[frame.index % 25 == 0, "text"] = "$AAA great record quarter"
    frame.loc[frame.index % 25 == 0, "label"] = "positive"
    return frame


def sample_texts() -> list[str]:
    """Texts of very different token lengths, for scoring and parity checks."""
    rng = np.random.default_rng(7)
    texts = []
    for i in range(40):
        word = (POSITIVE_WORDS + NEGATIVE_WORDS + NEUTRAL_WORDS)[i % 21]
        texts.append(f"$AAA {word} " + " ".join(rng.choice(FILLER, size=int(rng.integers(0, 30)))))
    return texts + ["", "$AAA", "a " * 200]
