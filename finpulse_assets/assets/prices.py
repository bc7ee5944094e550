"""raw_prices and price_features: the day's bar per ticker, and features from its trailing window."""


import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetIn,
    IOManager,
    MetadataValue,
    ResourceParam,
    asset,
)

from finpulse_assets.assets.completeness import ReplaceConfig, guard_replacement
from finpulse_assets.assets.partitioned import emit, run_partitions, schema_check_spec, split_by_partition
from finpulse_assets.sources.cleaning import clean_prices
from finpulse_assets.features.market_calendar import is_trading_day
from finpulse_assets.features.price import LOOKAHEAD_CALENDAR_DAYS, LOOKBACK_CALENDAR_DAYS, features_by_ticker
from finpulse_assets.partitions import TICKER_DAY_BACKFILL_POLICY, day_window_mapping
from finpulse_assets.assets.schemas import PriceFeatures, RawPrices
from finpulse_assets.sources.base import PriceSource

# price_features of day t reads raw_prices from t - LOOKBACK to t + LOOKAHEAD
# (the later days feed the target columns only).
PRICE_WINDOW_MAPPING = day_window_mapping(-LOOKBACK_CALENDAR_DAYS, LOOKAHEAD_CALENDAR_DAYS)


TRADING_DAYS_CHECK = "every_trading_day_has_a_bar"


def _missing_bar(part) -> str:
    return "no bar in the source for this trading day"


def trading_days_check(frames) -> AssetCheckResult:
    """Every NYSE trading day of the run has a bar; the missing ones listed (a warning: features flag the gap).

    Trading days before a ticker's first bar in the run are not gaps when it has bars later: the source
    starts there (a listing inside the range, as BABA's in September 2014); they are counted apart.
    A ticker with no bar at all in the run is missing on every trading day."""
    first_bar: dict[str, object] = {}
    for part, frame in frames.items():
        if not frame.empty and (part.ticker not in first_bar or part.day < first_bar[part.ticker]):
            first_bar[part.ticker] = part.day
    empty_trading = [p for p, f in frames.items() if f.empty and is_trading_day(p.day)]
    before_first = sorted(p for p in empty_trading if p.ticker in first_bar and p.day < first_bar[p.ticker])
    missing = sorted(set(empty_trading) - set(before_first))
    return AssetCheckResult(
        check_name=TRADING_DAYS_CHECK, passed=not missing, severity=AssetCheckSeverity.WARN,
        metadata={"trading_days": sum(is_trading_day(p.day) for p in frames), "missing_count": len(missing),
                  "missing_days": MetadataValue.json([f"{p.ticker} {p.day}" for p in missing[:200]]),
                  "before_first_bar_count": len(before_first),
                  "first_bar": MetadataValue.json({t: str(d) for t, d in sorted(first_bar.items())})})


PLAUSIBLE_CHECK = "daily_moves_are_plausible"
# A close-to-close move of this factor or more (either way) is a market move only rarely; when it is also within
# SPLIT_TOLERANCE of a split ratio or a unit change it is flagged as one. A volume that moves 100x is flagged too.
LARGE_MOVE = 1.8
SPLIT_RATIOS = {2: "2:1 split", 3: "3:1 split", 4: "4:1 split", 5: "5:1 split", 7: "7:1 split", 10: "10:1 split",
                20: "20:1 split", 100: "unit change (cents vs dollars)", 1000: "unit change (x1000)"}
SPLIT_TOLERANCE = 0.05
LARGE_VOLUME_MOVE = 100.0


def _explained_by(ratio: float) -> str | None:
    """The split or unit change a price ratio (new / old) matches, None when none does."""
    for factor, name in SPLIT_RATIOS.items():
        for target, label in ((1 / factor, name), (factor, f"reverse {name}" if "split" in name else name)):
            if abs(ratio / target - 1) <= SPLIT_TOLERANCE:
                return label
    return None


def plausible_moves_check(frames) -> AssetCheckResult:
    """Days whose close moved by a split's or a unit change's ratio, or whose volume moved 100x: a person looks.

    A warning: the bar is stored as the source has it (a real split is a real price), but a misread file, a
    missing adjustment or a cut number looks the same, and the features would treat it as a market move."""
    bars = pd.concat([f for f in frames.values() if len(f)] or [RawPrices.empty()], ignore_index=True)
    flagged = []
    for ticker, rows in bars.sort_values(["ticker", "date"]).groupby("ticker"):
        close, volume, days = rows["close"].to_numpy(float), rows["volume"].to_numpy(float), rows["date"].dt.date
        for i in range(1, len(rows)):
            ratio = close[i] / close[i - 1]
            if max(ratio, 1 / ratio) >= LARGE_MOVE and (label := _explained_by(ratio)):
                flagged.append(f"{ticker} {days.iloc[i]}: close {close[i - 1]:g} -> {close[i]:g} "
                               f"(x{ratio:.3g}, a {label}?)")
            if volume[i - 1] > 0 and volume[i] > 0:
                vratio = volume[i] / volume[i - 1]
                if max(vratio, 1 / vratio) >= LARGE_VOLUME_MOVE:
                    flagged.append(f"{ticker} {days.iloc[i]}: volume {volume[i - 1]:.0f} -> {volume[i]:.0f} "
                                   f"(x{vratio:.3g}: a cut number or a unit change?)")
    return AssetCheckResult(
        check_name=PLAUSIBLE_CHECK, passed=not flagged, severity=AssetCheckSeverity.WARN,
        description=None if not flagged else f"{len(flagged)} day(s) look like a split, a unit change or a cut "
                                             "number, not a market move: check the source file",
        metadata={"flagged_count": len(flagged), "flagged": MetadataValue.json(flagged[:200])})


def build_price_assets(partitions_def):
    @asset(
        partitions_def=partitions_def,
        backfill_policy=TICKER_DAY_BACKFILL_POLICY,
        check_specs=[schema_check_spec("raw_prices"),
                     AssetCheckSpec(TRADING_DAYS_CHECK, asset="raw_prices",
                                    description="Every NYSE trading day of the run has a bar (missing days "
                                                "listed; price_features flag the days after a gap)."),
                     AssetCheckSpec(PLAUSIBLE_CHECK, asset="raw_prices",
                                    description="No day's close moves by a split's or a unit change's ratio and no "
                                                "day's volume moves 100x (a misread or cut file; a warning).")],
        group_name="price_data",
        kinds={"pandas", "parquet"},
    )
    def raw_prices(context: AssetExecutionContext, config: ReplaceConfig, price_source: PriceSource,
                   io_manager: ResourceParam[IOManager]):
        """The day's OHLCV and adjusted close; rows with impossible prices are rejected by reason.
        Refuses to replace stored bars with none (see ReplaceConfig)."""
        parts = run_partitions(context)
        tickers = sorted({p.ticker for p in parts})
        raw = price_source.load_prices(tickers, min(p.day for p in parts), max(p.day for p in parts))
        clean, rejects = clean_prices(raw)
        frames = split_by_partition(clean, parts, "date")
        replaced = guard_replacement(context, io_manager, frames, config, price_source.location(tickers),
                                     rejects)
        yield from emit(context, frames, RawPrices, rejects, empty_reason=_missing_bar, run_metadata=replaced,
                        more_checks=[trading_days_check(frames), plausible_moves_check(frames)])

    @asset(
        partitions_def=partitions_def,
        backfill_policy=TICKER_DAY_BACKFILL_POLICY,
        ins={"raw_prices": AssetIn(partition_mapping=PRICE_WINDOW_MAPPING)},
        check_specs=[schema_check_spec("price_features")],
        group_name="price_data",
        kinds={"pandas", "parquet"},
    )
    def price_features(context: AssetExecutionContext, raw_prices: pd.DataFrame):
        """Features of trading day t from bars up to t; next-day targets in separate target_* columns."""
        parts = run_partitions(context)
        bars = raw_prices if len(raw_prices) else RawPrices.empty()
        features = features_by_ticker(bars)
        frames = split_by_partition(features, parts, "date")
        yield from emit(context, frames, PriceFeatures, empty_reason=_missing_bar)

    return raw_prices, price_features
