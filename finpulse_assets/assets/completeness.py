"""Completeness before replacement: a run of raw_tweets or raw_prices never replaces stored rows with fewer
silently.

Before the output is yielded (so before anything is written), each partition's
new row count is compared with the rows stored for it, counted in the asset's
Delta table itself (so a new DAGSTER_HOME over old storage, whose instance
knows nothing, still compares against what is stored; an IO manager without
tables falls back to the `rows` of the instance's latest materialization): a partition
that held rows and would become empty, or would lose more than
`max_row_loss_share` of them, fails the run with the source, the days and the
counts, unless the run sets `allow_shrink` (a deliberate full refresh). A
ticker the tweet source holds nothing for fails the same way.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
from dagster import AssetExecutionContext, AssetRecordsFilter, Config, DagsterEventType, Failure
from pydantic import Field

from finpulse_assets.partitions import TickerDay

SHOWN_DAYS = 10


class ReplaceConfig(Config):
    """How much a run may shrink what is stored (raw_tweets, raw_prices)."""

    allow_shrink: bool = Field(default=False, description="Replace stored partitions even when the source now has "
                                                          "fewer rows (a deliberate full refresh from a smaller "
                                                          "source), and accept a ticker the tweet source lacks.")
    max_row_loss_share: float = Field(default=0.5, ge=0, le=1,
                                      description="A partition may lose at most this share of its stored rows; "
                                                  "one that held rows may never become empty.")


def stored_rows(context: AssetExecutionContext, io_manager, parts: list[TickerDay]) -> dict[str, int]:
    """Rows stored for each of `parts`: counted in storage when the IO manager can, else from the instance."""
    if hasattr(io_manager, "stored_row_counts"):
        return io_manager.stored_row_counts(context.assets_def.key, parts)
    return recorded_rows(context, [str(p.key) for p in parts])


def recorded_rows(context: AssetExecutionContext, keys: list[str]) -> dict[str, int]:
    """Rows recorded by the latest materialization of each of `keys` that has one (metadata `rows`)."""
    instance, asset_key = context.instance, context.assets_def.key
    latest = instance.get_latest_storage_id_by_partition(asset_key, DagsterEventType.ASSET_MATERIALIZATION,
                                                         set(keys))
    ids = list(latest.values())
    rows: dict[str, int] = {}
    for start in range(0, len(ids), 1000):
        chunk = ids[start:start + 1000]
        records = instance.fetch_materializations(AssetRecordsFilter(asset_key=asset_key, storage_ids=chunk),
                                                  limit=len(chunk)).records
        for record in records:
            mat = record.asset_materialization
            if mat is not None and mat.partition is not None and "rows" in mat.metadata:
                rows[mat.partition] = int(mat.metadata["rows"].value)
    return rows


def shrinking(frames: Mapping[TickerDay, pd.DataFrame], stored: Mapping[str, int],
              max_row_loss_share: float) -> list[tuple[TickerDay, int, int]]:
    """(partition, stored rows, new rows) for every partition the run would shrink beyond the rule."""
    out = []
    for part, frame in sorted(frames.items()):
        before, after = stored.get(str(part.key), 0), len(frame)
        if before > 0 and (after == 0 or after < before * (1 - max_row_loss_share)):
            out.append((part, before, after))
    return out


def guard_replacement(context: AssetExecutionContext, io_manager, frames: Mapping[TickerDay, pd.DataFrame],
                      config: ReplaceConfig, source: str, rejects: pd.DataFrame | None = None) -> dict:
    """Raise Failure (nothing written) when the run would shrink stored partitions; `source` names the input,
    `rejects` (cleaning's) say why rows of those partitions were dropped.

    Returns run metadata: the stored rows it compared against and how many partitions shrank."""
    stored = stored_rows(context, io_manager, list(frames))
    lost = shrinking(frames, stored, config.max_row_loss_share)
    summary = {"stored_rows_before": sum(stored.values()), "partitions_shrunk": len(lost)}
    if not lost:
        return summary
    detail = ", ".join(f"{p.ticker} {p.day}: {before} -> {after}" for p, before, after in lost[:SHOWN_DAYS])
    more = f" and {len(lost) - SHOWN_DAYS} more" if len(lost) > SHOWN_DAYS else ""
    message = (f"{context.assets_def.key.to_user_string()}: {source} would replace {len(lost)} stored "
               f"partition(s) with fewer rows ({sum(b for _, b, _ in lost)} stored -> "
               f"{sum(a for _, _, a in lost)}): {detail}{more}. {_why(lost, rejects)} Nothing was written. "
               "To replace them anyway (a deliberate full refresh), run with config allow_shrink: true.")
    if config.allow_shrink:
        context.log.warning(message.replace("Nothing was written.", "Replacing them: allow_shrink is set."))
        return summary
    raise Failure(description=message, metadata=summary)


def _why(lost: list[tuple[TickerDay, int, int]], rejects: pd.DataFrame | None) -> str:
    """Why those partitions have fewer rows: the rejects by reason that fell in them, or none."""
    if rejects is None or rejects.empty:
        return "No row of those days was rejected: the source holds fewer rows for them (a truncated or emptied file?)."
    keys = {(p.ticker, p.day) for p, _, _ in lost}
    days = pd.to_datetime(rejects["day"]).dt.date
    mine = rejects[[(t, d) in keys for t, d in zip(rejects["ticker"], days)]]
    undated = rejects[rejects["day"].isna()]
    parts = []
    if len(mine):
        parts.append("rows of those days rejected by reason: " + _reasons(mine))
    if len(undated):
        parts.append("rows of the run with no usable date: " + _reasons(undated))
    if not parts:
        return "No row of those days was rejected: the source holds fewer rows for them (a truncated or emptied file?)."
    return "; ".join(parts).capitalize() + "."


def _reasons(frame: pd.DataFrame) -> str:
    return ", ".join(f"{reason} {n}" for reason, n in frame["reason"].value_counts().items())


def guard_ticker_coverage(context: AssetExecutionContext, tickers: list[str], available: list[str],
                          config: ReplaceConfig, source: str) -> None:
    """Fail when the run covers a ticker the source holds no rows for at all (unless allow_shrink)."""
    missing = sorted(set(tickers) - set(available))
    if not missing:
        return
    message = (f"{context.assets_def.key.to_user_string()}: {source} holds no rows for {', '.join(missing)} "
               f"(it holds {len(available)} other ticker(s)); every partition of the run would be empty. "
               "Nothing was written. To store empty partitions anyway, run with config allow_shrink: true.")
    if config.allow_shrink:
        context.log.warning(message.replace("Nothing was written.", "Storing them: allow_shrink is set."))
        return
    raise Failure(description=message)
