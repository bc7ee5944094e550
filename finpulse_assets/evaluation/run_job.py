"""Run `evaluation_job` in a Dagster instance and return its report (what the CLI prints)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from finpulse_assets.runs.cli import CONSOLE_LOGS
from finpulse_assets.runs.failures import failure_message
from finpulse_assets.runs.progress import Progress
from finpulse_assets.runs.launch import execute_job
from finpulse_assets.evaluation.protocol import Protocol
from finpulse_assets.evaluation.report import markdown, report_paths


def run_evaluation_job(settings, instance, dataset: str, report_dir: Path, protocol: Protocol,
                       stage_seconds: dict, started: float, progress: Progress | None = None,
                       search: dict | None = None, resources: dict | None = None) -> dict:
    """`search`: EvaluationConfig fields that set the dev-split search (n_trials, seeds, windows, ...);
    `resources`: replacements for the definitions' default resources (a test's sources)."""
    from finpulse_assets.definitions import EVALUATION_JOB, build_definitions

    job = build_definitions(settings, resources).resolve_job_def(EVALUATION_JOB)
    config = {**protocol.as_dict(), "report_dir": str(report_dir), "dataset": dataset,
              "graph_stage_seconds": {k: float(v) for k, v in stage_seconds.items()}, **(search or {})}
    stage_started = time.perf_counter()
    progress = progress or Progress()
    # One asset: the line shows the elapsed time (its log has the candidates it fits, in the UI's run view).
    progress.stage(EVALUATION_JOB, 1, "assets")
    result = execute_job(job, instance, {**CONSOLE_LOGS, "ops": {"evaluation": {"config": config}}},
                         tags={"finpulse/launched_by": "evaluate"}, on_event=progress.listener())
    progress.end("" if result.success else "FAILED")
    if not result.success:
        raise SystemExit(f"evaluation_job failed: {failure_message(result)}")
    # execute_run's result holds no output objects (only `with dagster.execute_job(...)` keeps them), so the
    # report is read back from the JSON the asset wrote.
    json_path, md_path = report_paths(report_dir)
    report = json.loads(json_path.read_text())
    # The asset knows the graph stages' seconds and its own; the wall clock of the whole command is known here.
    report["runtime"] |= {"evaluation_job_seconds": round(time.perf_counter() - stage_started, 1),
                          "wall_seconds": round(time.perf_counter() - started, 1)}
    text = markdown(report)
    json_path.write_text(json.dumps(report, indent=2, default=str))
    md_path.write_text(text)
    return {**report, "markdown": text, "json_path": str(json_path), "md_path": str(md_path)}
