"""What every ticker x day asset does with the frame it computed for its run.

It splits the frame into one frame per partition of the run, attaches each
partition's metadata (rows, rejects by reason, why it is empty, a preview) and
validates the whole run against the asset's pandera schema before the output
exists: a run that fails the blocking `schema_valid` check reports the failed
check and fails its step without yielding the Output, so the IO manager never
writes it and stored partitions stay exactly as they were (Dagster stores an
output before the checks that follow it run). Downstream assets do not run.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence

import pandas as pd
import pandera.errors
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    Failure,
    MetadataValue,
    Output,
)

from finpulse_assets.features.market_calendar import closure_reason
from finpulse_assets.partitions import TickerDay, parse_keys
from finpulse_assets.storage.record_window import recording_window

SCHEMA_CHECK = "schema_valid"
PREVIEW_ROWS = 3
NO_ROWS = MetadataValue.md("_no rows_")


def schema_check_spec(asset_name: str) -> AssetCheckSpec:
    return AssetCheckSpec(SCHEMA_CHECK, asset=asset_name, blocking=True,
                          description="Every partition of the run satisfies the asset's pandera schema.")


def run_partitions(context: AssetExecutionContext) -> list[TickerDay]:
    return parse_keys(context.partition_keys)


def split_by_partition(frame: pd.DataFrame, parts: list[TickerDay], day_column: str) -> dict[TickerDay, pd.DataFrame]:
    """One frame per partition; partitions without rows get an empty frame with the same columns."""
    empty = frame.iloc[0:0]
    if frame.empty:
        return {p: empty for p in parts}
    days = pd.to_datetime(frame[day_column]).dt.date
    groups = {k: g for k, g in frame.groupby([frame["ticker"].to_numpy(), days.to_numpy()], sort=False)}
    return {p: groups.get((p.ticker, p.day), empty).reset_index(drop=True) for p in parts}


def _cell(value) -> str:
    """A Markdown table cell. Text from the sources is a code span, so the UI shows a tweet's link, image or HTML
    as text and never renders it (no link to a cut-off URL, no image fetched from a host a tweet names)."""
    if isinstance(value, float):
        return f"{value:.6g}"
    text = str(value)[:60].replace("\n", " ")
    if isinstance(value, str):
        fence = "`" * (max(map(len, re.findall("`+", text)), default=0) + 1)
        text = f"{fence} {text} {fence}"
    return text.replace("|", "\\|")


def markdown_table(columns, rows) -> str:
    header = "| " + " | ".join(map(str, columns)) + " |\n|" + "---|" * len(columns)
    return "\n".join([header, *("| " + " | ".join(_cell(v) for v in row) + " |" for row in rows)])


def _previews(frames: dict[TickerDay, pd.DataFrame]) -> dict[TickerDay, MetadataValue]:
    """The first rows of every partition as a Markdown table, formatted in one pass over the run.

    Hand-built (tabulate costs ~10 ms a call) from one array of every partition's head rows: per-partition
    pandas row access cost ~3 ms a partition, more than the storage write of the whole run per partition."""
    previews = {part: NO_ROWS for part, frame in frames.items() if frame.empty}
    shown = {part: frame.head(PREVIEW_ROWS) for part, frame in frames.items() if len(frame)}
    if not shown:
        return previews
    values = pd.concat(list(shown.values()), ignore_index=True).to_numpy(dtype=object)
    columns = next(iter(shown.values())).columns
    start = 0
    for part, head in shown.items():
        previews[part] = MetadataValue.md(markdown_table(columns, values[start:start + len(head)]))
        start += len(head)
    return previews


def _add_partition_metadata(context: AssetExecutionContext, metadata: dict[str, dict]) -> None:
    """Per-partition metadata for keys taken from the run's own partitions.

    Private API on purpose: the public `context.add_asset_metadata(partition_key=...)`
    re-lists the run's whole key range (dynamic partitions included, from the
    instance) to validate each key, O(n) a call and O(n^2) a run; on Dagster
    1.13.27 it adds 27 ms a partition to a one-ticker-year run and 86 ms to a
    two-year run (benchmarks/partition_metadata.py, docs/storage.md). The keys
    here come from `context.partition_keys`, so the check adds nothing; this
    makes the same accumulator update directly (dagster is pinned).
    """
    step = context.op_execution_context._step_execution_context
    accumulator = step._metadata_accumulator
    for key, values in metadata.items():
        accumulator = accumulator.with_additional_asset_metadata(
            asset_key=context.assets_def.key, metadata=values, partition_key=key)
    step._metadata_accumulator = accumulator


def emit(
    context: AssetExecutionContext,
    frames: dict[TickerDay, pd.DataFrame],
    schema,
    rejects: pd.DataFrame | None = None,
    empty_reason: Callable[[TickerDay], str] | None = None,
    run_metadata: dict | None = None,
    more_checks: Sequence[AssetCheckResult] = (),
) -> Iterator:
    """Per-partition metadata, then the Output (with `run_metadata` added), the blocking schema check and
    `more_checks`, recorded while no other run records this asset (storage/record_window.py)."""
    rejects = rejects if rejects is not None else pd.DataFrame(columns=["ticker", "day", "reason"])
    attributable = rejects[rejects["day"].notna()]
    by_partition = Counter()
    for (t, d, r), n in attributable.groupby(["ticker", pd.to_datetime(attributable["day"]).dt.date, "reason"]).size().items():
        by_partition[(t, d, r)] += int(n)
    unattributable = rejects[rejects["day"].isna()]["reason"].value_counts().to_dict()
    if unattributable:
        context.log.warning(f"rows rejected without a usable date (not counted in any partition): {unattributable}")

    reasons_by_part: dict[tuple, dict[str, int]] = {}
    for (t, d, r), n in by_partition.items():
        reasons_by_part.setdefault((t, d), {})[r] = n
    per_partition = {}
    previews = _previews(frames)
    for part, frame in frames.items():
        reasons = reasons_by_part.get((part.ticker, part.day), {})
        closed = closure_reason(part.day)
        status = closed or "trading day"
        if frame.empty and not closed and empty_reason is not None:
            status = empty_reason(part)
        per_partition[str(part.key)] = {
            "rows": len(frame),
            "rows_rejected": sum(reasons.values()),
            "rejected_by_reason": MetadataValue.json(reasons),
            "status": status,
            "preview": previews[part],
        }
    whole = pd.concat([f for f in frames.values() if len(f)] or [next(iter(frames.values()))], ignore_index=True)
    check = schema_check(whole, schema)
    if not check.passed:
        yield check
        raise Failure(
            description=f"{context.assets_def.key.to_user_string()}: blocking check {SCHEMA_CHECK} failed "
                        f"({check.metadata['failures'].value} failure cases); nothing of this run was written, "
                        f"the stored partitions are unchanged",
            metadata={"failure_cases": check.metadata["failure_cases"]})
    _add_partition_metadata(context, per_partition)
    with recording_window(context.instance, context.run_id, context.assets_def.key.to_user_string()):
        yield Output({str(p.key): f for p, f in frames.items()}, metadata={
            "run_partitions": len(frames),
            "run_rows": len(whole),
            "run_rows_rejected": len(rejects),
            "run_rejected_without_date": MetadataValue.json({k: int(v) for k, v in unattributable.items()}),
            # Every dropped row of the run by reason, those without a usable date included: what the CLI sums up.
            "run_rejected_by_reason": MetadataValue.json({k: int(v)
                                                          for k, v in rejects["reason"].value_counts().items()}),
            **(run_metadata or {}),
        })
        yield check
        yield from more_checks


def schema_check(frame: pd.DataFrame, schema) -> AssetCheckResult:
    try:
        schema.validate(frame, lazy=True)
    except pandera.errors.SchemaErrors as err:
        cases = err.failure_cases.head(20)
        return AssetCheckResult(check_name=SCHEMA_CHECK, passed=False, severity=AssetCheckSeverity.ERROR,
                                metadata={"failures": len(err.failure_cases),
                                          "failure_cases": MetadataValue.md(markdown_table(
                                              cases.columns, cases.astype(str).to_numpy()))})
    return AssetCheckResult(check_name=SCHEMA_CHECK, passed=True, metadata={"rows_checked": len(frame)})
