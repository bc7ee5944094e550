"""The command line: `dagster asset materialize` for one partition, and the `make demo` entry point."""

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from dagster import DagsterInstance, RunsFilter
from finpulse_assets.dagster_private import REPOSITORY_LABEL_TAG

from finpulse_assets.runs.cli import main, materialize, print_summary
from finpulse_assets.definitions import DATA_ASSETS_JOB, JOB_ORDER
from finpulse_assets.settings import Settings
from finpulse_assets_tests.stored import stored_partition

ROOT = Path(__file__).resolve().parent.parent


def _env(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return {**os.environ, "DAGSTER_HOME": str(home), "FINPULSE_STORAGE_DIR": str(tmp_path / "storage"),
            "FINPULSE_TICKERS": "AAPL,MSFT", "FINPULSE_START": "2024-03-01", "FINPULSE_END": "2024-04-01"}


def test_dagster_cli_materializes_one_partition(tmp_path):
    env = _env(tmp_path)
    subprocess.run([sys.executable, "-c", "from dagster import DagsterInstance\n"
                    "from finpulse_assets.runs.cli import register_tickers\n"
                    "register_tickers(DagsterInstance.get(), ['AAPL', 'MSFT'])"], env=env, check=True, cwd=ROOT)
    done = subprocess.run([sys.executable, "-m", "dagster", "asset", "materialize", "-m", "finpulse_assets.definitions",
                           "--select", "raw_prices", "--partition", "2024-03-05|MSFT"],
                          env=env, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    stored = stored_partition(tmp_path / "storage" / "assets", "raw_prices", "MSFT", "2024-03-05")
    assert stored["date"].tolist() == [pd.Timestamp("2024-03-05")] and stored["close"].item() > 0


def test_materialize_covers_every_partition_and_summarises(tmp_path, capsys):
    settings = Settings(tickers=("AAPL", "MSFT"), start="2024-03-01", end="2024-04-01",
                        storage_dir=str(tmp_path / "storage"))
    with DagsterInstance.ephemeral() as instance:
        summary = materialize(settings, instance, jobs=[DATA_ASSETS_JOB])
        assert set(instance.get_dynamic_partitions("tickers")) == {"AAPL", "MSFT"}
        # Recorded as runs of the code location `make ui` loads: the timeline and the Jobs page show them.
        runs = instance.get_runs(RunsFilter(job_name=DATA_ASSETS_JOB, tags={
            REPOSITORY_LABEL_TAG: "__repository__@finpulse"}))  # what the Jobs page asks
        assert len(runs) == 2 and all(r.remote_job_origin.location_name == "finpulse"
                                      for r in runs)
    # Progress counted from the runs' materialization events (stderr is not a terminal here: plain lines).
    err = capsys.readouterr().err
    assert "[data_assets_job] 0/248 asset partitions (0%)" in err
    assert "[data_assets_job] 248/248 asset partitions (100%)" in err and "took" in err
    assert summary["failed_checks"] == [] and summary["failure"] is None
    assert list(summary["stage_seconds"]) == [DATA_ASSETS_JOB]
    for name in ("raw_tweets", "vader_labels", "raw_prices", "price_features"):
        assert summary["assets"][name]["partitions"] == 2 * 31
    assert summary["assets"]["raw_prices"]["rows"] == 2 * 20  # March 2024: 20 trading days (Good Friday 29th)
    assert summary["assets"]["raw_tweets"]["rows"] > 0
    print_summary(summary, settings)
    assert "time taken" in capsys.readouterr().out


def test_unknown_jobs_are_refused_naming_the_known_ones(capsys):
    import pytest

    with pytest.raises(SystemExit):
        main(["materialize", "--jobs", "data_assets_job,train_everything"])
    err = capsys.readouterr().err
    assert "train_everything" in err and all(job in err for job in JOB_ORDER)


def test_worker_processes_store_and_summarise_what_one_process_does(tmp_path, monkeypatch, capsys):
    """Two tickers' data runs in two spawned workers (a persistent SQLite instance) against the same runs
    one after another: the same summary counts, checks, runs recorded and stored rows."""
    summaries, stored = {}, {}
    for workers in (1, 2):
        home = tmp_path / f"home{workers}"
        home.mkdir()
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        monkeypatch.setenv("DAGSTER_HOME", str(home))
        storage = tmp_path / f"storage{workers}"
        settings = Settings(tickers=("AAPL", "MSFT"), start="2024-03-01", end="2024-04-01", storage_dir=str(storage))
        with DagsterInstance.get() as instance:
            summaries[workers] = materialize(settings, instance, jobs=[DATA_ASSETS_JOB], workers=workers)
            runs = instance.get_runs(RunsFilter(job_name=DATA_ASSETS_JOB))
            assert sorted(r.tags["finpulse/ticker"] for r in runs) == ["AAPL", "MSFT"]
            assert all(r.status.value == "SUCCESS" for r in runs)
        stored[workers] = {t: stored_partition(storage / "assets", "raw_prices", t, "2024-03-05")["close"].item()
                           for t in settings.tickers}
    assert summaries[2]["assets"] == summaries[1]["assets"] and summaries[2]["failure"] is None
    assert [(c["check"], c["ticker"], c["passed"]) for c in summaries[2]["checks"]] == \
        [(c["check"], c["ticker"], c["passed"]) for c in summaries[1]["checks"]]
    assert stored[2] == stored[1]
    assert "[data_assets_job] 248/248 asset partitions (100%)" in capsys.readouterr().err  # workers' progress relayed


def test_worker_processes_need_the_persistent_instance(tmp_path):
    settings = Settings(tickers=("AAPL", "MSFT"), start="2024-03-01", end="2024-04-01",
                        storage_dir=str(tmp_path / "storage"))
    with DagsterInstance.ephemeral() as instance, pytest.raises(ValueError, match="persistent instance"):
        materialize(settings, instance, jobs=[DATA_ASSETS_JOB], workers=2)
