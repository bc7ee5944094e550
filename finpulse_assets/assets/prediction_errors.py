"""prediction_errors: each forecast against the actual close of its target day, partitioned by that target day."""

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetIn,
    MetadataValue,
    asset,
)

from finpulse_assets.assets.partitioned import emit, run_partitions, schema_check_spec, split_by_partition
from finpulse_assets.assets.reporting import png_markdown
from finpulse_assets.monitoring.plots import errors_over_time_png, forecast_vs_actual_png
from finpulse_assets.monitoring.report_store import ReportStore
from finpulse_assets.monitoring.prediction_errors import ROLLING_WINDOW, prediction_errors, summary_numbers
from finpulse_assets.partitions import TICKER_DAY_BACKFILL_POLICY, day_window_mapping
from finpulse_assets.assets.schemas import PredictionErrors

# Calendar days back that hold the ROLLING_WINDOW previous forecasts (20 trading days fit in 45).
LOOKBACK_CALENDAR_DAYS = 45



# Partition d reads the forecasts made before d (up to d - 1) and the closes up to d: nothing after d.
PREDICTIONS_MAPPING = day_window_mapping(-LOOKBACK_CALENDAR_DAYS, -1)
PRICES_MAPPING = day_window_mapping(-LOOKBACK_CALENDAR_DAYS, 0)


def build_prediction_error_assets(partitions_def):
    @asset(
        name="prediction_errors",
        partitions_def=partitions_def,
        ins={"predictions": AssetIn(partition_mapping=PREDICTIONS_MAPPING),
             "raw_prices": AssetIn(partition_mapping=PRICES_MAPPING)},
        check_specs=[schema_check_spec("prediction_errors")],
        backfill_policy=TICKER_DAY_BACKFILL_POLICY,
        group_name="monitoring",
        kinds={"pandas", "parquet"},
    )
    def prediction_errors_asset(context: AssetExecutionContext, predictions: pd.DataFrame, raw_prices: pd.DataFrame,
                                reports: ReportStore):
        """Partition d holds the forecast made at the previous trading day's close for d's close, scored
        once d's close exists: absolute and percentage error, whether the direction was right, and the
        MAE over the ticker's last 20 forecasts up to d. Per-partition numbers are metadata (the UI plots
        them by partition); the run's errors over time are a plot.
        """
        parts = run_partitions(context)
        errors = prediction_errors(predictions, raw_prices)
        days = {(p.ticker, p.day) for p in parts}
        errors = errors[[(t, d.date()) in days for t, d in zip(errors["ticker"], errors["target_date"])]]
        frames = split_by_partition(errors, parts, "target_date")
        for part, frame in frames.items():
            if len(frame):
                row = frame.iloc[0]
                context.add_asset_metadata({
                    "abs_error": MetadataValue.float(float(row["abs_error"])),
                    "pct_error": MetadataValue.float(float(row["pct_error"])),
                    "direction_hit": bool(row["direction_hit"]),
                    "rolling_mae": MetadataValue.float(float(row["rolling_mae"])),
                }, partition_key=str(part.key))
        # Each partition links its ticker's plots (served with the reports): one click from the asset page.
        for ticker, own in errors.groupby("ticker"):
            links = {f"{name}_plot": MetadataValue.url(reports.write_plot("prediction_errors", name, ticker, draw(own)))
                     for name, draw in (("forecast_vs_actual", forecast_vs_actual_png),
                                        ("errors_over_time", errors_over_time_png))}
            for part in frames:
                if part.ticker == ticker:
                    context.add_asset_metadata(links, partition_key=str(part.key))
        numbers = summary_numbers(errors)
        run_metadata = {"run_mae": MetadataValue.float(numbers["mae"]), "run_mape": MetadataValue.float(numbers["mape"]),
                        "run_direction_hit_rate": MetadataValue.float(numbers["direction_hit_rate"]),
                        "rolling_window": ROLLING_WINDOW}
        if len(errors):
            run_metadata["errors_over_time"] = png_markdown(errors_over_time_png(errors), "prediction errors")

        def why_empty(part) -> str:
            return "no forecast for this day: predictions of the previous trading day is empty or not materialized"

        yield from emit(context, frames, PredictionErrors, empty_reason=why_empty, run_metadata=run_metadata)

    return [prediction_errors_asset]
