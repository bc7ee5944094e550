"""bento: the champion ONNX models and the FinPulse BentoML service, built into a bento (offline)."""

import os
import time
from collections.abc import Sequence
from pathlib import Path

from dagster import AssetExecutionContext, AssetIn, Failure, MetadataValue, Output, asset

from finpulse_assets.deploy.bento_export import BentoExport

PACKAGING_JOB = "packaging_job"


def build_bento_assets(tickers: Sequence[str], storage_dir: str):
    """`tickers`: what a pooled forecaster serves (the configured tickers it was trained on).
    BentoML's stores default to <storage_dir>/bentoml when BENTOML_HOME is not set (never ~/bentoml)."""

    @asset(
        ins={"lstm_onnx": AssetIn(), "finbert_onnx": AssetIn()},
        group_name="serving",
        kinds={"bentoml", "onnx"},
    )
    def bento(context: AssetExecutionContext, lstm_onnx: dict, finbert_onnx: dict, bento_export: BentoExport):
        """The `finpulse` bento: BentoML service (POST /predict, POST /sentiment) with the champion models.

        Saves the forecaster and the int8 sentiment model into the BentoML model store
        ($BENTOML_HOME, storage/bentoml under make), then builds the bento from
        bentos/finpulse/service.py with requirements pinned to requirements.lock (no lock
        resolution against a package index). Refuses models whose ONNX parity failed or
        that are not the registry champion. Builds the serving image (`bentoml containerize`
        FROM the local base image) when FINPULSE_CONTAINERIZE names a builder (buildah,
        docker) and records its id and size; otherwise records the command that would build
        it. With object storage configured, exports the bento to s3://<bucket>/<prefix>/bentos/<tag>.bento.
        `make serve` serves the latest bento on 127.0.0.1:3030.
        """
        from finpulse_assets.deploy.images import ImageBuildFailed, containerize
        from finpulse_assets.deploy.bento_packaging import (
            ModelRefused,
            bento_mib,
            build_bento,
            models_mib,
            save_serving_models,
        )

        os.environ.setdefault("BENTOML_HOME", str(Path(storage_dir) / "bentoml"))
        started = time.perf_counter()
        try:
            model_tags = save_serving_models(lstm_onnx, finbert_onnx, tickers)
        except ModelRefused as refused:
            raise Failure(str(refused)) from refused
        versions = {"forecaster": lstm_onnx["version"], "sentiment": finbert_onnx["version"]}
        built = build_bento(labels={"forecaster_version": versions["forecaster"],
                                    "sentiment_version": versions["sentiment"]})
        tag = str(built.tag)
        try:
            container = containerize(tag)
        except ImageBuildFailed as failed:
            raise Failure(str(failed)) from failed
        # Not containerizing is the default, not a fault: the message says how to build the image.
        (context.log.info if container["status"] in ("built", "not requested") else context.log.warning)(
            container["message"])
        exported = bento_export.export(tag)
        seconds = time.perf_counter() - started
        value = {"bento_tag": tag, "bento_path": str(built.path), "model_tags": model_tags,
                 "model_versions": versions, "containerize": container, "bento_uri": exported}
        yield Output(value, metadata={
            "bento_tag": tag,
            "bento_mib": MetadataValue.float(bento_mib(built)),
            "models_mib": MetadataValue.float(models_mib(model_tags.values())),
            "bento_path": MetadataValue.path(str(built.path)),
            "model_versions": MetadataValue.json(versions),
            "bentoml_models": MetadataValue.json(model_tags),
            "containerize": container["message"],
            **({"bento_uri": MetadataValue.url(exported)} if exported else {}),
            **({"image": container["image"], "image_id": container["image_id"],
                "image_mib": MetadataValue.float(container["image_mib"])} if container["status"] == "built" else {}),
            "build_seconds": MetadataValue.float(round(seconds, 2)),
            "serve": MetadataValue.md(f"`make serve` or `bentoml serve {tag} --host 127.0.0.1`"),
        })

    return (bento,)
