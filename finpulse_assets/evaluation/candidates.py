"""The variants compared and the model choices each one may make on the dev split.

A variant fixes which inputs a model sees (price only, price + VADER, price +
FinBERT); a candidate is one choice of window, layout (one model across tickers
or one per ticker) and sentiment aggregation (which daily sentiment columns).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

from finpulse_assets.features.price import FEATURE_COLUMNS
from finpulse_assets.sentiment.daily import SENTIMENT_FEATURE_COLUMNS

PRICE_ONLY, VADER, FINBERT = "lstm_price_only", "lstm_vader", "finpulse_lstm_finbert"
MAJORITY, RANDOM_WALK = "majority_class", "random_walk"
LSTM_VARIANTS = (PRICE_ONLY, VADER, FINBERT)
VARIANT_ORDER = (MAJORITY, RANDOM_WALK, PRICE_ONLY, VADER, FINBERT)
FINPULSE = FINBERT  # the project's own model: price + FinBERT sentiment

# Daily sentiment aggregations a sentiment variant may choose between.
SENTIMENT_SETS = {
    "none": [],
    "all": list(SENTIMENT_FEATURE_COLUMNS),
    "mean_and_count": ["sentiment_mean", "tweet_count"],
}


@dataclass(frozen=True)
class Candidate:
    window: int
    layout: str
    sentiment: str  # a SENTIMENT_SETS key

    @property
    def feature_columns(self) -> list[str]:
        return list(FEATURE_COLUMNS) + SENTIMENT_SETS[self.sentiment]

    def as_dict(self) -> dict:
        return {"window": self.window, "layout": self.layout, "sentiment": self.sentiment}


def candidates_for(variant: str, windows, layouts, sentiment_sets) -> list[Candidate]:
    if variant not in LSTM_VARIANTS:
        raise ValueError(f"unknown model variant {variant!r}: expected one of {LSTM_VARIANTS}")
    unknown = sorted(set(sentiment_sets) - set(SENTIMENT_SETS))
    if unknown:
        raise ValueError(f"unknown sentiment aggregations {unknown}: expected some of {sorted(SENTIMENT_SETS)}")
    sets = ["none"] if variant == PRICE_ONLY else [s for s in sentiment_sets if s != "none"]
    if not sets:
        raise ValueError(f"{variant} needs at least one sentiment aggregation other than 'none'")
    return [Candidate(w, layout, s) for w, layout, s in product(windows, layouts, sets)]
