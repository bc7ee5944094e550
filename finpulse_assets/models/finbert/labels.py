"""The three sentiment labels, shared by training, export and the torch-free scorer."""

from __future__ import annotations

from collections.abc import Mapping

# Column order of every probability array FinPulse hands out (scorer output,
# p_positive/p_negative/p_neutral columns); a model's own order may differ.
SENTIMENT_LABELS: tuple[str, ...] = ("positive", "negative", "neutral")

# ProsusAI/finbert's head order, used when a new head is initialised so a
# fresh model and the production checkpoint agree.
FINBERT_ID2LABEL: dict[int, str] = {0: "positive", 1: "negative", 2: "neutral"}


def normalise_id2label(id2label: Mapping) -> dict[int, str]:
    """{int id: lower-case label}; keys arrive as strings from JSON configs."""
    return {int(i): str(name).lower() for i, name in id2label.items()}


def check_id2label(id2label: Mapping, where: str) -> dict[int, str]:
    """The normalised mapping, or ValueError naming `where` when it is not the three sentiment labels."""
    mapping = normalise_id2label(id2label)
    if sorted(mapping) != list(range(len(SENTIMENT_LABELS))) or set(mapping.values()) != set(SENTIMENT_LABELS):
        raise ValueError(f"{where}: id2label {dict(id2label)} is not a permutation of {list(SENTIMENT_LABELS)} "
                         f"over ids 0..{len(SENTIMENT_LABELS) - 1}")
    return mapping


def column_order(id2label: Mapping) -> list[int]:
    """Model output indices that put its columns in SENTIMENT_LABELS order."""
    label2id = {name: i for i, name in normalise_id2label(id2label).items()}
    return [label2id[name] for name in SENTIMENT_LABELS]
