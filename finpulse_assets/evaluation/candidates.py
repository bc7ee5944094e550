"""The variants compared and the model choices each one may make on the dev split.

A variant fixes the network (LSTM or attentive LSTM) and which inputs it sees
(price only, + VADER, + FinBERT sentiment, + tweet embeddings); a candidate is
one choice of window, layout (one model across tickers or one per ticker),
sentiment aggregation, embedding components and network hyper-parameters,
made by the dev-split search (`evaluation.search`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from finpulse_assets.features.market_context import MARKET_COLUMNS, TWEET_SURPRISE_COLUMNS
from finpulse_assets.features.training_set import SENTIMENT_SETS, model_feature_columns

MAJORITY, RANDOM_WALK = "majority_class", "random_walk"
PRICE_ONLY, VADER, FINBERT = "lstm_price_only", "lstm_vader", "lstm_finbert"
EMBEDDINGS = "lstm_finbert_embeddings"
ALSTM_PRICE_ONLY, ALSTM_FINBERT, ALSTM_EMBEDDINGS = "alstm_price_only", "alstm_finbert", "alstm_finbert_embeddings"
# With market context (`features.market_context`): market, sector, beta, residual and co-movement peers'
# returns; with text also the tweet volume and sentiment surprises.
PRICE_MARKET, FINBERT_MARKET, VADER_MARKET = "lstm_price_market", "lstm_finbert_market", "lstm_vader_market"

# Daily text components: the day's mean tweet embedding projected on principal axes fitted on the
# train split (`evaluation.text_features`); a candidate takes the first `embeddings` of them.
EMBEDDING_PREFIX = "text_pc_"


def embedding_columns(n: int) -> list[str]:
    return [f"{EMBEDDING_PREFIX}{i:02d}" for i in range(n)]


@dataclass(frozen=True)
class Variant:
    name: str
    architecture: str   # "lstm" or "alstm"
    text: str           # "none", "vader", "finbert" or "embeddings" (FinBERT sentiment + embeddings)
    finpulse: bool      # one of the project's own models (FinBERT text), eligible as the headline model
    market: bool = False  # cross-sectional market context as inputs

    @property
    def sentiment_sets(self) -> tuple[str, ...]:
        return ("none",) if self.text == "none" else ("all", "mean_and_count")


VARIANTS = {v.name: v for v in [
    Variant(PRICE_ONLY, "lstm", "none", False),
    Variant(VADER, "lstm", "vader", False),
    Variant(FINBERT, "lstm", "finbert", True),
    Variant(EMBEDDINGS, "lstm", "embeddings", True),
    Variant(ALSTM_PRICE_ONLY, "alstm", "none", False),
    Variant(ALSTM_FINBERT, "alstm", "finbert", True),
    Variant(ALSTM_EMBEDDINGS, "alstm", "embeddings", True),
    Variant(PRICE_MARKET, "lstm", "none", False, market=True),
    Variant(FINBERT_MARKET, "lstm", "finbert", True, market=True),
    Variant(VADER_MARKET, "lstm", "vader", False, market=True),
]}
# Walk-forward only: in each fold the FinBERT variant that fold's dev window chose (`walk_forward`).
CHOSEN_PER_FOLD = "finpulse_chosen_per_fold"
VARIANT_ORDER = (MAJORITY, RANDOM_WALK, *VARIANTS, CHOSEN_PER_FOLD)
# The ablations the report states as paired differences (first minus second), same resampled test days.
ABLATIONS = [
    ("+ FinBERT sentiment (LSTM)", FINBERT, PRICE_ONLY),
    ("+ VADER sentiment (LSTM)", VADER, PRICE_ONLY),
    ("+ tweet embeddings (LSTM)", EMBEDDINGS, FINBERT),
    ("+ FinBERT sentiment (ALSTM)", ALSTM_FINBERT, ALSTM_PRICE_ONLY),
    ("+ tweet embeddings (ALSTM)", ALSTM_EMBEDDINGS, ALSTM_FINBERT),
    ("attention vs LSTM, price only", ALSTM_PRICE_ONLY, PRICE_ONLY),
    ("attention vs LSTM, + FinBERT", ALSTM_FINBERT, FINBERT),
    ("attention vs LSTM, + embeddings", ALSTM_EMBEDDINGS, EMBEDDINGS),
    ("+ market context (LSTM, price)", PRICE_MARKET, PRICE_ONLY),
    ("+ market context (LSTM, + FinBERT)", FINBERT_MARKET, FINBERT),
    ("+ FinBERT text (LSTM, with market context)", FINBERT_MARKET, PRICE_MARKET),
    ("+ market context (LSTM, + VADER)", VADER_MARKET, VADER),
    ("+ VADER text (LSTM, with market context)", VADER_MARKET, PRICE_MARKET),
]


def variant(name: str) -> Variant:
    if name not in VARIANTS:
        raise ValueError(f"unknown model variant {name!r}: expected one of {tuple(VARIANTS)}")
    return VARIANTS[name]


@dataclass(frozen=True)
class Candidate:
    window: int
    layout: str
    sentiment: str = "none"  # a SENTIMENT_SETS key
    embeddings: int = 0      # text components used (0: none)
    architecture: str = "lstm"
    hidden_size: int = 32
    lr: float = 1e-3
    dropout: float = 0.1
    weight_decay: float = 1e-4
    adversarial_epsilon: float = 0.0
    adversarial_beta: float = 0.0
    market: bool = False     # MARKET_COLUMNS (and, with text, TWEET_SURPRISE_COLUMNS) as inputs

    def __post_init__(self):
        if self.sentiment not in SENTIMENT_SETS:
            raise ValueError(f"unknown sentiment aggregation {self.sentiment!r}: expected one of {sorted(SENTIMENT_SETS)}")

    @property
    def feature_columns(self) -> list[str]:
        context = (MARKET_COLUMNS + (TWEET_SURPRISE_COLUMNS if self.sentiment != "none" else [])) \
            if self.market else []
        return model_feature_columns(self.sentiment) + context + embedding_columns(self.embeddings)

    def param_overrides(self) -> dict:
        """The LSTMConfigParams fields this candidate sets."""
        return {k: v for k, v in asdict(self).items() if k not in ("layout", "sentiment", "embeddings", "market")}

    def as_dict(self) -> dict:
        return asdict(self)
