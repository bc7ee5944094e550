"""Every input of a run is read before any of its tables is written.

`raw_tweets` and `raw_prices` both run this before they compute: every source asset of the run reads its
source for every ticker of the run, over the run's days. A file-level defect in any of them (a ticker with
tweets but no price file, a ';'-delimited or cut file, ambiguous dates, a ticker the tweet source lacks) fails
the run in the first source step, before either of them (or anything downstream) commits. The files are
parsed once a process (`sources/csv_files.FileCache`), so the asset that runs second reads them from memory.
Row-level problems are not input failures: they are counted rows (cleaning), and the completeness guard and
the blocking schema check of each asset still run before that asset's own commit.
"""

from __future__ import annotations

from dagster import AssetExecutionContext, Failure

from finpulse_assets.partitions import TickerDay
from finpulse_assets.sources.base import PriceSource, SourceFileError, TweetSource


def _run_assets(context: AssetExecutionContext) -> set[str]:
    keys = context.job_def.asset_layer.executable_asset_keys
    selected = context.run.asset_selection
    return {k.to_user_string() for k in (keys & selected if selected else keys)}


def _allow_shrink(context: AssetExecutionContext, asset: str) -> bool:
    ops = (context.run.run_config or {}).get("ops", {})
    return bool(ops.get(asset, {}).get("config", {}).get("allow_shrink", False))


def check_run_inputs(context: AssetExecutionContext, parts: list[TickerDay], tweet_source: TweetSource,
                     price_source: PriceSource) -> None:
    """Raise Failure naming the input when a source of this run cannot be read for a ticker of the run."""
    names = _run_assets(context)
    tickers = sorted({p.ticker for p in parts})
    first, last = min(p.day for p in parts), max(p.day for p in parts)
    problems = []
    if "raw_prices" in names:
        try:
            price_source.load_prices(tickers, first, last)
        except SourceFileError as exc:
            problems.append(f"raw_prices: {exc}")
    if "raw_tweets" in names and not _allow_shrink(context, "raw_tweets"):
        try:
            missing = sorted(set(tickers) - set(tweet_source.available_tickers()))
        except SourceFileError as exc:
            problems.append(f"raw_tweets: {exc}")
        else:
            if missing:
                problems.append(f"raw_tweets: {tweet_source.location(tickers)} holds no rows for {', '.join(missing)}")
    if problems:
        raise Failure(description=f"{context.assets_def.key.to_user_string()}: an input of this run cannot be "
                                  f"read, so nothing of the run was written (every input is checked before any "
                                  f"table changes): " + "; ".join(problems) + ". Fix the input and run again.")
