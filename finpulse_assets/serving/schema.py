"""Request and response bodies of the service, validated by pydantic before any model runs.

BentoML validates a request body against these models before the API method
is called, so a bad request gets a 400 whose `detail` names the field (`loc`)
and the problem (`msg`), and never reaches an adaptive batch, where one bad
item would fail every request batched with it. Bounds that depend on the
loaded model (history length, served tickers) are read from `model_limits()`,
set once the service has loaded its models.

Size limits come from the environment (read at import, i.e. at server start):
FINPULSE_SERVE_MAX_ITEMS, FINPULSE_SERVE_MAX_HISTORY_DAYS,
FINPULSE_SERVE_MAX_TEXTS_PER_DAY, FINPULSE_SERVE_MAX_TEXT_CHARS,
FINPULSE_SERVE_MAX_SENTIMENT_TEXTS.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from typing import Annotated, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from finpulse_assets.market_calendar import closure_reason


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    value = int(raw)
    if value < 1:
        raise ValueError(f"{name}={raw!r}: must be a positive integer")
    return value


MAX_ITEMS = _env_int("FINPULSE_SERVE_MAX_ITEMS", 64)
MAX_HISTORY_DAYS = _env_int("FINPULSE_SERVE_MAX_HISTORY_DAYS", 260)
MAX_TEXTS_PER_DAY = _env_int("FINPULSE_SERVE_MAX_TEXTS_PER_DAY", 500)
MAX_TEXT_CHARS = _env_int("FINPULSE_SERVE_MAX_TEXT_CHARS", 1000)
MAX_SENTIMENT_TEXTS = _env_int("FINPULSE_SERVE_MAX_SENTIMENT_TEXTS", 256)

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TEXT_CHARS)]
Price = Annotated[float, Field(gt=0, allow_inf_nan=False)]


@dataclass(frozen=True)
class ModelLimits:
    """What the loaded forecaster can serve: how many bars a history needs, and for which tickers."""

    history_days: int
    tickers: frozenset[str]


_model_limits: ModelLimits | None = None


def set_model_limits(limits: ModelLimits) -> None:
    global _model_limits
    _model_limits = limits


def model_limits() -> ModelLimits:
    if _model_limits is None:
        raise RuntimeError("the service has not loaded its models yet")
    return _model_limits


class Bar(BaseModel):
    """One trading day of a history: its bar and, optionally, that day's tweets."""

    model_config = ConfigDict(extra="forbid")

    date: dt.date
    open: Price
    high: Price
    low: Price
    close: Price
    volume: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    adj_close: Optional[Price] = Field(default=None, description="Defaults to close.")
    texts: Optional[Annotated[list[Text], Field(max_length=MAX_TEXTS_PER_DAY)]] = Field(
        default=None, description="That day's tweets (posted after the previous close, up to this close).")

    @field_validator("date")
    @classmethod
    def _trading_day(cls, day: dt.date) -> dt.date:
        reason = closure_reason(day)
        if reason:
            raise ValueError(f"{day} is not a trading day ({reason})")
        return day

    @model_validator(mode="after")
    def _consistent_bar(self) -> "Bar":
        if self.high < max(self.open, self.close):
            raise ValueError(f"high {self.high} is below open {self.open} or close {self.close}")
        if self.low > min(self.open, self.close):
            raise ValueError(f"low {self.low} is above open {self.open} or close {self.close}")
        return self


class PredictItem(BaseModel):
    """One forecast request: a ticker and its daily history up to the last close, oldest first."""

    model_config = ConfigDict(extra="forbid")

    ticker: Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, min_length=1, max_length=12)]
    history: Annotated[list[Bar], Field(min_length=1, max_length=MAX_HISTORY_DAYS)]

    @field_validator("ticker")
    @classmethod
    def _served_ticker(cls, ticker: str) -> str:
        served = model_limits().tickers
        if ticker not in served:
            raise ValueError(f"unknown ticker {ticker!r}; this model serves {sorted(served)}")
        return ticker

    @field_validator("history")
    @classmethod
    def _ordered_and_long_enough(cls, history: list[Bar]) -> list[Bar]:
        for i in range(1, len(history)):
            if history[i].date <= history[i - 1].date:
                raise ValueError(f"dates out of order: history[{i}].date {history[i].date} is not after "
                                 f"history[{i - 1}].date {history[i - 1].date}")
        needed = model_limits().history_days
        if len(history) < needed:
            raise ValueError(f"too short: {len(history)} days; the model needs at least {needed} trading days "
                             "(its window plus the 20 earlier bars the price features look back)")
        return history


class Forecast(BaseModel):
    ticker: str
    date: dt.date = Field(description="The trading day forecast: the next one after the history's last day.")
    predicted_close: float
    predicted_return: float = Field(description="predicted_close / last close - 1")
    last_close: float
    model_version: str
    sentiment: str = Field(description="Where the sentiment features came from: scored texts or neutral.")


class Probabilities(BaseModel):
    positive: float
    negative: float
    neutral: float


class SentimentResult(BaseModel):
    label: Literal["positive", "negative", "neutral"]
    probabilities: Probabilities
