"""Request and response bodies of the service, validated by pydantic before any model runs.

BentoML validates a request body against these models before the API method
is called, so a bad request gets a 400 whose `detail` names the field (`loc`)
and the problem (`msg`), and never reaches an adaptive batch, where one bad
item would fail every request batched with it. Bounds that depend on the
loaded model (history length, served tickers) are read from `model_limits()`,
set once the service has loaded its models.

Numbers are strict (`true` or `"280.46"` is not a number) and bounded so that
every price feature stays finite in float32; dates lie in the calendar the
service supports (`serving.calendar`); a history is consecutive trading days,
the only windows training builds (`models.lstm.dataset.build_windows`), so a
missing day, a repeated day or a day out of order is a 400 naming it.

Size limits come from the environment (read at import, i.e. at server start):
FINPULSE_SERVE_MAX_ITEMS, FINPULSE_SERVE_MAX_HISTORY_DAYS,
FINPULSE_SERVE_MAX_TEXTS_PER_DAY, FINPULSE_SERVE_MAX_TEXT_CHARS,
FINPULSE_SERVE_MAX_REQUEST_TEXTS (texts in one /predict request),
FINPULSE_SERVE_MAX_REQUEST_DAYS (history days, items x days, in one /predict request),
FINPULSE_SERVE_MAX_REQUEST_TEXT_CHARS (characters of the texts of one /predict request),
FINPULSE_SERVE_MAX_SENTIMENT_TEXTS, FINPULSE_SERVE_MAX_SENTIMENT_CHARS
(characters of one /sentiment request). `serving.validation` checks the sizes on the raw
body before these models validate anything.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass
from typing import Annotated, Literal, Optional

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, field_validator, model_validator

from finpulse_assets.serving.calendar import day_problem, position


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
MAX_REQUEST_TEXTS = _env_int("FINPULSE_SERVE_MAX_REQUEST_TEXTS", 1024)
MAX_SENTIMENT_TEXTS = _env_int("FINPULSE_SERVE_MAX_SENTIMENT_TEXTS", 256)
MAX_SENTIMENT_CHARS = _env_int("FINPULSE_SERVE_MAX_SENTIMENT_CHARS", 64_000)
# The cost of one /predict request: the feature path is linear in history days, the sentiment model in texts
# (each truncated to its max_length tokens). Sized so the largest legal request stays a short batch
# (docs/serving.md, "Admission"), never a stall for the requests batched after it.
MAX_REQUEST_DAYS = _env_int("FINPULSE_SERVE_MAX_REQUEST_DAYS", 2_048)
MAX_REQUEST_TEXT_CHARS = _env_int("FINPULSE_SERVE_MAX_REQUEST_TEXT_CHARS", 64_000)

# Prices within [1e-6, 1e9] and volumes up to 1e15 keep every price feature (returns, ratios, z-scores) finite
# in float32, whatever the sequence: the largest ratio of two prices is 1e15.
MIN_PRICE, MAX_PRICE, MAX_VOLUME = 1e-6, 1e9, 1e15

# The pattern says in the schema what stripping then min_length=1 means: at least one non-whitespace character.
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TEXT_CHARS, pattern=r"\S")]
Price = Annotated[float, Field(strict=True, ge=MIN_PRICE, le=MAX_PRICE, allow_inf_nan=False)]
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _iso_date(value: object) -> object:
    # pydantic would also take epoch integers and datetime strings; a history day is written one way only.
    if isinstance(value, str) and ISO_DATE.fullmatch(value):
        return value
    raise ValueError("a date is a string YYYY-MM-DD (no time, no epoch number)")


IsoDate = Annotated[dt.date, BeforeValidator(_iso_date)]


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

    date: IsoDate
    open: Price
    high: Price
    low: Price
    close: Price
    volume: Annotated[float, Field(strict=True, ge=0, le=MAX_VOLUME, allow_inf_nan=False)]
    adj_close: Optional[Price] = Field(default=None, description="Defaults to close.")
    texts: Optional[Annotated[list[Text], Field(max_length=MAX_TEXTS_PER_DAY)]] = Field(
        default=None, description="That day's tweets (posted after the previous close, up to this close).")

    @field_validator("date")
    @classmethod
    def _trading_day(cls, day: dt.date) -> dt.date:
        problem = day_problem(day)
        if problem:
            raise ValueError(problem)
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
    def _consecutive_and_long_enough(cls, history: list[Bar]) -> list[Bar]:
        problem = continuity_problem(history)
        if problem:
            raise ValueError(problem)
        needed = model_limits().history_days
        if len(history) < needed:
            raise ValueError(f"too short: {len(history)} days; the model needs at least {needed} trading days "
                             "(its window plus the 20 earlier bars the price features look back)")
        return history


def continuity_problem(history: list[Bar]) -> str | None:
    """Why the bars are not consecutive trading days, oldest first; None when they are.

    Training only builds windows over consecutive trading days, and the price features of a day read the
    bars before it by position, so a history with a hole would be a window the model never saw.
    """
    seen: dict[dt.date, int] = {}
    for i, bar in enumerate(history):
        if bar.date in seen:
            return f"duplicate date: history[{i}].date {bar.date} repeats history[{seen[bar.date]}].date"
        seen[bar.date] = i
    for i in range(1, len(history)):
        before, day = history[i - 1].date, history[i].date
        if day < before:
            return (f"dates out of order: history[{i}].date {day} is before history[{i - 1}].date {before}; "
                    "histories are oldest first")
    for i in range(1, len(history)):
        before, day = history[i - 1].date, history[i].date
        missing = position(day) - position(before) - 1
        if missing:
            return (f"missing trading days: {missing} between history[{i - 1}].date {before} and "
                    f"history[{i}].date {day}; a history must be consecutive trading days (the model was "
                    "trained only on windows without gaps)")
    return None


PredictItems = Annotated[list[PredictItem], Field(min_length=1, max_length=MAX_ITEMS)]
SentimentTexts = Annotated[list[Text], Field(min_length=1, max_length=MAX_SENTIMENT_TEXTS)]


class PredictRequest(BaseModel):
    """The /predict body (documented in /docs.json; `serving.validation` applies it)."""

    model_config = ConfigDict(extra="forbid")

    requests: PredictItems = Field(description=(
        f"At most {MAX_ITEMS} items, {MAX_REQUEST_DAYS:,} history days in all "
        f"(FINPULSE_SERVE_MAX_REQUEST_DAYS), {MAX_REQUEST_TEXTS:,} texts and {MAX_REQUEST_TEXT_CHARS:,} text "
        "characters (FINPULSE_SERVE_MAX_REQUEST_TEXTS, FINPULSE_SERVE_MAX_REQUEST_TEXT_CHARS); over those, a 413."))


class SentimentRequest(BaseModel):
    """The /sentiment body."""

    model_config = ConfigDict(extra="forbid")

    texts: SentimentTexts = Field(description=(
        f"At most {MAX_SENTIMENT_CHARS:,} characters in all (FINPULSE_SERVE_MAX_SENTIMENT_CHARS); over that, a 413."))


class Forecast(BaseModel):
    ticker: str
    date: dt.date = Field(description="The trading day forecast: the next one after the history's last day.")
    predicted_close: float
    predicted_return: float = Field(description="predicted_close / last close - 1")
    probability_up: float | None = Field(default=None, description="P(close of `date` > last close) from the "
                                         "forecast and the model's validation error; None from a bundle without it.")
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


class Problem(BaseModel):
    """One thing wrong with a request: where (`loc`, a path into the body) and what (`msg`)."""

    type: str = Field(description="pydantic's error type, or `forecast` for a problem found while forecasting")
    loc: list[str | int]
    msg: str


class ProblemReport(BaseModel):
    """The body of a 400 (the request does not validate) or 422 (valid, but no finite forecast for an item)."""

    error: str
    detail: list[Problem] = Field(description="The first problems found (at most 20).")
    problem_count: Optional[int] = Field(default=None, description="How many problems were found before checking "
                                         "stopped; `detail` lists the first of them.")
    request_id: Optional[str] = None


class ErrorMessage(BaseModel):
    """The body of every other error (401, 413, 415, 500, 503, 504); `request_id` is also the X-Request-ID header."""

    error: str
    request_id: Optional[str] = None
