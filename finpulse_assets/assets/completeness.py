"""Completeness before replacement: a run of raw_tweets or raw_prices never replaces stored rows with fewer
silently.

Before the output is yielded (so before anything is written), each partition's
new row count is compared with the `rows` recorded in its latest stored
materialization (instance metadata, so it holds for any storage): a partition
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


def stored_rows(context: AssetExecutionContext, keys: list[str]) -> dict[str, int]:
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


def guard_replacement(context: AssetExecutionContext, frames: Mapping[TickerDay, pd.DataFrame],
                      config: ReplaceConfig, source: str) -> dict:
    """Raise Failure (nothing written) when the run would shrink stored partitions; `source` names the input.

    Returns run metadata: the stored rows it compared against and how many partitions shrank."""
    stored = stored_rows(context, [str(p.key) for p in frames])
    lost = shrinking(frames, stored, config.max_row_loss_share)
    summary = {"stored_rows_before": sum(stored.values()), "partitions_shrunk": len(lost)}
    if not lost:
        return summary
    detail = ", ".join(f"{p.ticker} {p.day}: {before} -> {after}" for p, before, after in lost[:SHOWN_DAYS])
    more = f" and {len(lost) - SHOWN_DAYS} more" if len(lost) > SHOWN_DAYS else ""
    message = (f"{context.assets_def.key.to_user_string()}: {source} would replace {len(lost)} stored "
               f"partition(s) with fewer rows ({sum(b for _, b, _ in lost)} stored -> "
               f"{sum(a for _, _, a in lost)}): {detail}{more}. A truncated or emptied file? Nothing was written. "
               "To replace them anyway (a deliberate full refresh), run with config allow_shrink: true.")
    if config.allow_shrink:
        context.log.warning(message.replace("Nothing was written.", "Replacing them: allow_shrink is set."))
        return summary
    raise Failure(description=message, metadata=summary)


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
