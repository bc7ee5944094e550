"""evaluation: forecast skill on the StockNet protocol, every variant and baseline, as an asset.

Unpartitioned: it reads the whole graph's output (training_set, vader_labels,
raw_tweets, tweet_embedding_features) once and writes `reports/evaluation.json`
+ `reports/evaluation.md` (+ one importance plot per search).
"""

import os
import time
from pathlib import Path

import pandas as pd
from dagster import AssetExecutionContext, AssetIn, Config, MetadataValue, Output, asset
from pydantic import Field

from finpulse_assets.assets.reporting import png_markdown
from finpulse_assets.models.mlflow_tracking import MlflowTracking
from finpulse_assets.settings import PROJECT_ROOT


class EvaluationConfig(Config):
    """Protocol (defaults: StockNet's), the dev-split search, network settings, where the report goes."""

    train_start: str = "2014-01-01"
    dev_start: str = "2015-08-01"
    test_start: str = "2015-10-01"
    test_end: str = Field(default="2016-01-01", description="Exclusive.")
    up_above: float = 0.0055
    down_at_or_below: float = -0.005
    variants: list[str] = Field(default=[], description="Model variants to evaluate; empty: every one the stored "
                                                        "inputs allow (embedding variants need tweet embeddings).")
    n_trials: int = Field(default=12, description="Optuna trials per variant, on the dev split.")
    search_seed: int = 0
    windows: list[int] = Field(default=[5, 10], description="Input windows (trading days) the search chooses from.")
    layouts: list[str] = Field(default=["pooled", "per_ticker"], description="One model across tickers, or one each.")
    embedding_components: list[int] = Field(default=[4, 8, 16], description="Text components the search chooses from.")
    seeds: int = Field(default=3, description="Networks averaged per head.")
    epochs: int = 40
    patience: int = 6
    batch_size: int = Field(default=64, description="Samples per optimizer step of every network fitted.")
    bootstrap_resamples: int = Field(default=2000, description="Resamples of test days for the 95 % intervals.")
    walk_forward: bool = Field(default=True, description="Also run the walk-forward evaluation (rolling origins).")
    wf_first_test: str = Field(default="2014-10-01", description="Start of the first walk-forward test window.")
    wf_step_months: int = Field(default=1, description="Months per walk-forward fold (one refit per fold).")
    wf_dev_months: int = Field(default=2, description="Each fold's own dev window, in months before its test.")
    wf_variants: list[str] = Field(default=["lstm_price_only", "lstm_price_market", "lstm_finbert",
                                            "lstm_finbert_market"],
                                   description="Variants evaluated walk-forward (each fold searches each).")
    wf_n_trials: int = Field(default=3, description="Optuna trials per variant and fold.")
    wf_seeds: int = Field(default=1, description="Networks averaged per head in the walk-forward.")
    wf_layouts: list[str] = Field(default=["pooled"], description="Layouts the walk-forward search chooses from.")
    wf_workers: int = Field(default=1, description="Processes running the walk-forward's (fold, variant) jobs side "
                                                   "by side (evaluation/fold_jobs.py); same forecasts as 1.")
    report_dir: str = str(PROJECT_ROOT / "reports")
    fit_cache_dir: str = Field(default="", description="Folder of head outputs kept by a content hash of their "
                                                       "inputs (evaluation/fit_cache.py): a rerun refits only what "
                                                       "changed. Empty: no cache.")
    dataset: str = Field(default="", description="Name of the dataset in the report.")
    graph_stage_seconds: dict[str, float] = Field(default={}, description="Seconds of the graph stages run "
                                                                          "before this one (from the CLI).")


def _settings(config: EvaluationConfig):
    from finpulse_assets.evaluation.experiment import EvaluationSettings
    from finpulse_assets.evaluation.fit_cache import FitCache
    from finpulse_assets.evaluation.protocol import Protocol
    from finpulse_assets.evaluation.search import SearchSettings
    from finpulse_assets.evaluation.selection import FitSettings
    from finpulse_assets.models.lstm.model import LSTMConfigParams

    protocol = Protocol(config.train_start, config.dev_start, config.test_start, config.test_end,
                        config.up_above, config.down_at_or_below)
    search = SearchSettings(n_trials=config.n_trials, seed=config.search_seed, windows=tuple(config.windows),
                            layouts=tuple(config.layouts), embedding_components=tuple(config.embedding_components))
    params = LSTMConfigParams(epochs=config.epochs, patience=config.patience, batch_size=config.batch_size)
    cache = FitCache(config.fit_cache_dir) if config.fit_cache_dir else None
    return EvaluationSettings(protocol, search, FitSettings(params, config.seeds, cache), config.bootstrap_resamples)


def _walk_forward_settings(config: EvaluationConfig, settings):
    from dataclasses import replace

    from finpulse_assets.evaluation.walk_forward import WalkForwardSettings

    search = replace(settings.search, n_trials=config.wf_n_trials, layouts=tuple(config.wf_layouts))
    evaluation = replace(settings, search=search, fit=replace(settings.fit, seeds=config.wf_seeds))
    return WalkForwardSettings(train_start=config.train_start, first_test=config.wf_first_test,
                               test_end=config.test_end, step_months=config.wf_step_months,
                               dev_months=config.wf_dev_months, workers=config.wf_workers, evaluation=evaluation)


def variant_frames(config: EvaluationConfig, settings, training_set: pd.DataFrame, vader_labels: pd.DataFrame,
                   raw_tweets: pd.DataFrame, daily_embeddings: pd.DataFrame) -> tuple[dict, dict]:
    """{variant: its daily frame} and {variant: why it was left out}."""
    from finpulse_assets.evaluation.candidates import VARIANTS
    from finpulse_assets.evaluation.text_features import add_text_components
    from finpulse_assets.evaluation.vader_daily import replace_sentiment
    from finpulse_assets.evaluation.look_ahead import with_audited_context
    from finpulse_assets.features.market_context import market_context

    wanted = config.variants or list(VARIANTS)
    unknown = sorted(set(wanted) - set(VARIANTS))
    if unknown:
        raise ValueError(f"unknown variants {unknown}: expected some of {list(VARIANTS)}")
    by_text, skipped = {"none": training_set, "finbert": training_set}, {}
    if any(VARIANTS[v].text == "vader" for v in wanted):
        by_text["vader"] = replace_sentiment(training_set, vader_labels, raw_tweets)
    if any(VARIANTS[v].text == "embeddings" for v in wanted):
        if daily_embeddings.empty:
            skipped |= {v: "tweet_embedding_features not materialized" for v in wanted
                        if VARIANTS[v].text == "embeddings"}
        else:
            by_text["embeddings"] = add_text_components(training_set, daily_embeddings, settings.protocol,
                                                        max(settings.search.embedding_components))
    # Market context is cross-sectional: one ticker has no market and no peers to read it from.
    tickers = training_set["ticker"].nunique() if "ticker" in training_set else 0
    if tickers < 2:
        skipped |= {v: f"market context needs at least 2 tickers; the training set has {tickers}" for v in wanted
                    if VARIANTS[v].market}
    # Every frame carries the market context (computed once per frame); only the market variants read it.
    with_context = {}
    for frame in by_text.values():
        if id(frame) not in with_context:
            with_context[id(frame)], _ = with_audited_context(frame, market_context)
    by_text = {text: with_context[id(frame)] for text, frame in by_text.items()}
    return {v: by_text[VARIANTS[v].text] for v in wanted if v not in skipped}, skipped


def build_evaluation_assets():
    @asset(ins={"training_set": AssetIn(), "vader_labels": AssetIn(), "raw_tweets": AssetIn(),
                "tweet_embedding_features": AssetIn()},
           group_name="evaluation", kinds={"pytorch", "optuna", "mlflow", "json"})
    def evaluation(context: AssetExecutionContext, config: EvaluationConfig, mlflow: MlflowTracking,
                   training_set: pd.DataFrame, vader_labels: pd.DataFrame, raw_tweets: pd.DataFrame,
                   tweet_embedding_features: pd.DataFrame):
        """Accuracy and MCC of the next-day movement with 95 % bootstrap intervals over test days, price
        MAE/RMSE and MAE over the random walk's, on the StockNet protocol's test split: majority class, random
        walk, LSTM and attentive LSTM on prices only, + VADER, + FinBERT sentiment, + tweet embeddings, and the
        ablations as paired differences. Each variant's inputs and hyper-parameters are chosen on dev by an
        Optuna study (trials in MLflow); the test split is read once."""
        from finpulse_assets.evaluation.experiment import evaluate_variants
        from finpulse_assets.evaluation.report import (
            ablation_table, dev_table, headline, pooled_table, search_table, test_table, write_report,
        )
        from finpulse_assets.evaluation.search import importance_png

        if training_set.empty:
            raise ValueError("evaluation: training_set is empty; materialize the graph first")
        started = time.perf_counter()
        settings = _settings(config)
        frames, skipped = variant_frames(config, settings, training_set, vader_labels, raw_tweets,
                                         tweet_embedding_features)
        for name, reason in skipped.items():
            context.log.warning(f"evaluation: {name} left out: {reason}")
        results = evaluate_variants(frames, settings, tracker=mlflow)
        context.log.info(f"evaluation: StockNet split done in {time.perf_counter() - started:.0f} s")
        walk = None
        if config.walk_forward:
            from finpulse_assets.evaluation.walk_forward import interval_widths, walk_forward

            wf_frames = {v: frames[v] for v in config.wf_variants if v in frames}
            if not wf_frames:
                raise ValueError(f"walk-forward: none of wf_variants {config.wf_variants} was evaluated")
            walk = walk_forward(wf_frames, _walk_forward_settings(config, settings), progress=lambda fold: context.log.info(
                f"walk-forward fold {fold['fold']} ({fold['test_start']}..{fold['test_end']}): "
                f"{fold['test_samples']} samples, {fold['seconds']} s"))
            walk["interval_widths"] = {"walk_forward": interval_widths(walk),
                                       "stocknet_split": interval_widths(results)}
        seconds = time.perf_counter() - started
        stages = dict(config.graph_stage_seconds)
        runtime = {"graph_stage_seconds": {k: round(v, 1) for k, v in stages.items()},
                   "evaluation_seconds": round(seconds, 1), "total_seconds": round(sum(stages.values()) + seconds, 1),
                   "cpu_count": os.cpu_count(), "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
                   **({"fit_cache": settings.fit.cache.counts()} if settings.fit.cache else {})}
        report_dir = Path(config.report_dir)
        report_dir.mkdir(parents=True, exist_ok=True)
        plots, plot_metadata = {}, {}
        for name, entry in results["dev"].items():
            if "importances" in entry["study"]:
                png = importance_png(name, entry["study"]["importances"])
                path = report_dir / f"evaluation_importance_{name}.png"
                path.write_bytes(png)
                plots[name] = path.name
                plot_metadata[f"importance_{name}"] = png_markdown(png, f"{name} hyper-parameter importance")
        h = headline(results)
        report = {"dataset": config.dataset, "tickers": sorted(training_set["ticker"].unique()),
                  "test": h, "protocol": settings.protocol.as_dict(),
                  "majority_label": results["majority_label"], "splits": results["splits"],
                  "test_samples_scored": results["test_samples_scored"], "variants_test": results["test"],
                  "ablations": results["ablations"], "bootstrap": results["bootstrap"],
                  "variants_left_out": skipped, "dev": results["dev"], "importance_plots": plots,
                  "walk_forward": walk,
                  "seconds": results["seconds"], "runtime": runtime}
        json_path, md_path = write_report(report, report_dir)
        yield Output({**report, "json_path": str(json_path), "md_path": str(md_path)}, metadata={
            "finpulse_model": h["model"],
            "test_accuracy": h["accuracy"], "test_accuracy_ci95": MetadataValue.json(h["accuracy_ci"]),
            "test_mcc": h["mcc"], "test_mcc_ci95": MetadataValue.json(h["mcc_ci"]),
            "test_mae_ratio_random_walk": h["mae_ratio_random_walk"], "test_n_samples": h["n_samples"],
            "test_pooled": MetadataValue.md(pooled_table(results["test"], h["model"])),
            "ablations": MetadataValue.md(ablation_table(results["ablations"])),
            "test_table": MetadataValue.md(test_table(results["test"], h["model"])),
            "searches": MetadataValue.md(search_table(results["dev"])),
            "best_trials": MetadataValue.json({n: e["study"]["best_trial"] for n, e in results["dev"].items()}),
            "dev_trials": MetadataValue.md(dev_table(results["dev"])),
            **plot_metadata,
            "splits": MetadataValue.json(results["splits"]),
            **({"walk_forward_pooled": MetadataValue.md(pooled_table(walk["test"], walk["finpulse_variant"])),
                "walk_forward_ablations": MetadataValue.md(ablation_table(walk["ablations"]))} if walk else {}),
            "runtime": MetadataValue.json(runtime),
            "report": MetadataValue.path(str(json_path)),
        })

    return [evaluation]
