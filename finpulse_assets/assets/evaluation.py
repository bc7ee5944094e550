"""evaluation: forecast skill on the StockNet protocol, every variant and baseline, as an asset.

Unpartitioned: it reads the whole graph's output (training_set, vader_labels,
raw_tweets) once and writes `reports/evaluation.json` + `reports/evaluation.md`.
"""

import os
import time
from pathlib import Path

import pandas as pd
from dagster import AssetExecutionContext, AssetIn, Config, MetadataValue, Output, asset
from pydantic import Field

from finpulse_assets.settings import PROJECT_ROOT


class EvaluationConfig(Config):
    """Protocol (defaults: StockNet's), the dev-split choices, LSTM settings, where the report goes."""

    train_start: str = "2014-01-01"
    dev_start: str = "2015-08-01"
    test_start: str = "2015-10-01"
    test_end: str = Field(default="2016-01-01", description="Exclusive.")
    up_above: float = 0.0055
    down_at_or_below: float = -0.005
    windows: list[int] = Field(default=[5, 10], description="Input windows (trading days) chosen between on dev.")
    layouts: list[str] = Field(default=["pooled", "per_ticker"], description="One model across tickers, or one each.")
    sentiment_sets: list[str] = Field(default=["all", "mean_and_count"],
                                      description="Daily sentiment aggregations chosen between on dev.")
    seeds: int = Field(default=3, description="LSTMs averaged per head.")
    hidden_size: int = 32
    epochs: int = 40
    patience: int = 6
    lr: float = 1e-3
    report_dir: str = str(PROJECT_ROOT / "reports")
    dataset: str = Field(default="", description="Name of the dataset in the report.")
    graph_stage_seconds: dict[str, float] = Field(default={}, description="Seconds of the graph stages run "
                                                                          "before this one (from the CLI).")


def _settings(config: EvaluationConfig):
    from finpulse_assets.evaluation.experiment import EvaluationSettings
    from finpulse_assets.evaluation.protocol import Protocol
    from finpulse_assets.evaluation.selection import FitSettings
    from finpulse_assets.models.lstm.model import LSTMConfigParams

    protocol = Protocol(config.train_start, config.dev_start, config.test_start, config.test_end,
                        config.up_above, config.down_at_or_below)
    params = LSTMConfigParams(hidden_size=config.hidden_size, epochs=config.epochs, patience=config.patience,
                              lr=config.lr)
    return EvaluationSettings(protocol, tuple(config.windows), tuple(config.layouts), tuple(config.sentiment_sets),
                              FitSettings(params, config.seeds))


def build_evaluation_assets():
    @asset(ins={"training_set": AssetIn(), "vader_labels": AssetIn(), "raw_tweets": AssetIn()},
           group_name="evaluation", kinds={"pytorch", "json"})
    def evaluation(context: AssetExecutionContext, config: EvaluationConfig, training_set: pd.DataFrame,
                   vader_labels: pd.DataFrame, raw_tweets: pd.DataFrame):
        """Accuracy and MCC of the next-day movement, price MAE/RMSE and MAE over the random walk's, on the
        StockNet protocol's test split: majority class, random walk, LSTM on prices only, prices + VADER
        sentiment, prices + FinBERT sentiment (FinPulse). Choices on dev only; test read once."""
        from finpulse_assets.evaluation.candidates import FINBERT, PRICE_ONLY, VADER
        from finpulse_assets.evaluation.experiment import evaluate_variants
        from finpulse_assets.evaluation.report import dev_table, headline, test_table, write_report
        from finpulse_assets.evaluation.vader_daily import replace_sentiment

        if training_set.empty:
            raise ValueError("evaluation: training_set is empty; materialize the graph first")
        started = time.perf_counter()
        settings = _settings(config)
        frames = {PRICE_ONLY: training_set, VADER: replace_sentiment(training_set, vader_labels, raw_tweets),
                  FINBERT: training_set}
        results = evaluate_variants(frames, settings)
        seconds = time.perf_counter() - started
        stages = dict(config.graph_stage_seconds)
        runtime = {"graph_stage_seconds": {k: round(v, 1) for k, v in stages.items()},
                   "evaluation_seconds": round(seconds, 1), "total_seconds": round(sum(stages.values()) + seconds, 1),
                   "cpu_count": os.cpu_count(), "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()]}
        report = {"dataset": config.dataset, "tickers": sorted(training_set["ticker"].unique()),
                  "test": headline(results), "protocol": settings.protocol.as_dict(),
                  "majority_label": results["majority_label"], "splits": results["splits"],
                  "test_samples_scored": results["test_samples_scored"], "variants_test": results["test"],
                  "dev": results["dev"], "seconds": results["seconds"], "runtime": runtime}
        json_path, md_path = write_report(report, Path(config.report_dir))
        h = report["test"]
        yield Output({**report, "json_path": str(json_path), "md_path": str(md_path)}, metadata={
            "test_accuracy": h["accuracy"], "test_mcc": h["mcc"], "test_mae_ratio_random_walk": h["mae_ratio_random_walk"],
            "test_n_samples": h["n_samples"],
            "test_table": MetadataValue.md(test_table(results["test"])),
            "dev_choices": MetadataValue.md(dev_table(results["dev"])),
            "splits": MetadataValue.json(results["splits"]),
            "runtime": MetadataValue.json(runtime),
            "report": MetadataValue.path(str(json_path)),
        })

    return [evaluation]
