"""VADER scores and three-way labels, computed once per distinct text.

Retweets and copy-pasted promotions repeat the same text many times (about
14 % of the real tweets), so scoring each distinct text once is both exact
and faster than a plain loop.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

POSITIVE_THRESHOLD = 0.05
NEGATIVE_THRESHOLD = -0.05
SCORE_COLUMNS = ["compound", "pos", "neu", "neg"]

_analyzer: SentimentIntensityAnalyzer | None = None


def analyzer() -> SentimentIntensityAnalyzer:
    # Building the analyzer reads its lexicon files: do it once per process.
    global _analyzer
    if _analyzer is None:
        _analyzer = SentimentIntensityAnalyzer()
    return _analyzer


def label_from_compound(compound: np.ndarray) -> np.ndarray:
    return np.where(compound >= POSITIVE_THRESHOLD, "positive",
                    np.where(compound <= NEGATIVE_THRESHOLD, "negative", "neutral"))


def vader_scores(texts: pd.Series) -> pd.DataFrame:
    """compound/pos/neu/neg and label for each text, index aligned with `texts`."""
    codes, uniques = pd.factorize(texts.astype(str), sort=False)
    polarity = analyzer().polarity_scores
    table = np.array([[s["compound"], s["pos"], s["neu"], s["neg"]]
                      for s in map(polarity, uniques)], dtype=float).reshape(len(uniques), 4)
    scores = pd.DataFrame(table[codes] if len(codes) else np.empty((0, 4)), columns=SCORE_COLUMNS, index=texts.index)
    scores["label"] = label_from_compound(scores["compound"].to_numpy())
    return scores
