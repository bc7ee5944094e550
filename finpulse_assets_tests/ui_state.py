"""`python finpulse_assets_tests/ui_state.py ROOT [JOBS]`: the state test_ui_browser looks at, built in the environment
the test gives (DAGSTER_HOME, FINPULSE_*): `make demo`'s stages for one ticker with tiny models, a small
`evaluation` of the same months, and the dashboard's workspace."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from dagster import DagsterInstance

from finpulse_assets.runs.cli import materialize, print_summary
from finpulse_assets.definitions import JOB_ORDER
from finpulse_assets.evaluation.protocol import Protocol
from finpulse_assets.evaluation.run_job import run_evaluation_job
from finpulse_assets.monitoring.dashboard import sync
from finpulse_assets.runs.progress import Progress
from finpulse_assets.settings import Settings
from finpulse_assets.sources.demo import DemoPriceSource, DemoTweetSource
from finpulse_assets_tests import test_model_assets as model_chain
from finpulse_assets_tests.test_finbert_support import build_tiny_model
from finpulse_assets_tests.test_monitoring_chain import DRIFT_CONFIG
from finpulse_assets_tests.test_ui_browser import EVALUATION, TICKER


def main(root: Path, jobs: list[str]) -> int:
    for sub in ("bentos", "models", "envs", "tmp"):  # BentoML's stores under the test's BENTOML_HOME
        (Path(os.environ["BENTOML_HOME"]) / sub).mkdir(parents=True, exist_ok=True)
    settings = Settings.from_env()
    assert settings.tickers == (TICKER,), settings.tickers
    # Twice the chain's tweets per day: one ticker then gives FinBERT as many training tweets as its two.
    demo = dict(model_chain.DEMO, tickers=[TICKER], regime_shift_at=0.8, tweets_per_day=12.0)
    resources = {"tweet_source": DemoTweetSource(**demo), "price_source": DemoPriceSource(**demo)}
    run_config = {"finbert_model": model_chain.finbert_config(build_tiny_model(root / "tiny")),
                  "finbert_onnx": {"torch_threads": 1, "fp32_layers": 2}, "finbert_sentiment": {"intra_op_num_threads": 1},
                  "lstm_model": model_chain.LSTM_CONFIG, "drift_report": DRIFT_CONFIG}
    progress = Progress()
    with DagsterInstance.get() as instance:
        summary = materialize(settings, instance, jobs, run_config=run_config, resources=resources,
                              progress=progress)
        print_summary(summary, settings)
        if summary["failure"] or summary["failed_checks"]:
            return 1
        # The path `make evaluate` takes after the graph: it raises SystemExit naming the failure.
        protocol_fields = set(Protocol.__dataclass_fields__)
        report = run_evaluation_job(settings, instance, "demo", root / "reports",
                                    Protocol(**{k: v for k, v in EVALUATION.items() if k in protocol_fields}),
                                    summary["stage_seconds"], time.perf_counter(), progress,
                                    search={k: v for k, v in EVALUATION.items() if k not in protocol_fields},
                                    resources=resources)
        print(f"evaluation report: {report['json_path']}")
        print(sync(instance, Path(settings.storage_dir) / "evidently_workspace"))
    return 0


if __name__ == "__main__":
    # A second argument (comma-separated jobs) resumes a state built up to a failed stage.
    sys.exit(main(Path(sys.argv[1]), sys.argv[2].split(",") if len(sys.argv) > 2 else JOB_ORDER))
