"""Where monitoring reports (Evidently HTML) are written and the URL they are opened from.

Each report links Evidently's 3.5 MB JavaScript bundle from one shared file
next to the reports instead of embedding it, so a report is ~1 MB, not ~5 MB.
`make ui` serves `base_dir` over HTTP at `base_url` (the Dagster UI cannot
open file:// links), so the `report` link in the asset metadata opens it.

With object storage configured (`remote`), each report (HTML + snapshot JSON, and the shared
bundle once) is published to `s3://<bucket>/<prefix>/reports/` after its local atomic write;
`ensure_local` fetches a report missing here.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Optional

from dagster import ConfigurableResource

import evidently
from evidently.legacy.utils.dashboard import STATIC_PATH

from finpulse_assets.storage.s3_folder import S3Folder
from finpulse_assets.storage.stale_files import sweep_stale, temporary_path

LIBRARY_FILE = f"evidently-{evidently.__version__}.js"


class ReportStore(ConfigurableResource):
    base_dir: str
    base_url: str = "http://127.0.0.1:3001"
    remote: Optional[S3Folder] = None  # noqa: UP045 (Dagster resolves nested resources from Optional[...])

    def drift_report_path(self, ticker: str, day: date) -> Path:
        return Path(self.base_dir) / "drift_report" / f"ticker={ticker}" / f"{day.isoformat()}.html"

    def plot_path(self, asset: str, name: str, ticker: str) -> Path:
        return Path(self.base_dir) / "plots" / asset / f"{name}-{ticker}.png"

    def write_plot(self, asset: str, name: str, ticker: str, png: bytes) -> str:
        """One ticker's plot as a PNG next to the reports (atomically, published like them); its URL: the asset
        page links it in each partition's metadata, one click from the partition to the picture."""
        path = self.plot_path(asset, name, ticker)
        _write_atomically(path, png)
        if self.remote is not None:
            self.remote.upload_file(path, self._relative(path))
        return self.url_for(path)

    def url_for(self, path: Path) -> str:
        return f"{self.base_url.rstrip('/')}/{path.relative_to(self.base_dir).as_posix()}"

    def write_snapshot_html(self, snapshot, path: Path) -> Path:
        """The snapshot's HTML at `path` (atomically), its JS bundle linked from base_dir; the snapshot itself
        (Evidently's JSON, for the dashboard) next to it."""
        library = (Path(STATIC_PATH) / "index.js").read_text(encoding="utf-8")
        shared = Path(self.base_dir) / LIBRARY_FILE
        if not shared.exists():
            _write_atomically(shared, library)
        page = snapshot.get_html_str(as_iframe=False)
        embedded = f"<script>{library}</script>"
        if embedded in page:  # otherwise the page stays self-contained, only larger
            relative = os.path.relpath(shared, path.parent)
            page = page.replace(embedded, f'<script src="{relative}"></script>')
        _write_atomically(snapshot_json_path(path), snapshot.dumps())
        _write_atomically(path, page)
        self.publish(path)
        return path

    def publish(self, html_path: Path) -> None:
        """The report's snapshot JSON, then its HTML (and the shared bundle if absent) to object storage."""
        if self.remote is None:
            return
        if not self.remote.exists(LIBRARY_FILE):
            self.remote.upload_file(Path(self.base_dir) / LIBRARY_FILE, LIBRARY_FILE)
        for local in (snapshot_json_path(html_path), Path(html_path)):
            self.remote.upload_file(local, self._relative(local))

    def ensure_local(self, html_path: Path) -> Path:
        """The report at `html_path` (and its snapshot and the bundle), fetched first when missing here."""
        html_path = Path(html_path)
        if html_path.exists() and snapshot_json_path(html_path).exists():
            return html_path
        if self.remote is None:
            raise FileNotFoundError(f"{html_path} does not exist and no object storage is configured to fetch it "
                                    f"from (FINPULSE_S3_BUCKET)")
        shared = Path(self.base_dir) / LIBRARY_FILE
        if not shared.exists():
            self.remote.download_file(LIBRARY_FILE, shared)
        for local in (snapshot_json_path(html_path), html_path):
            self.remote.download_file(self._relative(local), local)
        return html_path

    def _relative(self, path: Path) -> str:
        return Path(path).relative_to(self.base_dir).as_posix()


def snapshot_json_path(html_path: str | Path) -> Path:
    """Where the Evidently snapshot of a report is kept (next to its HTML): what the dashboard loads."""
    return Path(html_path).with_suffix(".json")


def _write_atomically(path: Path, content: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale(path)
    tmp = temporary_path(path)
    try:
        if isinstance(content, bytes):
            tmp.write_bytes(content)
        else:
            tmp.write_text(content, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
