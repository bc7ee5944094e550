"""Save the champion ONNX models into the BentoML model store and build the `finpulse` bento, offline.

The bento's requirements are pinned to the versions installed here (the
project's requirements.lock) and cover only what serving imports (BentoML,
ONNX Runtime, numpy, pandas, tokenizers, pydantic) and their dependencies:
no torch, no dagster. BentoML's own lock step (a resolution against a package
index) is switched off.

BentoML keeps its stores under $BENTOML_HOME (the Makefile points it at
storage/bentoml, so nothing lands in ~/bentoml).
"""

from __future__ import annotations

import importlib.metadata
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from packaging.requirements import Requirement

from finpulse_assets.deploy.images import base_image
from finpulse_assets.models.store import dir_bytes
from finpulse_assets.serving.bundle import FORECASTER_MODEL, SENTIMENT_MODEL, stage_forecaster, stage_sentiment

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BENTO_NAME = "finpulse"
SERVICE_MODULE = "bentos.finpulse.service"
SERVICE = f"{SERVICE_MODULE}:FinPulse"
# What the service imports; the bento also gets their dependencies, pinned.
SERVING_DISTRIBUTIONS = ["bentoml", "onnxruntime", "numpy", "pandas", "tokenizers", "pydantic"]
# The serving code copied into the bento: torch-free and dagster-free modules only.
SERVING_SOURCES = [
    "bentos/finpulse/service.py",
    "finpulse_assets/__init__.py",
    "finpulse_assets/runs/__init__.py",
    "finpulse_assets/runs/cpu_share.py",
    "finpulse_assets/runs/processes.py",
    "finpulse_assets/features/market_calendar.py",
    "finpulse_assets/features/__init__.py",
    "finpulse_assets/features/grouped.py",
    "finpulse_assets/features/keys.py",
    "finpulse_assets/features/price.py",
    "finpulse_assets/features/training_set.py",
    "finpulse_assets/sentiment/__init__.py",
    "finpulse_assets/sentiment/daily.py",
    "finpulse_assets/models/__init__.py",
    "finpulse_assets/models/integrity.py",
    "finpulse_assets/models/onnx_text.py",
    "finpulse_assets/models/ort_options.py",
    "finpulse_assets/models/finbert/__init__.py",
    "finpulse_assets/models/finbert/labels.py",
    "finpulse_assets/models/finbert/scoring.py",
    "finpulse_assets/models/lstm/__init__.py",
    "finpulse_assets/models/lstm/dataset.py",
    "finpulse_assets/models/lstm/direction.py",
    "finpulse_assets/models/lstm/forecast.py",
    "finpulse_assets/models/lstm/serving.py",
    "finpulse_assets/serving/*.py",
]
BENTOML_VERSION_TAG = re.compile(r"[^a-z0-9_.-]")


class ModelRefused(ValueError):
    """A model that must not be packaged: its ONNX parity failed or it is not the registry champion."""


def check_servable(name: str, model: Mapping) -> None:
    if not model["parity"]["passed"]:
        raise ModelRefused(f"{name} {model['version']}: its ONNX parity check failed; refusing to package it")
    if model["registry"].get("status") != "champion":
        raise ModelRefused(f"{name} {model['version']} is a {model['registry'].get('status')!r}, not the "
                           f"champion ({model['registry'].get('reason', 'no reason recorded')}); refusing to "
                           "package it")


def serving_requirements(roots: Iterable[str] = SERVING_DISTRIBUTIONS) -> list[str]:
    """`name==version` for `roots` and everything they need on this platform, as installed here."""
    pins: dict[str, str] = {}
    seen: set[tuple[str, frozenset[str]]] = set()
    todo: list[tuple[str, frozenset[str]]] = [(name, frozenset()) for name in roots]
    while todo:
        name, extras = todo.pop()
        if (name.lower(), extras) in seen:
            continue
        seen.add((name.lower(), extras))
        dist = importlib.metadata.distribution(name)
        pins[dist.metadata["Name"].lower().replace("_", "-")] = dist.version
        environments = [{"extra": extra} for extra in sorted(extras | {""})]
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is None or any(req.marker.evaluate(env) for env in environments):
                todo.append((req.name, frozenset(req.extras)))
    return [f"{name}=={version}" for name, version in sorted(pins.items())]


def _tag_version(version: str) -> str:
    return BENTOML_VERSION_TAG.sub("-", version.lower())


def save_model(name: str, version: str, stage, labels: Mapping[str, str], metadata: Mapping) -> str:
    """Create `name:version` in the model store from what `stage(directory)` writes; returns the tag.

    An existing tag of the same version is replaced, so it becomes `latest` (what the bento build packs).
    """
    import bentoml
    from bentoml.exceptions import NotFound

    tag = f"{name}:{_tag_version(version)}"
    try:
        bentoml.models.delete(tag)
    except NotFound:
        pass
    with bentoml.models.create(tag, labels=dict(labels), metadata=dict(metadata)) as model:
        stage(Path(model.path))
    return tag


def save_serving_models(lstm_onnx: Mapping, finbert_onnx: Mapping, tickers: Iterable[str]) -> dict[str, str]:
    """The champion forecaster and sentiment models in the BentoML store; {"forecaster": tag, "sentiment": tag}."""
    check_servable("lstm_onnx", lstm_onnx)
    check_servable("finbert_onnx", finbert_onnx)
    tickers = list(tickers)
    forecaster = save_model(
        FORECASTER_MODEL, lstm_onnx["version"], lambda out: stage_forecaster(lstm_onnx, tickers, out),
        labels={"model_version": lstm_onnx["version"], "stage": "champion"},
        metadata={"mlflow_run_id": lstm_onnx.get("mlflow_run_id", ""), "window": int(lstm_onnx["window"])})
    sentiment = save_model(
        SENTIMENT_MODEL, finbert_onnx["version"], lambda out: stage_sentiment(finbert_onnx, out),
        labels={"model_version": finbert_onnx["version"], "stage": "champion"},
        metadata={"mlflow_run_id": finbert_onnx.get("mlflow_run_id", "")})
    return {"forecaster": forecaster, "sentiment": sentiment}


def forget_service() -> None:
    """Drop the imported service module: it resolves `<model>:latest` at import, so a module cached by an
    earlier build or test in this process would hold the models that were latest then."""
    sys.modules.pop(SERVICE_MODULE, None)


def build_bento(labels: Mapping[str, str] | None = None):
    """Build the `finpulse` bento from the project sources and the latest saved models; returns the Bento."""
    import bentoml

    forget_service()
    return bentoml.bentos.build(
        SERVICE, name=BENTO_NAME, build_ctx=str(PROJECT_ROOT), include=SERVING_SOURCES,
        exclude=["__pycache__", "*.pyc"], labels=dict(labels or {}),
        python={"packages": serving_requirements(), "lock_packages": False},
        # The local Debian base (`make images`): no registry is reachable here to pull python:3.11-slim from.
        docker={"base_image": base_image()},
    )


def bento_mib(bento) -> float:
    return round(dir_bytes(bento.path) / 2**20, 2)


def models_mib(tags: Iterable[str]) -> float:
    """Size of saved models: BentoML 1.4 bentos reference them in the model store, images copy them in."""
    import bentoml

    return round(sum(dir_bytes(bentoml.models.get(tag).path) for tag in tags) / 2**20, 2)
