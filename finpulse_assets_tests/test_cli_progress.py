"""What a small `make demo` prints: progress per ticker, training epochs, the whole command's time left, and no
warning a user cannot act on (docs/ui.md, "Progress on long commands").

One module fixture runs `small_demo.py` (the first two stages of the demo: data assets for 2 tickers x 1 month in
2 worker processes, then FinBERT fine-tuning of a tiny 2-layer BERT for 2 epochs) in a process of its own, as
`make demo` runs, into a persistent instance, and keeps everything it printed.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Printed by a fresh demo before: Dagster's provenance mismatch of two tickers' runs, ONNX Runtime's quantization
# advice and session notes, MLflow's INFO lines and download bars, transformers' and tqdm's bars.
NOT_ACTIONABLE = ("Data version mismatch", "provenance", "pre-processing before quantization", "[W:onnxruntime",
                  "Downloading artifacts", "it/s]", "INFO mlflow", "WARNING")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("small_demo")
    home = root / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    # What the Makefile exports; the libraries' own quiet settings are the script's to set, as the CLI's are.
    env = {k: v for k, v in os.environ.items() if k not in ("TQDM_DISABLE", "TRANSFORMERS_VERBOSITY",
                                                            "MLFLOW_LOGGING_LEVEL")}
    env.update(DAGSTER_HOME=str(home), FINPULSE_PROGRESS_SECONDS="0", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               MLFLOW_DISABLE_TELEMETRY="true", PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, str(ROOT / "finpulse_assets_tests" / "small_demo.py"), str(root)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return {"out": done.stdout, "err": done.stderr, **json.loads((root / "result.json").read_text())}


def test_the_stage_lines_count_tickers_training_steps_and_the_time_left_for_all_stages(demo):
    assert demo["failure"] is None, demo["failure"]
    lines = demo["err"].splitlines()
    data = [line for line in lines if line.startswith("[stage 1 of 2: data_assets_job]")]
    assert data[0].startswith("[stage 1 of 2: data_assets_job] 0/248 asset partitions (0%)  tickers 0/2")
    assert any("tickers 1/2" in line for line in data) and "tickers 2/2" in data[-1] and "took" in data[-1]
    assert all("all stages ~" in line for line in data[:-1])
    model = [line for line in lines if line.startswith("[stage 2 of 2: sentiment_model_job]")]
    training = [line.split("finbert_model ", 1)[1].split("  ")[0] for line in model if "finbert_model epoch" in line]
    assert training[0].startswith("epoch 1/2 step 1/") and training[-1].startswith("epoch 2/2 step ")
    step, steps = training[-1].rsplit(" ", 1)[1].split("/")
    assert step == steps, training[-1]  # the last step of the last epoch
    assert "took" in model[-1] and "epoch" not in model[-1]


def test_each_ticker_s_checks_are_recorded_against_its_own_run_s_materialization(demo):
    """Two workers write the same assets for two tickers at once: each run's checks must target what that run
    stored, not the other ticker's latest materialization (the cause of Dagster's provenance warning)."""
    assert len(demo["check_targets"]) == 2
    for run_id, targets in demo["check_targets"].items():
        assert len(targets) == 6  # schema_valid of the 4 data assets, raw_prices' two more
        assert set(targets) == {run_id}


def test_a_small_demo_prints_no_warning_a_user_cannot_act_on(demo):
    text = demo["out"] + demo["err"]
    found = [marker for marker in NOT_ACTIONABLE if marker in text]
    assert not found, f"{found}\n{text[-3000:]}"
