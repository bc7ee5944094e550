"""PNG plots of monitoring figures for asset metadata: one panel per ticker, never one line through all."""

from __future__ import annotations

import io

import pandas as pd


def per_ticker_png(frame: pd.DataFrame, day_column: str, lines: list[tuple[str, str, str]], ylabel: str) -> bytes:
    """`lines`: (column, matplotlib format, label) drawn against `day_column`, one panel per ticker."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tickers = sorted(frame["ticker"].unique())
    fig, axes = plt.subplots(len(tickers), 1, figsize=(9, 2.6 * len(tickers)), squeeze=False, sharex=True)
    for ax, ticker in zip(axes[:, 0], tickers):
        own = frame[frame["ticker"] == ticker].sort_values(day_column)
        for column, style, label in lines:
            ax.plot(own[day_column], own[column], style, label=label)
        ax.set_title(ticker, fontsize=9)
        ax.set_ylabel(ylabel)
    axes[0, 0].legend(fontsize=8, loc="upper left")
    fig.autofmt_xdate()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    plt.close(fig)
    return buffer.getvalue()


def errors_over_time_png(errors: pd.DataFrame) -> bytes:
    """Absolute error per forecast and its rolling MAE, one panel per ticker, by target day."""
    return per_ticker_png(errors, "target_date", [("abs_error", ".", "|predicted - actual| close"),
                                                  ("rolling_mae", "-", "rolling MAE")], "dollars")


def drift_over_time_png(reports: pd.DataFrame) -> bytes:
    """Drift share of all model inputs and of the sentiment inputs, one panel per ticker, by day."""
    return per_ticker_png(reports, "date", [("drift_share", ".-", "drift share (all inputs)"),
                                            ("sentiment_drift_share", "x--", "sentiment drift share")], "share")


def forecast_vs_actual_png(errors: pd.DataFrame) -> bytes:
    """The forecast close against the close that came, by target day, one panel per ticker."""
    return per_ticker_png(errors, "target_date", [("actual_close", "-", "actual close"),
                                                  ("predicted_close", ".--", "forecast close")], "dollars")
