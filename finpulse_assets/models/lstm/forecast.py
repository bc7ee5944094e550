"""Next-day forecasts from feature windows with the kept ONNX variant(s) of an `lstm_onnx` export.

Shared by the `predictions` asset and the BentoML service, so both turn the
same windows into the same numbers. numpy, pandas and onnxruntime only: no
torch, no dagster (the serving image has neither).

`lstm_onnx` is the JSON document the `lstm_onnx` asset returns: `version`,
`window`, `feature_columns` and `models` {key: {dir, onnx_file, variant}},
where key is "*" for one pooled model or a ticker for per-ticker models.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from finpulse_assets.features.market_calendar import next_trading_day
from finpulse_assets.models.lstm.dataset import Windows, build_windows
from finpulse_assets.models.integrity import verify_files
from finpulse_assets.models.lstm.serving import CONFIG_FILE, OnnxForecaster

POOLED_KEY = "*"
PREDICTION_COLUMNS = ["ticker", "date", "target_date", "close", "predicted_log_return", "predicted_return",
                      "predicted_close", "model_version"]


class ForecastModels:
    """The ONNX sessions of one `lstm_onnx` export, loaded once; a window goes to its ticker's model."""

    def __init__(self, lstm_onnx: Mapping, intra_op_num_threads: int | None = None):
        self.version = str(lstm_onnx["version"])
        self.window = int(lstm_onnx["window"])
        self.feature_columns = tuple(lstm_onnx["feature_columns"])
        self.forecasters = {key: OnnxForecaster(spec["dir"], onnx_file=spec["onnx_file"],
                                                intra_op_num_threads=intra_op_num_threads)
                            for key, spec in lstm_onnx["models"].items()}
        variants = sorted({spec["variant"] for spec in lstm_onnx["models"].values()})
        self.model_version = f"{self.version}/{'+'.join(variants)}"

    @property
    def pooled(self) -> bool:
        return POOLED_KEY in self.forecasters

    def serves(self, ticker: str) -> bool:
        return self.pooled or ticker in self.forecasters

    def predict_log_return(self, windows: Windows, tickers: np.ndarray | None = None) -> np.ndarray:
        """Predicted next-day log return per window; NaN where the ticker has no model.

        `tickers` defaults to the windows' own tickers (the serving path keys its
        windows by request item and passes the real tickers here).
        """
        tickers = windows.tickers if tickers is None else np.asarray(tickers)
        log_return = np.full(len(windows), np.nan)
        for key, forecaster in self.forecasters.items():
            rows = np.ones(len(windows), dtype=bool) if key == POOLED_KEY else tickers == key
            if rows.any():
                log_return[rows] = forecaster.predict_windows(windows.take(rows))
        return log_return


def verify_export(lstm_onnx: Mapping) -> None:
    """Refuse an export whose served files (each model's config.json and kept ONNX file) changed since
    `lstm_onnx` recorded their sha256 (models.integrity)."""
    from pathlib import Path

    root = Path(lstm_onnx["model_dir"])
    names = [(Path(spec["dir"]) / name).relative_to(root).as_posix()
             for spec in lstm_onnx["models"].values() for name in (CONFIG_FILE, spec["onnx_file"])]
    verify_files(root, lstm_onnx.get("sha256"), names, what=f"lstm_onnx {lstm_onnx['version']}")


def empty_forecasts() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(
        PREDICTION_COLUMNS, ["str", "datetime64[ns]", "datetime64[ns]", "float", "float", "float", "float", "str"])})


def forecast_frame(features: pd.DataFrame, lstm_onnx: Mapping, days: set | None = None,
                   models: ForecastModels | None = None) -> pd.DataFrame:
    """Forecasts for every (ticker, day t) with a full window of complete features ending at t.

    `features`: joined price + sentiment rows (features.training_set.join_features).
    `days`: keep only these (ticker, date) pairs (the run's partitions).
    `models`: sessions already loaded from `lstm_onnx` (the service loads them once).
    """
    if features.empty:
        return empty_forecasts()
    models = models or ForecastModels(lstm_onnx)
    windows = build_windows(features, list(models.feature_columns), models.window, target=None)
    if days is not None and len(windows):
        keep = np.array([(t, pd.Timestamp(d).date()) in days for t, d in zip(windows.tickers, windows.dates)],
                        dtype=bool)
        windows = windows.take(keep)
    if not len(windows):
        return empty_forecasts()
    log_return = models.predict_log_return(windows)
    served = np.isfinite(log_return)  # per-ticker models: a ticker without its own model gets no forecast
    windows, log_return = windows.take(served), log_return[served]
    dates = pd.to_datetime(windows.dates)
    return pd.DataFrame({
        "ticker": windows.tickers.astype(str),
        "date": dates,
        "target_date": pd.to_datetime([next_trading_day(d.date()) for d in dates]),
        "close": windows.close_t,
        "predicted_log_return": log_return,
        "predicted_return": np.expm1(log_return),
        "predicted_close": windows.close_t * np.exp(log_return),
        "model_version": models.model_version,
    })
