"""Each forecast against the close it forecast: absolute and percentage error, direction, rolling MAE.

A forecast made at the close of t targets t+1 (`target_date`); its error exists
once t+1's close does. Rows are keyed by `target_date`, the day whose data
completes them, so a partition never needs recomputing when a later day arrives.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

ROLLING_WINDOW = 20  # forecasts per ticker in the rolling MAE
ERROR_COLUMNS = ["ticker", "date", "target_date", "close", "predicted_close", "actual_close", "abs_error",
                 "pct_error", "direction_hit", "rolling_mae", "model_version"]


def prediction_errors(predictions: pd.DataFrame, prices: pd.DataFrame, window: int = ROLLING_WINDOW) -> pd.DataFrame:
    """`predictions` (ticker, date, target_date, close, predicted_close, model_version) joined with
    `prices` (ticker, date, close) on the target day; forecasts without an actual close yet are left out."""
    for name, frame, needed in (("predictions", predictions, ["ticker", "date", "target_date", "close",
                                                              "predicted_close", "model_version"]),
                                ("prices", prices, ["ticker", "date", "close"])):
        missing = [c for c in needed if c not in frame]
        if missing and len(frame.columns):
            raise ValueError(f"prediction_errors: {name} lacks columns {missing}")
    if predictions.empty or prices.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in ERROR_COLUMNS}).astype(_dtypes())
    actual = prices[["ticker", "date", "close"]].rename(columns={"date": "target_date", "close": "actual_close"})
    actual = actual.assign(target_date=pd.to_datetime(actual["target_date"]))
    joined = predictions.assign(target_date=pd.to_datetime(predictions["target_date"]),
                                date=pd.to_datetime(predictions["date"]))
    joined = joined.merge(actual, on=["ticker", "target_date"], how="inner", validate="many_to_one")
    joined = joined.sort_values(["ticker", "target_date"], kind="stable").reset_index(drop=True)
    error = joined["predicted_close"] - joined["actual_close"]
    joined["abs_error"] = error.abs()
    joined["pct_error"] = 100.0 * error / joined["actual_close"]
    # A direction hit: the forecast and the actual close moved the same way from t's close (flat counts as down).
    joined["direction_hit"] = ((joined["predicted_close"] > joined["close"])
                               == (joined["actual_close"] > joined["close"]))
    joined["rolling_mae"] = (joined.groupby("ticker")["abs_error"]
                             .transform(lambda s: s.rolling(window, min_periods=1).mean()))
    return joined[ERROR_COLUMNS].astype(_dtypes())


def _dtypes() -> dict:
    return {"ticker": str, "date": "datetime64[ns]", "target_date": "datetime64[ns]", "close": float,
            "predicted_close": float, "actual_close": float, "abs_error": float, "pct_error": float,
            "direction_hit": bool, "rolling_mae": float, "model_version": str}


def summary_numbers(errors: pd.DataFrame) -> dict:
    """MAE, mean absolute percentage error and hit rate of a frame of errors (NaN when empty)."""
    if errors.empty:
        return {"mae": np.nan, "mape": np.nan, "direction_hit_rate": np.nan, "forecasts": 0}
    return {"mae": float(errors["abs_error"].mean()), "mape": float(errors["pct_error"].abs().mean()),
            "direction_hit_rate": float(errors["direction_hit"].mean()), "forecasts": len(errors)}
