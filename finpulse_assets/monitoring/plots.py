"""PNG plots of monitoring figures for asset metadata."""

from __future__ import annotations

import io

import pandas as pd


def errors_over_time_png(errors: pd.DataFrame) -> bytes:
    """Absolute error per forecast and its rolling MAE, one panel per ticker, by target day."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tickers = sorted(errors["ticker"].unique())
    fig, axes = plt.subplots(len(tickers), 1, figsize=(9, 2.6 * len(tickers)), squeeze=False, sharex=True)
    for ax, ticker in zip(axes[:, 0], tickers):
        own = errors[errors["ticker"] == ticker].sort_values("target_date")
        ax.plot(own["target_date"], own["abs_error"], ".", color="0.6", label="|predicted - actual| close")
        ax.plot(own["target_date"], own["rolling_mae"], "-", color="tab:red", label="rolling MAE")
        ax.set_title(ticker, fontsize=9)
        ax.set_ylabel("dollars")
    axes[0, 0].legend(fontsize=8, loc="upper left")
    fig.autofmt_xdate()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    plt.close(fig)
    return buffer.getvalue()
