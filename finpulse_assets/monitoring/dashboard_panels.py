"""The panels of every ticker's dashboard project (Evidently 0.7: `DashboardPanelPlot`s of `PanelMetric`s).

Drift and sentiment drift shares come with the threshold that triggers a retrain (the forecaster's and
FinBERT's, drift_retrain_sensor), drawn from the day summaries (day_summaries.py), so days without a
report are gaps on a line that covers every calendar day.
"""

from __future__ import annotations

from finpulse_assets.monitoring.day_summaries import (
    DRIFT_SHARE,
    DRIFT_THRESHOLD,
    NEW_MODEL_VERSION,
    SENTIMENT_DRIFT_SHARE,
    SENTIMENT_DRIFT_THRESHOLD,
)

DRIFT_COUNT = "evidently:metric_v2:DriftedColumnsCount"
MEAN_VALUE = "evidently:metric_v2:MeanValue"
TAB = "General"


def _mean(legend: str, column: str):
    from evidently.sdk.models import PanelMetric

    return PanelMetric(legend=legend, metric=MEAN_VALUE, metric_labels={"column": column})


def panels() -> list:
    from evidently.sdk.models import PanelMetric
    from evidently.sdk.panels import bar_plot_panel, line_plot_panel

    return [
        line_plot_panel(title="Drift share of the model inputs", size="half", description=(
            "Share of the price and sentiment features whose 20-day window drifted from the training split "
            "(K-S, p <= 0.01), one point per reported day; at the threshold line drift_retrain_sensor retrains "
            "the forecaster (FINPULSE_DRIFT_SHARE_THRESHOLD). Gaps: days without a report (closed, or too "
            "little history)."),
            values=[_mean("drift share", DRIFT_SHARE), _mean("retrain threshold", DRIFT_THRESHOLD)]),
        line_plot_panel(title="Sentiment drift share", size="half", description=(
            "Share of the sentiment features that drifted; at the threshold line the retrain includes FinBERT "
            "(FINPULSE_SENTIMENT_DRIFT_SHARE_THRESHOLD)."),
            values=[_mean("sentiment drift share", SENTIMENT_DRIFT_SHARE),
                    _mean("FinBERT retrain threshold", SENTIMENT_DRIFT_THRESHOLD)]),
        bar_plot_panel(title="Drifted columns", size="half", description="Number of model inputs that drifted.",
                       values=[PanelMetric(legend="drifted columns", metric=DRIFT_COUNT,
                                           metric_labels={"value_type": "count"})]),
        bar_plot_panel(title="Forecaster versions", size="half", description=(
            "A bar on the first reported day whose drift report compares against a new lstm_model version (a "
            "retrain reached the reports); hover a day for its version (the snapshot's tag)."),
            values=[_mean("new lstm_model version", NEW_MODEL_VERSION)]),
        line_plot_panel(title="Prediction error (dollars)", size="full", description=(
            "|predicted - actual| close of each forecast, by target day, and the MAE of the last 20 forecasts."),
            values=[_mean("absolute error", "abs_error"), _mean("rolling MAE", "rolling_mae")]),
    ]


def dashboard():
    """The whole dashboard: one tab with every panel."""
    from evidently.sdk.models import DashboardModel, DashboardTabModel

    all_panels = panels()
    return DashboardModel(tabs=[DashboardTabModel(title=TAB, panels=[p.id for p in all_panels])], panels=all_panels)
