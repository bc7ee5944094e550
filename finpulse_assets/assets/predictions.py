"""predictions: the next-day forecast for every trading day, from the ONNX forecaster (no torch)."""


import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetIn,
    Failure,
    asset,
)

from finpulse_assets.assets.partitioned import emit, run_partitions, schema_check_spec, split_by_partition
from finpulse_assets.features.training_set import join_features
# forecast_frame lives in a dagster-free module: the BentoML service serves with the same code.
from finpulse_assets.models.store import ModelStore
from finpulse_assets.models.integrity import ModelIntegrityError
from finpulse_assets.models.lstm.forecast import forecast_frame, verify_export
from finpulse_assets.partitions import TICKER_DAY_BACKFILL_POLICY, day_window_mapping
from finpulse_assets.assets.schemas import Predictions

# Calendar days of features loaded before t: a window of up to MAX_WINDOW trading days fits in them.
LOOKBACK_CALENDAR_DAYS = 60
MAX_WINDOW = 35

# predictions of day t read price_features and sentiment_features of t - LOOKBACK .. t: nothing after t.
FEATURE_WINDOW_MAPPING = day_window_mapping(-LOOKBACK_CALENDAR_DAYS, 0)


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
                    sentiment_features: pd.DataFrame, lstm_onnx: dict, model_store: ModelStore):
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
        model_store.ensure_local(lstm_onnx["model_dir"])  # trained elsewhere: fetched from object storage
        try:
            verify_export(lstm_onnx)
        except ModelIntegrityError as exc:
            raise Failure(f"predictions: {exc}") from exc
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
