"""Built bentos exported to object storage: `s3://<bucket>/<prefix>/bentos/<tag>.bento`.

The bento is exported to a local archive first (`bentoml.export_bento`, after the build
completed in the local BentoML store), then uploaded through the S3Resource; a serving host
imports it with `bentoml import s3://...` or by downloading the archive.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Optional

from dagster import ConfigurableResource

from finpulse_assets.storage.s3_folder import S3Folder


class BentoExport(ConfigurableResource):
    remote: Optional[S3Folder] = None  # noqa: UP045 (Dagster resolves nested resources from Optional[...])

    def export(self, tag: str) -> str | None:
        """The bento `tag` uploaded as `<tag>.bento`; its URI, or None without object storage."""
        if self.remote is None:
            return None
        import bentoml

        with tempfile.TemporaryDirectory(prefix="finpulse-bento-") as tmp:
            archive = bentoml.export_bento(tag, str(Path(tmp) / "bento.bento"))
            return self.remote.upload_file(archive, f"{tag}.bento")
