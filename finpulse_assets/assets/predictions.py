"""predictions: the next-day forecast for every trading day, from the ONNX forecaster (no torch)."""


import numpy as np
import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetIn,
    DimensionPartitionMapping,
    Failure,
    IdentityPartitionMapping,
    MultiPartitionMapping,
    TimeWindowPartitionMapping,
    asset,
)

from finpulse_assets.assets.partitioned import emit, run_partitions, schema_check_spec, split_by_partition
from finpulse_assets.features.training_set import join_features
from finpulse_assets.market_calendar import next_trading_day
from finpulse_assets.partitions import DATE_DIM, TICKER_DAY_BACKFILL_POLICY, TICKER_DIM
from finpulse_assets.schemas import Predictions

# Calendar days of features loaded before t: a window of up to MAX_WINDOW trading days fits in them.
LOOKBACK_CALENDAR_DAYS = 60
MAX_WINDOW = 35

# predictions of day t read price_features and sentiment_features of t - LOOKBACK .. t: nothing after t.
FEATURE_WINDOW_MAPPING = MultiPartitionMapping({
    DATE_DIM: DimensionPartitionMapping(DATE_DIM, TimeWindowPartitionMapping(
        start_offset=-LOOKBACK_CALENDAR_DAYS, end_offset=0, allow_nonexistent_upstream_partitions=True)),
    TICKER_DIM: DimensionPartitionMapping(TICKER_DIM, IdentityPartitionMapping()),
})

PREDICTION_COLUMNS = ["ticker", "date", "target_date", "close", "predicted_log_return", "predicted_return",
                      "predicted_close", "model_version"]


def forecast_frame(features: pd.DataFrame, lstm_onnx: dict, days: set | None = None) -> pd.DataFrame:
    """Forecasts for every (ticker, day t) with a full window of complete features ending at t.

    `features`: joined price + sentiment rows (features.training_set.join_features).
    `days`: keep only these (ticker, date) pairs (the run's partitions).
    """
    from finpulse_assets.models.lstm.dataset import build_windows
    from finpulse_assets.models.lstm.serving import OnnxForecaster

    columns = lstm_onnx["feature_columns"]
    window = int(lstm_onnx["window"])
    empty = pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(
        PREDICTION_COLUMNS, ["str", "datetime64[ns]", "datetime64[ns]", "float", "float", "float", "float", "str"])})
    if features.empty:
        return empty
    windows = build_windows(features, columns, window, target=None)
    if days is not None and len(windows):
        keep = np.array([(t, pd.Timestamp(d).date()) in days for t, d in zip(windows.tickers, windows.dates)],
                        dtype=bool)
        windows = windows.take(keep)
    if not len(windows):
        return empty
    log_return = np.full(len(windows), np.nan)
    for key, spec in lstm_onnx["models"].items():
        rows = np.ones(len(windows), dtype=bool) if key == "*" else windows.tickers == key
        if rows.any():
            forecaster = OnnxForecaster(spec["dir"], onnx_file=spec["onnx_file"])
            log_return[rows] = forecaster.predict_windows(windows.take(rows))
    served = np.isfinite(log_return)  # per-ticker models: a ticker without its own model gets no forecast
    windows, log_return = windows.take(served), log_return[served]
    dates = pd.to_datetime(windows.dates)
    variant = "+".join(sorted({spec["variant"] for spec in lstm_onnx["models"].values()}))
    return pd.DataFrame({
        "ticker": windows.tickers.astype(str),
        "date": dates,
        "target_date": pd.to_datetime([next_trading_day(d.date()) for d in dates]),
        "close": windows.close_t,
        "predicted_log_return": log_return,
        "predicted_return": np.expm1(log_return),
        "predicted_close": windows.close_t * np.exp(log_return),
        "model_version": f"{lstm_onnx['version']}/{variant}",
    })


def build_prediction_assets(partitions_def):
    @asset(
        partitions_def=partitions_def,
        backfill_policy=TICKER_DAY_BACKFILL_POLICY,
        ins={"price_features": AssetIn(partition_mapping=FEATURE_WINDOW_MAPPING),
             "sentiment_features": AssetIn(partition_mapping=FEATURE_WINDOW_MAPPING),
             "lstm_onnx": AssetIn()},
        check_specs=[schema_check_spec("predictions")],
        group_name="forecasting",
        kinds={"onnx", "pandas", "parquet"},
    )
    def predictions(context: AssetExecutionContext, price_features: pd.DataFrame,
                    sentiment_features: pd.DataFrame, lstm_onnx: dict):
        """Next-day forecast for each trading day t from the kept ONNX variant of lstm_model (onnxruntime, no torch).

        Reads features of t and the trading days before it only (60 calendar days
        back, nothing after t). Columns: ticker, date (t), target_date (the next
        trading day), close (t), predicted_log_return, predicted_return,
        predicted_close, model_version. Days without a full window of complete
        features are empty with the reason in their metadata.
        """
        if not lstm_onnx["parity"]["passed"]:
            raise Failure(f"lstm_onnx {lstm_onnx['version']} failed its ONNX parity check "
                          f"(max abs diff {lstm_onnx['parity']['max_abs_diff']:.2e}); refusing to serve it")
        window = int(lstm_onnx["window"])
        if window > MAX_WINDOW:
            raise Failure(f"lstm_model window {window} > {MAX_WINDOW}: predictions load only "
                          f"{LOOKBACK_CALENDAR_DAYS} calendar days of features")
        parts = run_partitions(context)
        if price_features.empty or sentiment_features.empty:
            features = pd.DataFrame()
        else:
            features, _ = join_features(price_features, sentiment_features)
        out = forecast_frame(features, lstm_onnx, {(p.ticker, p.day) for p in parts})
        frames = split_by_partition(out, parts, "date")

        def why_empty(part) -> str:
            return (f"no forecast: no {window} consecutive trading days of complete price and sentiment "
                    "features up to this day")

        yield from emit(context, frames, Predictions, empty_reason=why_empty)

    return [predictions]
