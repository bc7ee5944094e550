"""The deployment's run queue and run retries with a real daemon (daemon_support.py).

One writer per ticker: a CLI-style run of one ticker is held while it writes, and a backfill of 2 days x
3 tickers is launched (Dagster makes it 2 runs, each over all three tickers); the backfill's runs must
wait in the queue until the CLI-style run ends, no two runs writing one ticker may be in progress at once
(run start and end times from the instance), and every partition is materialized once by the run that
asked for it. A killed run: its worker is SIGKILLed while its second
asset runs; the daemon retries it from the failure, so the first asset, committed before the kill, is not
written again.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from dagster import AssetKey, AssetRecordsFilter, DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter

from finpulse_assets.dagster_private import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    BulkActionStatus,
    PartitionBackfill,
)
from finpulse_assets.partitions import TICKER_RUN_TAG, parse_key, ticker_partitions
from finpulse_assets.runs.ticker_queue import WRITES_TAG_PREFIX
from finpulse_assets.storage.instance import PG_URL_ENV
from finpulse_assets_tests.daemon_support import running_daemon, wait_for
from finpulse_assets_tests.postgres_support import temporary_database

pytestmark = pytest.mark.slow

TICKERS = ["AAA", "BBB", "CCC"]
DAYS = ["2024-01-01", "2024-01-02"]

DEFS = """
import json, os, time
from dagster import (DailyPartitionsDefinition, Definitions, MaterializeResult, MultiPartitionsDefinition, asset,
                     define_asset_job, in_process_executor)
from finpulse_assets.deploy.run_isolation import end_with_run_worker
from finpulse_assets.partitions import TICKER_DAY_BACKFILL_POLICY, ticker_partitions

parts = MultiPartitionsDefinition({"date": DailyPartitionsDefinition("2024-01-01", end_date="2024-01-05"),
                                   "ticker": ticker_partitions})


def note(**fields):
    with open(os.environ["WRITERS_LOG"], "a") as out:
        out.write(json.dumps(fields) + "\\n")


@asset(partitions_def=parts, backfill_policy=TICKER_DAY_BACKFILL_POLICY)
def written(context):
    note(asset="written", run=context.run_id, keys=sorted(context.partition_keys))
    if context.run.tags.get("finpulse/launched_by") == "cli":  # held until the test has the backfill's runs queued
        while not os.path.exists(os.path.join(os.environ["TEST_DIR"], "release")):
            time.sleep(0.2)
    time.sleep(2)  # long enough for runs that were let start together to overlap
    return MaterializeResult()


@asset(partitions_def=parts, backfill_policy=TICKER_DAY_BACKFILL_POLICY)
def committed(context):
    note(asset="committed", run=context.run_id, keys=sorted(context.partition_keys))
    return MaterializeResult()


@asset(partitions_def=parts, backfill_policy=TICKER_DAY_BACKFILL_POLICY, deps=[committed])
def killed(context):
    end_with_run_worker()  # what the Delta IO manager does in every step process
    note(asset="killed", run=context.run_id, keys=sorted(context.partition_keys))
    ticker = context.partition_keys[0].split("|")[1]
    marker = os.path.join(os.environ["TEST_DIR"], ticker + ".pid")
    if not os.path.exists(marker):  # the first attempt waits for its run worker to be killed; the retry finishes
        with open(marker, "w") as out:
            out.write(str(os.getppid()))
        time.sleep(600)
    return MaterializeResult()


# Backfills run on the multiprocess executor (Dagster's default, the deployment's): a step per process.
defs = Definitions(assets=[written, committed, killed],
                   jobs=[define_asset_job("written_job", [written], partitions_def=parts,
                                          executor_def=in_process_executor)])
"""


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("one_writer")
    env = {"WRITERS_LOG": str(tmp / "notes.jsonl"), "TEST_DIR": str(tmp)}
    with temporary_database("one_writer") as url, running_daemon(tmp, DEFS, env, url) as (home, workspace, full_env):
        monkeypatch = pytest.MonkeyPatch()
        monkeypatch.setenv(PG_URL_ENV, url)  # the instance's storage block reads it
        try:
            with DagsterInstance.from_config(str(home)) as instance:
                instance.add_dynamic_partitions(ticker_partitions.name, TICKERS)
                yield instance, workspace, full_env, tmp
        finally:
            monkeypatch.undo()


def _notes(tmp: Path) -> list[dict]:
    path = tmp / "notes.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _launch(workspace: Path, env: dict, job: str, tags: dict[str, str]) -> None:
    """`dagster job launch`: what an operator's script does; the run goes through the queue."""
    done = subprocess.run([str(Path(sys.executable).with_name("dagster")), "job", "launch", "-w", str(workspace),
                           "-j", job, "--tags", json.dumps(tags)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]


def _asset_backfill(instance: DagsterInstance, tmp: Path, keys: list[str], assets: list[str]) -> str:
    sys.path.insert(0, str(tmp))
    try:
        from writers_defs import defs
    finally:
        sys.path.remove(str(tmp))
    backfill_id = f"{assets[-1]}{int(time.time())}"
    instance.add_backfill(PartitionBackfill.from_asset_partitions(
        backfill_id=backfill_id, asset_graph=defs.resolve_asset_graph(), partition_names=keys,
        asset_selection=[AssetKey(a) for a in assets], backfill_timestamp=time.time(), tags={},
        dynamic_partitions_store=instance, all_partitions=False, title="one writer", description=None,
        run_config=None))
    return backfill_id


def _overlaps(records, notes: list[dict]) -> list[tuple[str, str, str]]:
    """(ticker, run, run) for every two runs that wrote one ticker (as the asset noted it) while both were in
    progress (their start..end times in the instance overlap)."""
    wrote = {n["run"]: {parse_key(k).ticker for k in n["keys"]} for n in notes if n["asset"] == "written"}
    by_ticker: dict[str, list] = {}
    for record in records:
        for ticker in wrote.get(record.dagster_run.run_id, ()):
            by_ticker.setdefault(ticker, []).append(record)
    found = []
    for ticker, runs in by_ticker.items():
        runs.sort(key=lambda r: r.start_time)
        for before, after in zip(runs, runs[1:]):
            if after.start_time < before.end_time:
                found.append((ticker, before.dagster_run.run_id, after.dagster_run.run_id))
    return found


def test_a_backfill_over_several_tickers_and_a_cli_run_never_write_one_ticker_at_once(daemon):
    instance, workspace, env, tmp = daemon
    backfill_keys = [f"{d}|{t}" for d in DAYS for t in TICKERS]
    cli_tags = {ASSET_PARTITION_RANGE_START_TAG: f"{DAYS[0]}|BBB", ASSET_PARTITION_RANGE_END_TAG: f"{DAYS[1]}|BBB",
                TICKER_RUN_TAG: "BBB", "finpulse/launched_by": "cli"}
    _launch(workspace, env, "written_job", cli_tags)
    (cli_run,) = wait_for("the CLI-style run to write", lambda: [
        r for r in instance.get_runs(RunsFilter(tags={"finpulse/launched_by": "cli"}))
        if any(n["run"] == r.run_id for n in _notes(tmp))], timeout=180)
    backfill_id = _asset_backfill(instance, tmp, backfill_keys, ["written"])
    queued = wait_for("the backfill's runs", lambda: (lambda runs: runs if len(runs) == 2 else None)(
        instance.get_runs(RunsFilter(tags={"dagster/backfill": backfill_id}))), timeout=120)
    time.sleep(5)  # five dequeue passes of the daemon, which would start a run that nothing holds
    # Both runs write BBB (Dagster grouped the backfill by day): they wait while the CLI-style run writes BBB.
    assert [instance.get_run_by_id(r.run_id).status for r in queued] == [DagsterRunStatus.QUEUED] * 2
    assert instance.get_run_by_id(cli_run.run_id).status == DagsterRunStatus.STARTED
    (tmp / "release").write_text("")

    wait_for("the backfill", lambda: instance.get_backfill(backfill_id).status == BulkActionStatus.COMPLETED_SUCCESS,
             timeout=240)
    cli = wait_for("the CLI-style run", lambda: [r for r in instance.get_runs(RunsFilter(tags={"finpulse/launched_by": "cli"}))
                                                  if r.is_finished], timeout=240)
    records = instance.get_run_records(RunsFilter(job_name="written_job")) + instance.get_run_records(
        RunsFilter(tags={"dagster/backfill": backfill_id}))
    assert all(r.dagster_run.status == DagsterRunStatus.SUCCESS for r in records), [
        (r.dagster_run.run_id, r.dagster_run.status) for r in records]
    backfill_runs = [r for r in records if r.dagster_run.tags.get("dagster/backfill") == backfill_id]
    # Dagster groups 2 days x 3 tickers by day: each run covers every ticker, which a per-value tag could not limit.
    assert len(backfill_runs) == 2
    assert _overlaps(records, _notes(tmp)) == []
    assert all(sum(k.startswith(WRITES_TAG_PREFIX) for k in r.dagster_run.tags) == 3 for r in backfill_runs)
    assert cli[0].tags[f"{WRITES_TAG_PREFIX}BBB"] == "true"

    events = instance.fetch_materializations(AssetRecordsFilter(asset_key=AssetKey("written")), limit=100).records
    by_run = {r.dagster_run.run_id: r.dagster_run for r in records}
    written_by = Counter((e.partition_key, by_run[e.run_id].tags.get("dagster/backfill", "cli")) for e in events)
    assert written_by == Counter({**{(k, backfill_id): 1 for k in backfill_keys},
                                  **{(f"{d}|BBB", "cli"): 1 for d in DAYS}})


def test_a_killed_backfill_run_is_retried_from_its_failure_without_writing_twice(daemon):
    instance, workspace, env, tmp = daemon
    ticker = "AAA"
    keys = [f"{day}|{ticker}" for day in DAYS]
    backfill_id = _asset_backfill(instance, tmp, keys, ["committed", "killed"])
    runs_of_test = RunsFilter(tags={"dagster/backfill": backfill_id})
    marker = tmp / f"{ticker}.pid"
    pid = int(wait_for("the second asset to start", lambda: marker.exists() and marker.read_text(), timeout=180))
    killed_at = time.monotonic()
    os.kill(pid, signal.SIGKILL)  # the run worker, as the crash of a pod or a machine would; its steps end with it

    def retried():
        runs = instance.get_runs(runs_of_test)
        return runs if len(runs) == 2 and all(r.is_finished for r in runs) else None

    retry, first = wait_for("the retry to finish", retried, timeout=180)
    failure = instance.all_logs(first.run_id, of_type=DagsterEventType.RUN_FAILURE)[-1]
    print(f"\nkilled backfill run failed with {failure.dagster_event.message!r}; "
          f"retried and finished {time.monotonic() - killed_at:.1f}s after the kill")
    assert first.status == DagsterRunStatus.FAILURE and retry.status == DagsterRunStatus.SUCCESS
    assert retry.parent_run_id == first.run_id and retry.tags.get("dagster/retry_number") == "1"
    assert list(retry.step_keys_to_execute or []) == ["killed"]  # from the failure: `committed` is not run again
    ran = Counter(n["asset"] for n in _notes(tmp) if n["run"] in {first.run_id, retry.run_id})
    assert ran == {"committed": 1, "killed": 2}
    for asset, run in {"committed": first.run_id, "killed": retry.run_id}.items():
        events = instance.fetch_materializations(AssetKey(asset), limit=100).records
        assert sorted((e.partition_key, e.run_id) for e in events if e.partition_key in keys) == [
            (k, run) for k in keys], asset
    wait_for("the backfill", lambda: instance.get_backfill(backfill_id).status != BulkActionStatus.REQUESTED,
             timeout=60)
    assert instance.get_backfill(backfill_id).status == BulkActionStatus.COMPLETED_SUCCESS
