"""One ticker-day drift report: Evidently's DataDriftPreset vs FinPulse's listed metrics, side by side.

    python benchmarks/drift_report.py --repeat 5

On the same 20 model-input columns (a 20-day window against 250 reference days, synthetic normal
data with three shifted columns), in one process:
  preset    `Report([DataDriftPreset(columns, method="ks", threshold=0.01)]).run(...)` (the bare library call);
  listed    `monitoring.drift.run_drift_report` (DriftedColumnsCount + ValueDrift per column, parsed);
  html      `ReportStore.write_snapshot_html` of the listed report (HTML + snapshot JSON, atomically).
Both reports must find the same drifted columns; the script fails otherwise.
"""

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def timed(fn, repeat: int) -> tuple[float, object]:
    fn()  # warm-up: imports and Evidently's registries
    seconds, out = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        out = fn()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", default="reports/drift_report_benchmark.json")
    args = parser.parse_args()

    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    from finpulse_assets.features.training_set import MODEL_FEATURE_COLUMNS
    from finpulse_assets.monitoring.drift import COLUMN_P_VALUE, DRIFT_METHOD, run_drift_report
    from finpulse_assets.monitoring.evidently_parsing import parse_drift_snapshot
    from finpulse_assets.monitoring.report_store import ReportStore

    columns = list(MODEL_FEATURE_COLUMNS)
    rng = np.random.default_rng(0)
    reference = pd.DataFrame(rng.normal(size=(250, len(columns))), columns=columns)
    current = pd.DataFrame(rng.normal(size=(20, len(columns))), columns=columns)
    current[columns[:3]] += 2.0
    definition = DataDefinition(numerical_columns=columns)

    def preset():
        as_dataset = lambda frame: Dataset.from_pandas(frame, data_definition=definition)  # noqa: E731
        report = Report([DataDriftPreset(columns=columns, method=DRIFT_METHOD, threshold=COLUMN_P_VALUE)])
        return parse_drift_snapshot(report.run(as_dataset(current), as_dataset(reference)).dict())

    preset_s, preset_summary = timed(preset, args.repeat)
    listed_s, (snapshot, listed_summary) = timed(lambda: run_drift_report(current, reference, columns), args.repeat)
    if preset_summary.drifted_columns != listed_summary.drifted_columns:
        raise SystemExit(f"drifted columns differ: preset {preset_summary.drifted_columns}, "
                         f"listed {listed_summary.drifted_columns}")
    with tempfile.TemporaryDirectory() as tmp:
        store = ReportStore(base_dir=tmp)
        html_s, _ = timed(lambda: store.write_snapshot_html(snapshot, Path(tmp) / "r.html"), args.repeat)
    result = {"columns": len(columns), "drifted_columns": listed_summary.drifted_columns,
              "preset_seconds": round(preset_s, 3), "listed_seconds": round(listed_s, 3),
              "html_seconds": round(html_s, 3), "speedup": round(preset_s / listed_s, 2)}
    print("| report | seconds (median) | vs preset |\n|---|---:|---:|")
    print(f"| DataDriftPreset (bare library) | {preset_s:.3f} | 1.00x |")
    print(f"| listed metrics (FinPulse) | {listed_s:.3f} | {preset_s / listed_s:.2f}x |")
    print(f"| + HTML and snapshot written | {html_s:.3f} | |")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
