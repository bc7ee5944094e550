"""Small helpers the model assets share: run tags, embedded plots, file sizes as metadata."""

from __future__ import annotations

import base64
from pathlib import Path

from dagster import AssetExecutionContext, MetadataValue


def png_markdown(png: bytes, alt: str) -> MetadataValue:
    """A PNG shown inline in the Dagster UI (Markdown with a data: URI)."""
    return MetadataValue.md(f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})")


def mlflow_tags(context: AssetExecutionContext, **extra) -> dict[str, str]:
    """Tags that lead from an MLflow run back to the Dagster run and asset that made it."""
    return {"dagster.run_id": context.run.run_id, "dagster.asset": context.asset_key.to_user_string(),
            "dagster.job": context.job_def.name, **{k: str(v) for k, v in extra.items()}}


def mib(path: str | Path) -> float:
    path = Path(path)
    size = path.stat().st_size if path.is_file() else sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return round(size / 2**20, 2)


def registry_text(registry: dict) -> str:
    if registry["status"] == "champion":
        return f"champion: {registry['registered_model']} v{registry['version']} (alias @champion)"
    return f"candidate (not registered): {registry['reason']}"


def sha256_tags(hashes: dict[str, str]) -> dict[str, str]:
    """MLflow tags `sha256/<file>`: the content hash of every stored model file, next to the run's artifacts."""
    return {f"sha256/{name}": digest for name, digest in hashes.items()}
