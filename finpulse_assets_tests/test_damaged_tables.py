"""A damaged Delta table (issue 22): the run fails naming the table, the last good version and the command
that repairs it; the repair returns the table to that version and a rerun stores the lost partitions again."""
# ruff: noqa: F811 (the `project` fixture is imported from test_fault_matrix and named by the tests)

import glob
import os
import subprocess
import sys
from pathlib import Path

from finpulse_assets.storage.repair import REPAIR_COMMAND
from finpulse_assets_tests.test_fault_matrix import (  # noqa: F401 (project is a fixture)
    bars, project, record, step_error, write_prices,
)
from finpulse_assets_tests.test_misread_inputs import table_hash


def repair(table: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "finpulse_assets.storage.repair", str(table), *args],
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": os.getcwd()})


def test_a_truncated_commit_names_the_table_last_good_version_and_repair(project):
    assert project.run(["raw_prices"]).success
    good = table_hash(project, "raw_prices")
    write_prices(project.prices_dir, {"AAA": [{**r, "Volume": "2000"} for r in bars()]})
    assert project.run(["raw_prices"]).success
    table = project.storage / "assets" / "raw_prices"
    last = sorted(glob.glob(str(table / "_delta_log" / "*.json")))[-1]
    data = Path(last).read_bytes()
    Path(last).write_bytes(data[:len(data) // 2])  # a full disk or a cut copy
    before = project.stored_tree()
    result = project.run(["raw_prices"])
    error = step_error(result)
    assert not result.success and f"Delta table {table} is damaged: commit file 00000000000000000001.json" in error
    assert "The last good version is 0" in error and f"{REPAIR_COMMAND} {table} --apply" in error
    assert "<unknown>" not in error.split("Traceback")[0]
    assert project.stored_tree() == before
    dry = repair(table)
    assert dry.returncode == 1 and "last good version is 0" in dry.stdout and project.stored_tree() == before
    done = repair(table, "--apply")
    assert done.returncode == 0 and "now reads as version 0" in done.stdout, done.stdout + done.stderr
    assert table_hash(project, "raw_prices") == good
    assert (table / "_delta_log" / ".damaged" / "00000000000000000001.json").exists()
    rerun = project.run(["raw_prices"])
    assert rerun.success, step_error(rerun)
    assert table_hash(project, "raw_prices")[0] == good[0] and table_hash(project, "raw_prices") != good
    assert set(project.load("raw_prices")["volume"]) == {2000.0}
    record("truncated _delta_log/*.json commit", "clean error")


def test_a_missing_data_file_names_the_table_and_restore_repairs_it(project):
    assert project.run(["raw_prices"]).success
    good = table_hash(project, "raw_prices")
    write_prices(project.prices_dir, {"AAA": [{**r, "Volume": "2000"} for r in bars()]})
    assert project.run(["raw_prices"]).success
    table = project.storage / "assets" / "raw_prices"
    from deltalake import DeltaTable
    (gone,) = DeltaTable(str(table)).file_uris()
    Path(gone.removeprefix("file://")).unlink()
    before = project.stored_tree()
    result = project.run(["raw_prices", "price_features"])
    error = step_error(result)
    assert not result.success and f"Delta table {table} is damaged: version 1 references 1 data file(s) that are gone" in error
    assert "The last good version is 0" in error and f"{REPAIR_COMMAND} {table} --apply" in error
    assert project.stored_tree() == before
    done = repair(table, "--apply")
    assert done.returncode == 0 and "now reads as version 2 (the content of version 0)" in done.stdout, done.stdout
    assert table_hash(project, "raw_prices") == good
    rerun = project.run(["raw_prices", "price_features"])
    assert rerun.success, step_error(rerun)
    assert set(project.load("raw_prices")["volume"]) == {2000.0}
    record("data file referenced by the Delta log deleted", "clean error")
