"""`python finpulse_assets_tests/small_demo.py ROOT`: the first two stages of `make demo` (data assets for 2 tickers
x 1 month in 2 worker processes, then a tiny 2-layer BERT fine-tuned for 2 epochs) into the instance of
$DAGSTER_HOME, set up as the CLI sets itself up; progress on stderr as the CLI prints it. Writes ROOT/result.json:
the failure if any, and each data run's check evaluations' target runs (test_cli_progress.py reads both)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from finpulse_assets.runs.cli import quiet_libraries

TICKERS = ("AAPL", "MSFT")


def main(root: Path) -> int:
    from dagster import DagsterEventType, DagsterInstance, RunsFilter

    from finpulse_assets.definitions import DATA_ASSETS_JOB, SENTIMENT_MODEL_JOB
    from finpulse_assets.models.finbert.tiny import build_tiny_model
    from finpulse_assets.runs.cli import materialize
    from finpulse_assets.settings import Settings

    settings = Settings(tickers=TICKERS, start="2024-03-01", end="2024-04-01", storage_dir=str(root / "storage"))
    run_config = {"finbert_model": {"base_model": str(build_tiny_model(root / "tiny")), "epochs": 2, "lr": 1e-3,
                                    "max_train_tweets": None, "max_val_tweets": None, "torch_threads": 1},
                  "finbert_onnx": {"torch_threads": 1}}
    with DagsterInstance.get() as instance:
        summary = materialize(settings, instance, [DATA_ASSETS_JOB, SENTIMENT_MODEL_JOB], run_config=run_config,
                              workers=2)
        targets = {run.run_id: [e.dagster_event.event_specific_data.target_materialization_data.run_id
                                for e in instance.all_logs(run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)]
                   for run in instance.get_runs(RunsFilter(job_name=DATA_ASSETS_JOB))}
    (root / "result.json").write_text(json.dumps({"failure": summary["failure"], "check_targets": targets}))
    return 0


if __name__ == "__main__":
    quiet_libraries(verbose=False)  # first, as the CLI's main() does: before anything imports transformers or tqdm
    sys.exit(main(Path(sys.argv[1])))
