"""drift_report: per ticker x trading day, Evidently data drift of the model inputs against the training reference."""

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetIn,
    Config,
    MetadataValue,
    asset,
)
from pydantic import Field

from finpulse_assets.assets.partitioned import emit, run_partitions, schema_check_spec
from finpulse_assets.assets.reporting import png_markdown
from finpulse_assets.features.training_set import MODEL_FEATURE_COLUMNS, SENTIMENT_FEATURE_COLUMNS, join_features
from finpulse_assets.features.market_calendar import closure_reason
from finpulse_assets.monitoring.drift import COLUMN_P_VALUE, drift_inputs, run_drift_report
from finpulse_assets.monitoring.plots import drift_over_time_png
from finpulse_assets.monitoring.report_store import ReportStore
from finpulse_assets.partitions import TICKER_DAY_BACKFILL_POLICY, day_window_mapping
from finpulse_assets.assets.schemas import DriftReport

# Calendar days of features loaded up to t: room for a window of up to MAX_WINDOW_DAYS trading days.
LOOKBACK_CALENDAR_DAYS = 45
MAX_WINDOW_DAYS = 28

WINDOW_MAPPING = day_window_mapping(-LOOKBACK_CALENDAR_DAYS, 0)


ROW_DTYPES = {"ticker": str, "date": "datetime64[ns]", "window_start": "datetime64[ns]", "window_rows": "int64",
              "reference_rows": "int64", "reference_end": "datetime64[ns]", "drift_share": float,
              "drifted_count": "int64", "sentiment_drift_share": float, "drifted_columns": str, "model_version": str,
              "report_file": str}


class DriftConfig(Config):
    window_days: int = Field(default=20, description=f"Trading days in the current window (at most {MAX_WINDOW_DAYS}).")
    column_p_value: float = Field(default=COLUMN_P_VALUE, description="A column drifts when its K-S p-value is at "
                                                                      "or below this.")
    min_reference_rows: int = Field(default=60, description="Fewer training rows before the window: no report.")


def build_drift_assets(partitions_def):
    @asset(
        partitions_def=partitions_def,
        ins={"price_features": AssetIn(partition_mapping=WINDOW_MAPPING),
             "sentiment_features": AssetIn(partition_mapping=WINDOW_MAPPING),
             "training_set": AssetIn(), "lstm_model": AssetIn()},
        check_specs=[schema_check_spec("drift_report")],
        backfill_policy=TICKER_DAY_BACKFILL_POLICY,
        group_name="monitoring",
        kinds={"evidently", "pandas", "parquet"},
    )
    def drift_report(context: AssetExecutionContext, config: DriftConfig, price_features: pd.DataFrame,
                     sentiment_features: pd.DataFrame, training_set: pd.DataFrame, lstm_model: dict,
                     reports: ReportStore):
        """Evidently data drift (DataDriftPreset's metrics): the ticker's last `window_days` trading days of model inputs (price and
        sentiment features up to t) against the rows of lstm_model's training split dated before that window.

        Reported for trading days after the training split (inside it the window is part of the
        reference). The HTML report is written under storage/reports and linked as `report`; the drift share
        (all inputs), the sentiment drift share and the drifted columns are metadata, which the
        drift retraining sensor reads.
        """
        if not 2 <= config.window_days <= MAX_WINDOW_DAYS:
            raise ValueError(f"drift_report window_days={config.window_days}: expected 2..{MAX_WINDOW_DAYS} "
                             f"(it loads {LOOKBACK_CALENDAR_DAYS} calendar days of features)")
        train_split = lstm_model.get("split", {}).get("train", {})
        if "last_day" not in train_split:
            raise ValueError(f"drift_report: lstm_model {lstm_model.get('version')} records no training split "
                             f"last_day (split: {lstm_model.get('split')}); rematerialize lstm_model")
        reference_end = pd.Timestamp(train_split["last_day"]).date()
        version = lstm_model["version"]
        if price_features.empty or sentiment_features.empty:
            features = pd.DataFrame(columns=["ticker", "date", "history_complete", *MODEL_FEATURE_COLUMNS])
        else:
            features, _ = join_features(price_features, sentiment_features)
        features = features[features["history_complete"].astype(bool)]
        training = training_set[training_set["history_complete"].astype(bool)]
        frames, reasons = {}, {}
        for part in run_partitions(context):
            row, reason = _report_one(context, config, reports, features, training, part, reference_end, version)
            frames[part] = pd.DataFrame([row] if row else [], columns=list(ROW_DTYPES)).astype(ROW_DTYPES)
            reasons[part] = reason
        reported = pd.concat([f for f in frames.values() if len(f)] or [pd.DataFrame()], ignore_index=True)
        for ticker, own in reported.groupby("ticker") if len(reported) else []:
            url = reports.write_plot("drift_report", "drift_over_time", ticker, drift_over_time_png(own))
            for part in frames:
                if part.ticker == ticker:
                    context.add_asset_metadata({"drift_over_time_plot": MetadataValue.url(url)},
                                               partition_key=str(part.key))
        run_metadata = {"drift_over_time": png_markdown(drift_over_time_png(reported), "drift share per ticker")} \
            if len(reported) else {}
        yield from emit(context, frames, DriftReport, empty_reason=lambda p: reasons[p], run_metadata=run_metadata)

    return [drift_report]


def _report_one(context, config, reports, features, training, part, reference_end, version):
    """(row, None) with the report written, or (None, why there is none)."""
    if closure_reason(part.day):
        return None, None
    if part.day <= reference_end:
        return None, f"inside lstm_model's training split (up to {reference_end}): drift is reported for later days"
    inputs = drift_inputs(features, training, part.ticker, part.day, config.window_days, reference_end)
    if len(inputs.current) < config.window_days:
        return None, f"{len(inputs.current)} of {config.window_days} window days have complete features"
    if len(inputs.reference) < config.min_reference_rows:
        return None, (f"{len(inputs.reference)} training rows of {part.ticker} before the window "
                      f"(at least {config.min_reference_rows} needed)")
    snapshot, summary = run_drift_report(inputs.current, inputs.reference, MODEL_FEATURE_COLUMNS,
                                         config.column_p_value, timestamp=pd.Timestamp(part.day).to_pydatetime())
    path = reports.write_snapshot_html(snapshot, reports.drift_report_path(part.ticker, part.day))
    sentiment_share = summary.share_of(SENTIMENT_FEATURE_COLUMNS)
    context.add_asset_metadata({
        "drift_share": MetadataValue.float(summary.drift_share),
        "drifted_count": MetadataValue.int(summary.drifted_count),
        "sentiment_drift_share": MetadataValue.float(sentiment_share),
        "drifted_columns": ", ".join(summary.drifted_columns) or "none",
        "report": MetadataValue.url(reports.url_for(path)),
        "report_file": MetadataValue.text(str(path)),  # the `report` URL opens it; a file path cannot
        "model_version": version,
    }, partition_key=str(part.key))
    return {
        "ticker": part.ticker, "date": pd.Timestamp(part.day), "window_start": pd.Timestamp(inputs.window_start),
        "window_rows": len(inputs.current), "reference_rows": len(inputs.reference),
        "reference_end": pd.Timestamp(inputs.reference["date"].max()), "drift_share": summary.drift_share,
        "drifted_count": summary.drifted_count, "sentiment_drift_share": sentiment_share,
        "drifted_columns": ",".join(summary.drifted_columns), "model_version": version, "report_file": str(path),
    }, None
