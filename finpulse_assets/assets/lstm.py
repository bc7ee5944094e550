"""lstm_model and lstm_onnx: the sentiment-aware next-day forecaster and its ONNX export.

Unpartitioned for the same reason as finbert_model: one training run covers
every ticker and the whole stored history (split by date into train,
validation and test); a model per ticker x day partition would be meaningless.
"""


import shutil
import time

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetIn,
    Config,
    MetadataValue,
    Output,
    asset,
)
from pydantic import Field

from finpulse_assets.assets.reporting import mib, mlflow_tags, png_markdown, registry_text, sha256_tags
from finpulse_assets.features.training_set import model_feature_columns, sentiment_set
from finpulse_assets.models.mlflow_tracking import MlflowTracking
from finpulse_assets.models.store import ModelStore, content_key, frame_fingerprint, staged_dir
from finpulse_assets.models.integrity import file_hashes, verify_files

LSTM_REGISTERED_MODEL = "finpulse-lstm"
PARITY_CHECK = "onnx_parity"


class LSTMConfig(Config):
    """Hyper-parameters of lstm_model (see models/lstm/model.py for what each does)."""

    hidden_size: int = 32
    num_layers: int = 1
    window: int = Field(default=10, description="Trading days per input window (at most 35: predictions load "
                                                "60 calendar days of features).")
    dropout: float = 0.1
    epochs: int = 40
    patience: int = Field(default=6, description="Early stopping: epochs without a better validation loss.")
    seed: int = 0
    lr: float = 1e-3
    batch_size: int = 64
    weight_decay: float = 1e-4
    val_frac: float = Field(default=0.15, description="Fraction of the distinct dates, before the test dates, "
                                                      "for validation.")
    test_frac: float = Field(default=0.15, description="The latest fraction of the distinct dates, for test.")
    pooling: str = Field(default="auto", description="'auto' (decided on validation MAE), 'pooled' or 'per_ticker'.")
    moving_average_days: int = 5
    architecture: str = Field(default="lstm", description="'lstm' or 'alstm' (attentive LSTM as in Adv-ALSTM, "
                                                          "models/attention/alstm.py); both export and serve alike.")
    adversarial: bool = Field(default=False, description="alstm only: adversarial training on the attention latent.")
    adversarial_epsilon: float = Field(default=0.01, description="Size of the adversarial latent perturbation.")
    adversarial_beta: float = Field(default=0.5, description="Weight of the adversarial loss.")
    sentiment_features: str = Field(default="all", description="Daily sentiment inputs: 'all' of "
                                    "sentiment_features' columns, 'mean_and_count' or 'none' (price only).")
    evaluation_report: str = Field(default="", description="An evaluation.json (`make evaluate`): train its "
                                   "headline model's chosen candidate (window, pooling, inputs, network) instead of "
                                   "the fields above, and record which evaluation chose it in MLflow.")


def _params(config: LSTMConfig):
    from finpulse_assets.models.lstm.model import ARCHITECTURES, LSTMConfigParams

    if config.architecture not in ARCHITECTURES:
        raise ValueError(f"lstm_model: architecture={config.architecture!r}: expected one of {ARCHITECTURES}")
    if config.adversarial and config.architecture != "alstm":
        raise ValueError("lstm_model: adversarial=True needs architecture='alstm' (it perturbs the attention latent)")
    if config.adversarial and (config.adversarial_epsilon <= 0 or config.adversarial_beta <= 0):
        raise ValueError(f"lstm_model: adversarial training needs adversarial_epsilon > 0 and adversarial_beta > 0, "
                         f"got {config.adversarial_epsilon} and {config.adversarial_beta}")
    return LSTMConfigParams(hidden_size=config.hidden_size, num_layers=config.num_layers, window=config.window,
                            dropout=config.dropout, epochs=config.epochs, patience=config.patience, lr=config.lr,
                            batch_size=config.batch_size, weight_decay=config.weight_decay, seed=config.seed,
                            architecture=config.architecture,
                            adversarial_epsilon=config.adversarial_epsilon if config.adversarial else 0.0,
                            adversarial_beta=config.adversarial_beta if config.adversarial else 0.0)


def _flat_metrics(prefix: str, metrics: dict[str, dict]) -> dict[str, float]:
    return {f"{prefix}_{model}_{name}": value for model, row in metrics.items() for name, value in row.items()}


def build_lstm_assets():
    @asset(
        ins={"training_set": AssetIn()},
        group_name="forecasting",
        kinds={"pytorch", "mlflow"},
    )
    def lstm_model(context: AssetExecutionContext, config: LSTMConfig, training_set: pd.DataFrame,
                   mlflow: MlflowTracking, model_store: ModelStore):
        """An LSTM or attentive LSTM (`architecture`) over windows of daily price + sentiment features (the
        `sentiment_features` set) predicting the next-day log return (so close).

        Time-ordered train/validation/test split by date. One model across tickers
        or one per ticker, whichever has the lower validation MAE (recorded with
        the figures). Scored on the test split next to the LSTM without sentiment
        (ablation), the random walk and the 5-day moving average. Stored as
        safetensors + JSON under `<storage>/models/lstm/<version>`; logged to MLflow.
        """
        from finpulse_assets.models.lstm.pipeline import (
            LSTM,
            PLOT_FILE,
            RANDOM_WALK,
            fit_lstm,
            metrics_markdown,
            pooling_table,
            save_lstm_run,
        )
        from finpulse_assets.models.training_progress import reporting_to

        if training_set.empty:
            raise ValueError("lstm_model: training_set is empty; materialize the data and sentiment assets first")
        chosen_by = {}
        if config.evaluation_report:
            from finpulse_assets.evaluation.choice import chosen_lstm_config, model_card, read_report

            report, digest = read_report(config.evaluation_report)
            config = config.model_copy(update=chosen_lstm_config(report))
            chosen_by = model_card(report, digest, config.evaluation_report)
            context.log.info(f"lstm_model: training the evaluation's choice {chosen_by['finpulse.chosen_by.variant']}")
        params = _params(config)
        feature_columns = model_feature_columns(config.sentiment_features)
        version = "lstm-" + content_key(config.model_dump(), feature_columns, frame_fingerprint(training_set))
        final_dir = model_store.model_dir("lstm", version)
        started = time.perf_counter()
        with reporting_to("lstm_model", lambda step: context.log.info(step.message()), time.monotonic):
            run_result = fit_lstm(training_set, feature_columns, sentiment_set(config.sentiment_features), params,
                                  config.val_frac, config.test_frac, config.pooling, config.moving_average_days)
        train_seconds = time.perf_counter() - started
        beats_rw = run_result.beats_random_walk_on_val()
        from finpulse_assets.models.lstm.direction import validation_scales

        direction_scales = validation_scales(run_result.models, run_result.split.val)
        with staged_dir(final_dir) as out:
            save_lstm_run(run_result, out, title=f"{version}: test split, next-day close",
                                  extra={"version": version, "pooling": run_result.pooling})
        plot = (final_dir / PLOT_FILE).read_bytes()
        model_store.publish(final_dir)
        hashes = file_hashes(final_dir)

        with mlflow.start_run("lstm_model", tags=mlflow_tags(context, model_version=version)) as run:
            run.log_params(config.model_dump() | {"model_version": version, "mode": run_result.mode,
                                                  "feature_columns": ",".join(feature_columns),
                                                  "training_rows": len(training_set)})
            run.log_metrics(_flat_metrics("test", run_result.test_metrics)
                            | _flat_metrics("val", run_result.val_metrics) | {"train_seconds": train_seconds})
            for name, history in run_result.histories.items():
                safe = name.replace("/", "_")
                run.log_metric_history(f"{safe}_train_loss", history["train_loss"])
                run.log_metric_history(f"{safe}_val_loss", history["val_loss"])
            run.log_artifacts(final_dir, "model")
            run.log_artifact(final_dir / PLOT_FILE, "plots")
            run.log_text(metrics_markdown(run_result.test_metrics), "test_metrics.md")
            run.set_tags(sha256_tags(hashes) | chosen_by)
            run_id = run.run_id

        test, val = run_result.test_metrics, run_result.val_metrics
        ablation = (f"test MAE {test[LSTM]['mae']:.4f} with sentiment vs {test['lstm_no_sentiment']['mae']:.4f} "
                    f"without; directional accuracy {test[LSTM]['directional_accuracy']:.3f} vs "
                    f"{test['lstm_no_sentiment']['directional_accuracy']:.3f}")
        split = run_result.split_summary()
        context.log.info(f"lstm_model {version} ({run_result.mode}): {ablation}")
        value = {
            "model_dir": str(final_dir), "version": version, "mode": run_result.mode,
            "feature_columns": feature_columns, "window": config.window,
            "architecture": config.architecture, "config": config.model_dump(), "chosen_by": chosen_by,
            "direction_scales": direction_scales,
            "val_metrics": val, "test_metrics": test, "beats_random_walk_on_val": beats_rw,
            "pooling_reason": run_result.pooling_reason, "split": split, "mlflow_run_id": run_id,
            "sha256": hashes,
        }
        yield Output(value, metadata={
            "test_metrics": MetadataValue.md(
                f"Test split ({split['test'].get('first_day')} .. {split['test'].get('last_day')}), next-day close; "
                f"MAPE in percent; MCC of the up/not-up direction.\n\n" + metrics_markdown(test)),
            "val_metrics": MetadataValue.md(metrics_markdown(val)),
            "forecast_plot": png_markdown(plot, "forecast vs actual"),
            "pooling": run_result.mode,
            "architecture": config.architecture + (" (adversarial)" if config.adversarial else ""),
            "feature_columns": ", ".join(feature_columns),
            "pooling_reason": run_result.pooling_reason,
            "direction_scales": MetadataValue.json(direction_scales),
            "chosen_by": MetadataValue.json(chosen_by or {"finpulse.chosen_by": "configuration, not an evaluation"}),
            "pooling_validation_mae": MetadataValue.md(pooling_table(run_result.pooling)),
            "sentiment_ablation": ablation,
            "test_mae_lstm": MetadataValue.float(test[LSTM]["mae"]),
            "test_mae_random_walk": MetadataValue.float(test[RANDOM_WALK]["mae"]),
            "val_mae_lstm": MetadataValue.float(val[LSTM]["mae"]),
            "val_mae_random_walk": MetadataValue.float(val[RANDOM_WALK]["mae"]),
            "beats_random_walk_on_val": beats_rw,
            "split": MetadataValue.json(split),
            "training_rows": len(training_set),
            "train_seconds": MetadataValue.float(round(train_seconds, 2)),
            "model_mib": MetadataValue.float(mib(final_dir)),
            "model_version": version, "model_dir": MetadataValue.path(str(final_dir)),
            "file_sha256": MetadataValue.json(hashes),
            "forecast_plot_file": MetadataValue.path(str(final_dir / PLOT_FILE)),
            "mlflow_run_id": run_id, "mlflow_run": MetadataValue.url(mlflow.run_url(run)),
            "mlflow_tracking_uri": mlflow.resolved_tracking_uri(),
        })

    @asset(
        ins={"lstm_model": AssetIn()},
        check_specs=[AssetCheckSpec(PARITY_CHECK, asset="lstm_onnx", blocking=True,
                                    description="Largest |ONNX - torch| predicted log return on the validation and "
                                                "test windows: <= 1e-4 for fp32, <= the int8 tolerance for int8.")],
        group_name="forecasting",
        kinds={"onnx", "mlflow"},
    )
    def lstm_onnx(context: AssetExecutionContext, lstm_model: dict, mlflow: MlflowTracking, model_store: ModelStore):
        """lstm_model exported to ONNX (fp32) and dynamically quantized to int8; both measured, one kept.

        Written to `<storage>/models/lstm_onnx/<version>`: lstm_model's files plus model.onnx and
        model.int8.onnx next to each model's config.json (what OnnxForecaster reads).

        int8 is kept only when it is within tolerance AND at least 10 % faster at
        batch 1 (what serving does); otherwise fp32 (the table shows both). The
        blocking parity check covers the kept file. Passing parity and beating
        the random walk on validation MAE makes it the `champion` of
        `finpulse-lstm` in the MLflow registry; otherwise it stays a candidate.
        """
        from finpulse_assets.models.lstm.pipeline import POOLED, POOLED_KEY, export_onnx_run, variants_table

        # A self-contained serving directory (config.json, weights, ONNX files per model), apart from
        # lstm_model's, so materializing lstm_model again never removes what predictions read.
        model_dir = model_store.model_dir("lstm_onnx", lstm_model["version"])
        started = time.perf_counter()
        verify_files(lstm_model["model_dir"], lstm_model.get("sha256"), what="lstm_model")
        with staged_dir(model_dir) as out:
            shutil.copytree(lstm_model["model_dir"], out, dirs_exist_ok=True)
            reports = export_onnx_run(out)
        seconds = time.perf_counter() - started
        model_store.publish(model_dir)
        hashes = file_hashes(model_dir)
        from finpulse_assets.models.lstm.direction import PARITY_TOLERANCE, parity_bound

        worst = max(reports.values(), key=lambda r: r["parity_max_abs_diff"] / r["tolerance"])
        # The served P(up) is a function of the log return: the log return's parity bounds its difference.
        scales = lstm_model.get("direction_scales") or {}
        direction_bound = parity_bound(max(r["parity_max_abs_diff"] for r in reports.values()), scales) \
            if scales else None
        passed = all(r["passed"] for r in reports.values()) and (
            direction_bound is None or direction_bound <= PARITY_TOLERANCE)
        models = {key: {"dir": str(model_dir / (POOLED if key == POOLED_KEY else key)),
                        "onnx_file": r["onnx_file"], "variant": r["chosen"], "reason": r["reason"]}
                  for key, r in reports.items()}
        variants = sorted({r["chosen"] for r in reports.values()})

        with mlflow.start_run("lstm_onnx", parent_run_id=lstm_model["mlflow_run_id"],
                              tags=mlflow_tags(context, model_version=lstm_model["version"])) as run:
            run.log_params({"model_version": lstm_model["version"], "variants_kept": ",".join(variants),
                            "opset": 17})
            run.log_metrics({f"{v}_{name}_{POOLED if k == POOLED_KEY else k}": r[v][name]
                             for k, r in reports.items() for v in ("fp32", "int8")
                             for name in ("max_abs_diff", "latency_ms_p50", "throughput_windows_per_s", "file_bytes")}
                            | {"parity_max_abs_diff": worst["parity_max_abs_diff"], "export_seconds": seconds})
            run.log_artifacts(model_dir, "model")
            if passed and lstm_model["beats_random_walk_on_val"]:
                registry = mlflow.register_champion(LSTM_REGISTERED_MODEL, run, "model", tags={
                    "model_version": lstm_model["version"], "mode": lstm_model["mode"],
                    "val_mae": lstm_model["val_metrics"]["lstm"]["mae"],
                    "val_mae_random_walk": lstm_model["val_metrics"]["random_walk"]["mae"]})
            else:
                reasons = []
                if not passed:
                    reasons.append(f"parity failed (max abs diff {worst['parity_max_abs_diff']:.2e} > "
                                   f"{worst['tolerance']:.0e})")
                if not lstm_model["beats_random_walk_on_val"]:
                    reasons.append(f"validation MAE {lstm_model['val_metrics']['lstm']['mae']:.4f} does not beat the "
                                   f"random walk's {lstm_model['val_metrics']['random_walk']['mae']:.4f}")
                registry = {"status": "candidate", "reason": "; ".join(reasons)}
            run.set_tags({"finpulse.registry_status": registry["status"]} | sha256_tags(hashes))
            run_id = run.run_id

        value = {
            "model_dir": str(model_dir), "version": lstm_model["version"], "mode": lstm_model["mode"], "sha256": hashes,
            "window": lstm_model["window"], "feature_columns": lstm_model["feature_columns"], "models": models,
            "parity": {"passed": passed, "max_abs_diff": worst["parity_max_abs_diff"],
                       "tolerance": worst["tolerance"]},
            "registry": registry, "mlflow_run_id": run_id, "mlflow_parent_run_id": lstm_model["mlflow_run_id"],
            "chosen_by": lstm_model.get("chosen_by", {}), "direction_scales": scales,
            "direction_parity_bound": direction_bound,
        }
        yield Output(value, metadata={
            "variants": MetadataValue.md(variants_table(reports)),
            "kept": ", ".join(f"{'pooled' if k == POOLED_KEY else k}: {m['variant']} ({m['reason']})"
                              for k, m in models.items()),
            "parity_max_abs_diff": MetadataValue.float(worst["parity_max_abs_diff"]),
            "parity_tolerance": MetadataValue.float(worst["tolerance"]),
            "registry": registry_text(registry),
            "registry_status": registry["status"],  # what the packaging sensor reads
            "export_seconds": MetadataValue.float(round(seconds, 2)),
            "model_version": lstm_model["version"], "model_dir": MetadataValue.path(str(model_dir)),
            "file_sha256": MetadataValue.json(hashes),
            "mlflow_run_id": run_id, "mlflow_parent_run_id": lstm_model["mlflow_run_id"],
            "mlflow_run": MetadataValue.url(mlflow.run_url(run)),
        })
        yield AssetCheckResult(
            check_name=PARITY_CHECK, passed=passed, severity=AssetCheckSeverity.ERROR,
            metadata={"max_abs_diff": MetadataValue.float(worst["parity_max_abs_diff"]),
                      "direction_probability_max_abs_diff_bound": MetadataValue.float(
                          direction_bound if direction_bound is not None else float("nan")),
                      "tolerance": MetadataValue.float(worst["tolerance"]),
                      "variant": ", ".join(variants)})

    return lstm_model, lstm_onnx
