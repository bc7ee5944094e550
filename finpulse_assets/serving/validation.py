"""Request bodies -> validated requests, bounded in time and in what a rejection reports.

A body is parsed as strict JSON (a key twice in one object is a 400: `"close": 1e308, "close": 1`
must not hide the first value), then its shape and sizes are checked on the raw document before
any item is validated: list lengths, texts per day, and the request's cost (history days, text
characters) against its limits. Only then are items validated one at a time with pydantic, and
validation stops once `MAX_REPORTED_PROBLEMS` problems are found: a rejection lists at most that
many, with the count found, so a small body can never produce a large answer or a long run.

`validate_*` are plain functions (no event loop); the service runs bodies larger than
`INLINE_BODY_BYTES` in a worker thread, one at a time, so a large body never blocks small ones
(the edge hands the memory of large bodies back afterwards, `serving.memory`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from pydantic import TypeAdapter, ValidationError

from finpulse_assets.serving.schema import (
    MAX_HISTORY_DAYS,
    MAX_ITEMS,
    MAX_REQUEST_DAYS,
    MAX_REQUEST_TEXT_CHARS,
    MAX_REQUEST_TEXTS,
    MAX_SENTIMENT_CHARS,
    MAX_SENTIMENT_TEXTS,
    MAX_TEXTS_PER_DAY,
    PredictItem,
    Text,
)

MAX_REPORTED_PROBLEMS = 20
INLINE_BODY_BYTES = 16 * 1024

_ITEM = TypeAdapter(PredictItem)
_TEXT = TypeAdapter(Text)


@dataclass
class Rejected(Exception):
    """Why a request is refused: the status (400 invalid, 413 over a size limit) and the problems found."""

    status: int
    problems: list[dict]
    found: int = 0
    stopped_at: list | None = None
    summary: str = field(default="")

    def __post_init__(self) -> None:
        self.found = max(self.found, len(self.problems))

    def body(self, request_id: str | None = None) -> dict:
        shown = self.problems[:MAX_REPORTED_PROBLEMS]
        error = self.summary or f"{self.found} problem{'' if self.found == 1 else 's'} in the request"
        if self.found > len(shown):
            error += f" (the first {len(shown)} listed)"
        if self.stopped_at is not None:
            error += f"; checking stopped at {_path(self.stopped_at)}"
        document = {"error": error, "detail": shown, "problem_count": self.found}
        if request_id:
            document["request_id"] = request_id
        return document


def _path(loc: list) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else (f".{part}" if i else str(part))
                   for i, part in enumerate(loc))


def problem(loc: list, msg: str, type_: str = "value_error") -> dict:
    return {"type": type_, "loc": list(loc), "msg": msg}


class _DuplicateKey(ValueError):
    pass


def _object(pairs: list[tuple[str, object]]) -> dict:
    document = dict(pairs)
    if len(document) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(f"duplicate key {key!r} in a JSON object: each key may appear once")
            seen.add(key)
    return document


def parse_json(body: bytes) -> object:
    """Strict JSON: one value, no key twice in an object. NaN/Infinity literals parse to floats that the
    models' number fields then reject with their location."""
    try:
        return json.loads(body or b"null", object_pairs_hook=_object)
    except _DuplicateKey as exc:
        raise Rejected(400, [problem([], str(exc), "json_duplicate_key")]) from None
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, bad UTF-8, 4300+ digit integers, deep nesting
        msg = f"the body is not valid JSON: {str(exc)[:200]}" if not isinstance(exc, RecursionError) else \
            "the body is not valid JSON: nested too deeply"
        raise Rejected(400, [problem([], msg, "json_invalid")]) from None


def _object_with(document: object, name: str, hint: str) -> object:
    """The one field `name` of a top-level object; anything else at the top level is a problem."""
    if not isinstance(document, dict):
        raise Rejected(400, [problem([], f"the body must be a JSON object {hint}", "model_type")])
    problems = [problem([key], "Extra inputs are not permitted", "extra_forbidden") for key in document if key != name]
    if name not in document:
        problems.insert(0, problem([name], "Field required", "missing"))
    if problems:
        raise Rejected(400, problems)
    return document[name]


def _list(value: object, loc: list, low: int, high: int) -> list:
    if not isinstance(value, list):
        raise Rejected(400, [problem(loc, "Input should be a valid list", "list_type")])
    if not low <= len(value) <= high:
        words = f"at least {low} item{'s' if low > 1 else ''}" if len(value) < low else f"at most {high} items"
        raise Rejected(400, [problem(loc, f"List should have {words}, not {len(value)}",
                                     "too_short" if len(value) < low else "too_long")])
    return value


def _validate_each(adapter: TypeAdapter, values: Iterable, loc: list) -> list:
    """Validate one value at a time; stop once MAX_REPORTED_PROBLEMS problems are found."""
    out, problems, found = [], [], 0
    for i, value in enumerate(values):
        try:
            out.append(adapter.validate_python(value))
        except ValidationError as exc:
            found += exc.error_count()
            if len(problems) < MAX_REPORTED_PROBLEMS:
                problems += [problem([*loc, i, *e["loc"]], e["msg"], e["type"])
                             for e in exc.errors(include_url=False, include_context=False, include_input=False)
                             [:MAX_REPORTED_PROBLEMS - len(problems)]]
            if found >= MAX_REPORTED_PROBLEMS:
                if i + 1 < len(values):
                    raise Rejected(400, problems, found, stopped_at=[*loc, i])
                break
    if problems:
        raise Rejected(400, problems, found)
    return out


def _too_large(what: str, count: int, limit: int, env: str, loc: list) -> Rejected:
    return Rejected(413, [problem(loc, f"{count:,} {what} in this request; at most {limit:,} ({env}): split it "
                                       "into several requests", "request_too_large")],
                    summary=f"request too large: {count:,} {what}, at most {limit:,} ({env})")


@dataclass(frozen=True)
class PredictCost:
    """What a /predict request asks of the server, counted on the raw body before validation."""

    days: int
    texts: int
    text_chars: int


def predict_cost(requests: list) -> PredictCost:
    """Count history days and texts; a history or a day's texts over its own limit is a 400 right away."""
    days = texts = chars = 0
    for i, item in enumerate(requests):
        history = item.get("history") if isinstance(item, dict) else None
        if not isinstance(history, list):
            continue
        if len(history) > MAX_HISTORY_DAYS:
            raise Rejected(400, [problem(["requests", i, "history"], f"List should have at most {MAX_HISTORY_DAYS} "
                                         f"items, not {len(history)}", "too_long")])
        days += len(history)
        for d, bar in enumerate(history):
            day_texts = bar.get("texts") if isinstance(bar, dict) else None
            if not isinstance(day_texts, list):
                continue
            if len(day_texts) > MAX_TEXTS_PER_DAY:
                raise Rejected(400, [problem(["requests", i, "history", d, "texts"], "List should have at most "
                                             f"{MAX_TEXTS_PER_DAY} items, not {len(day_texts)}", "too_long")])
            texts += len(day_texts)
            chars += sum(len(t) for t in day_texts if isinstance(t, str))
    return PredictCost(days, texts, chars)


def validate_predict(body: bytes) -> list[PredictItem]:
    """The items of a /predict body, or Rejected."""
    requests = _list(_object_with(parse_json(body), "requests", '{"requests": [...]}'), ["requests"], 1, MAX_ITEMS)
    cost = predict_cost(requests)
    if cost.days > MAX_REQUEST_DAYS:
        raise _too_large("history days (items x days)", cost.days, MAX_REQUEST_DAYS,
                         "FINPULSE_SERVE_MAX_REQUEST_DAYS", ["requests"])
    if cost.texts > MAX_REQUEST_TEXTS:
        raise _too_large("texts", cost.texts, MAX_REQUEST_TEXTS, "FINPULSE_SERVE_MAX_REQUEST_TEXTS", ["requests"])
    if cost.text_chars > MAX_REQUEST_TEXT_CHARS:
        raise _too_large("text characters", cost.text_chars, MAX_REQUEST_TEXT_CHARS,
                         "FINPULSE_SERVE_MAX_REQUEST_TEXT_CHARS", ["requests"])
    return _validate_each(_ITEM, requests, ["requests"])


def validate_sentiment(body: bytes) -> list[str]:
    """The texts of a /sentiment body, or Rejected."""
    texts = _list(_object_with(parse_json(body), "texts", '{"texts": [...]}'), ["texts"], 1, MAX_SENTIMENT_TEXTS)
    chars = sum(len(t) for t in texts if isinstance(t, str))
    if chars > MAX_SENTIMENT_CHARS:
        raise _too_large("characters", chars, MAX_SENTIMENT_CHARS, "FINPULSE_SERVE_MAX_SENTIMENT_CHARS", ["texts"])
    return _validate_each(_TEXT, texts, ["texts"])



def validated_or_rejected(validate, body: bytes) -> list | Rejected:
    """`validate(body)`, or the Rejected it raised, returned without its traceback (for a worker thread).

    Raised out of a worker thread, a rejection's traceback joined a reference cycle (the exception, its frames,
    anyio's future) that kept the parsed document, 5 MB for a 2 MB body, alive until Python's next full
    collection: 1,000 such bodies left a worker with 79 % more memory (`benchmarks/serving_memory.py`).
    Without the traceback the frames, and the document, are freed as soon as validation ends."""
    try:
        return validate(body)
    except Rejected as exc:
        return exc.with_traceback(None)
