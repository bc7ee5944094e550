"""Run tags that say why a run covers more days than were asked for.

A run covers one contiguous range of days (one Delta commit per asset, a range tag pair Dagster
understands), so days between the asked ones come along: e.g. a re-landed price file holds trading days
only, and its weekends between them are partitions too. Such a run carries `finpulse/widened_from` (the
asked days, as ranges) and `finpulse/widened_because`, so the operator reading the run sees which
partitions it was asked for and why it wrote the others.
"""

from __future__ import annotations

from datetime import date, timedelta

WIDENED_FROM_TAG = "finpulse/widened_from"
WIDENED_BECAUSE_TAG = "finpulse/widened_because"
# Tag values are shown in the UI's run list: past this many ranges the rest is counted, not listed.
MAX_LISTED_RANGES = 8


def day_ranges_text(days: set[date]) -> str:
    """'2024-01-08..2024-01-09,2024-01-12' for those three days; ranges past MAX_LISTED_RANGES counted."""
    ranges: list[list[date]] = []
    for day in sorted(days):
        if ranges and day - ranges[-1][1] == timedelta(days=1):
            ranges[-1][1] = day
        else:
            ranges.append([day, day])
    text = [f"{a}..{b}" if a != b else f"{a}" for a, b in ranges[:MAX_LISTED_RANGES]]
    if len(ranges) > MAX_LISTED_RANGES:
        text.append(f"+{len(ranges) - MAX_LISTED_RANGES} more ranges")
    return ",".join(text)


def widening_tags(asked: set[date], start: date, end: date, because: str) -> dict[str, str]:
    """The tags of a run over start..end (inclusive) asked for `asked`; none when it covers only asked days."""
    covered = {start + timedelta(days=i) for i in range((end - start).days + 1)}
    extra = covered - asked
    if not extra:
        return {}
    return {WIDENED_FROM_TAG: day_ranges_text(covered & asked),
            WIDENED_BECAUSE_TAG: f"{len(extra)} of the run's {len(covered)} days were not asked for: {because}"}
