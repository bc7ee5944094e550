"""The operator's end-to-end test of the Dagster topology (docs/deployment.md).

Code server, webserver and daemon as separate processes on a Postgres instance of their own with the
production dagster.yaml (queued runs), an S3 endpoint (the deployment's s3rver) on loopback holding the landing prefix
the sources read and the asset tables. Everything an operator does goes through the webserver's GraphQL
API: turn the sensors off, register tickers, launch a multi-ticker partition backfill, read back runs and
materializations, turn new_data_sensor on. The daemon is killed with SIGKILL while the backfill is in
flight and its restart loop brings it back; the backfill must complete with every partition materialized
exactly once. Then the whole topology is stopped and started again: every object of the store (s3rver, on
disk) and every materialization must still be there. Then a new day of prices and tweets lands; the sensor
requests runs, the queue runs them, and the new day's partitions appear (their price features read the
earlier days' tables, which the restart kept).
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import date, timedelta

import pytest

import boto3

from finpulse_assets.deploy.local_net import free_port
from finpulse_assets.deploy.local_topology import S3_BUCKET_ENV, Topology, graphql
from finpulse_assets.partitions import key_for
from finpulse_assets.sensors.new_data import NEW_DATA_SENSOR
from finpulse_assets_tests.daemon_support import wait_for
from finpulse_assets_tests.postgres_support import temporary_database
from finpulse_assets_tests.test_s3_landing import price_csv, tweet_csvs

pytestmark = pytest.mark.slow

TICKERS = ("AAPL", "MSFT", "TSLA")
START, END = "2024-01-01", "2024-01-22"   # 21 days x 3 tickers = 63 partitions per asset, all backfilled
FIRST_DROP_END = "2024-01-12"              # the data there is at first; the later days materialize empty
NEW_DAY = "2024-01-16"                     # then lands (a Tuesday; Monday the 15th was a holiday)
LANDING = "finpulse/landing"
BACKFILL_ASSETS = ["raw_tweets", "vader_labels", "raw_prices", "price_features"]
LOCATION = "finpulse_assets"
REPOSITORY = {"repositoryLocationName": LOCATION, "repositoryName": "__repository__"}
DONE = {"COMPLETED", "COMPLETED_SUCCESS"}
FAILED = {"FAILED", "CANCELED", "COMPLETED_FAILED", "FAILING", "CANCELING"}


@pytest.fixture
def topology(tmp_path):
    with temporary_database("topology_e2e") as url:
        topo = Topology(
            state_dir=tmp_path / "deploy", pg_url=url,
            ports={"webserver": free_port(), "code_server": free_port(), "s3": free_port()},
            extra_env={"FINPULSE_TICKERS": ",".join(TICKERS), "FINPULSE_START": START, "FINPULSE_END": END,
                       "FINPULSE_TWEET_SOURCE": "s3_landing", "FINPULSE_PRICE_SOURCE": "s3_landing",
                       "FINPULSE_S3_PREFIX": "finpulse",
                       "FINPULSE_STORAGE_DIR": str(tmp_path / "storage"),
                       "FINPULSE_MLFLOW_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"})
        try:
            yield topo
        finally:
            topo.stop()
            for name in ("s3", "code_server", "webserver", "daemon"):
                assert topo.pid(name) is None, f"{name} still runs after stop"
            assert not topo.leftover_pids(), "processes of the topology outlived its stop"


def _sensors(url: str) -> list[dict]:
    data = graphql(url, """query($r: RepositorySelector!) { sensorsOrError(repositorySelector: $r) {
        __typename ... on Sensors { results { name sensorState { id status } } } ... on PythonError { message } } }""", {"r": REPOSITORY})
    assert data["sensorsOrError"]["__typename"] == "Sensors", data
    return data["sensorsOrError"]["results"]


def _stop_sensors(url: str) -> None:
    for sensor in _sensors(url):
        result = graphql(url, """mutation($id: String!) { stopSensor(id: $id) { __typename
            ... on StopSensorMutationResult { instigationState { status } } ... on PythonError { message } } }""",
                         {"id": sensor["sensorState"]["id"]})["stopSensor"]
        assert result["__typename"] == "StopSensorMutationResult", result
    assert {s["name"]: s["sensorState"]["status"] for s in _sensors(url)} == {
        s["name"]: "STOPPED" for s in _sensors(url)}


def _add_tickers(url: str) -> None:
    for ticker in TICKERS:
        result = graphql(url, """mutation($r: RepositorySelector!, $key: String!) {
            addDynamicPartition(repositorySelector: $r, partitionsDefName: "tickers", partitionKey: $key) {
            __typename ... on PythonError { message } ... on DuplicateDynamicPartitionError { partitionName } } }""",
                         {"r": REPOSITORY, "key": ticker})["addDynamicPartition"]
        assert result["__typename"] == "AddDynamicPartitionSuccess", result


def _land(topology: Topology, last_day: str, drop_first_day: str) -> None:
    """Yahoo price files through `last_day` (a new drop overwrites them) and a tweet drop from `drop_first_day`."""
    env = topology.env()
    client = boto3.client("s3", endpoint_url=topology.s3_url, region_name=env["AWS_DEFAULT_REGION"],
                          aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
    bucket = env[S3_BUCKET_ENV]
    for i, ticker in enumerate(TICKERS):
        client.put_object(Bucket=bucket, Key=f"{LANDING}/prices/{ticker}.csv",
                          Body=price_csv(START, last_day, base=100.0 * (i + 1)).encode())
        tweets, company = tweet_csvs(ticker, drop_first_day, last_day, first_id=100_000 * (i + 1)
                                     + (date.fromisoformat(drop_first_day) - date.fromisoformat(START)).days)
        client.put_object(Bucket=bucket, Key=f"{LANDING}/tweets/{drop_first_day}-{ticker}/Tweet.csv", Body=tweets.encode())
        client.put_object(Bucket=bucket, Key=f"{LANDING}/tweets/{drop_first_day}-{ticker}/Company_Tweet.csv",
                          Body=company.encode())


def _start_sensor(url: str, name: str) -> None:
    result = graphql(url, """mutation($s: SensorSelector!) { startSensor(sensorSelector: $s) { __typename
        ... on Sensor { sensorState { status } } ... on PythonError { message } } }""",
                     {"s": {**REPOSITORY, "sensorName": name}})["startSensor"]
    assert result["__typename"] == "Sensor" and result["sensorState"]["status"] == "RUNNING", result


def _runs(url: str, tags: list[dict]) -> list[dict]:
    data = graphql(url, """query($f: RunsFilter!) { runsOrError(filter: $f) { ... on Runs { results { runId status
        } } } }""", {"f": {"tags": tags}})
    return data["runsOrError"]["results"]


def _went_through_the_queue(url: str, run_id: str) -> bool:
    data = graphql(url, """query($id: ID!) { logsForRun(runId: $id, limit: 200) {
        ... on EventConnection { events { __typename } } } }""", {"id": run_id})
    return "RunEnqueuedEvent" in {e["__typename"] for e in data["logsForRun"]["events"]}


def _partition_keys() -> list[str]:
    first, last = date.fromisoformat(START), date.fromisoformat(END)
    days = [first + timedelta(days=i) for i in range((last - first).days)]
    return [key_for(ticker, day) for ticker in TICKERS for day in days]


def _launch_backfill(url: str, keys: list[str]) -> str:
    result = graphql(url, """mutation($p: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $p) {
        __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message }
        ... on PartitionSetNotFoundError { message } ... on InvalidSubsetError { message } } }""",
                     {"p": {"assetSelection": [{"path": [a]} for a in BACKFILL_ASSETS], "partitionNames": keys,
                            "title": "topology e2e"}})["launchPartitionBackfill"]
    assert result["__typename"] == "LaunchBackfillSuccess", result
    return result["backfillId"]


def _backfill(url: str, backfill_id: str) -> dict:
    return graphql(url, """query($id: String!) { partitionBackfillOrError(backfillId: $id) {
        ... on PartitionBackfill { status runs(limit: 1000) { runId status assetSelection { path }
        tags { key value } } } ... on PythonError { message } } }""",
                   {"id": backfill_id})["partitionBackfillOrError"]


def _materializations(url: str, asset: str) -> list[dict]:
    data = graphql(url, """query($k: AssetKeyInput!) { assetOrError(assetKey: $k) { __typename
        ... on Asset { assetMaterializations(limit: 10000) { partition runId timestamp
        metadataEntries { label ... on IntMetadataEntry { intValue } } } } } }""", {"k": {"path": [asset]}})
    assert data["assetOrError"]["__typename"] == "Asset", (asset, data)
    return data["assetOrError"]["assetMaterializations"]


def _rows(event: dict) -> int:
    (rows,) = [m["intValue"] for m in event["metadataEntries"] if m["label"] == "rows"]
    return rows


def _wait(what: str, check, timeout: float, interval: float = 1.0):
    return wait_for(what, check, timeout, interval=interval)


def _objects(topology: Topology) -> dict[str, str]:
    """Every object of the bucket but the step logs (written while steps run): key -> ETag."""
    env = topology.env()
    client = boto3.client("s3", endpoint_url=topology.s3_url, region_name=env["AWS_DEFAULT_REGION"],
                          aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
    found = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=env[S3_BUCKET_ENV]):
        found.update({o["Key"]: o["ETag"] for o in page.get("Contents", [])
                      if not o["Key"].startswith("dagster-compute-logs/")})
    return found


def test_backfill_survives_a_killed_daemon_then_a_restart_keeps_everything_and_the_sensor_loads_a_new_day(topology):
    topology.prepare()
    topology.start_process("s3")
    topology.wait_s3()
    _land(topology, last_day=FIRST_DROP_END, drop_first_day=START)
    topology.start_process("code_server")
    topology.wait_code_server()
    topology.start_process("webserver")
    topology.wait_webserver()
    url = topology.webserver_url
    # Before the daemon first ticks: the sensors would otherwise request the same partitions themselves.
    _stop_sensors(url)
    _add_tickers(url)
    topology.start_process("daemon")
    topology.wait_daemon()

    keys = _partition_keys()
    backfill_id = _launch_backfill(url, keys)
    began = time.monotonic()
    # Mid-backfill: some runs requested, not all finished. The daemon dies; its restart loop brings it back.
    state = _wait("the backfill's first run", lambda: (lambda b: b if b["runs"] else None)(_backfill(url, backfill_id)),
                  timeout=240, interval=0.5)
    assert state["status"] not in DONE | FAILED, state
    killed = time.monotonic()
    killed_pid = topology.kill_process("daemon")
    killed_with = Counter(r["status"] for r in _backfill(url, backfill_id)["runs"])
    _wait("the restarted daemon", lambda: topology.health("daemon")["state"] == "healthy"
          and topology.child_pid("daemon") not in (None, killed_pid), timeout=240)
    print(f"\ndaemon killed with runs {dict(killed_with)}: healthy again after {time.monotonic() - killed:.1f}s")

    def finished():
        backfill = _backfill(url, backfill_id)
        assert backfill["status"] not in FAILED, backfill
        return backfill if backfill["status"] in DONE else None

    backfill = _wait("the backfill to complete", finished, timeout=900, interval=2)
    elapsed = time.monotonic() - began
    runs = backfill["runs"]
    by_status = Counter(r["status"] for r in runs)
    # One run per ticker (single-run backfill policy): a restarted daemon that re-requested runs would show here.
    assert by_status == {"SUCCESS": len(TICKERS)}, (dict(killed_with), by_status)
    assert all(_went_through_the_queue(url, r["runId"]) for r in runs)
    run_ids = {r["runId"] for r in runs}
    stored = {}
    for asset in BACKFILL_ASSETS:
        events = _materializations(url, asset)
        counts = Counter(e["partition"] for e in events)
        assert set(counts) == set(keys), (asset, sorted(set(keys) ^ set(counts))[:5])
        assert max(counts.values()) == 1, (asset, [k for k, n in counts.items() if n > 1][:5])
        assert {e["runId"] for e in events} <= run_ids, asset
        stored[asset] = len(events)
    print(f"backfill of {len(keys)} partitions x {len(BACKFILL_ASSETS)} assets in {len(runs)} runs: "
          f"{elapsed:.1f}s ({len(runs) / elapsed * 60:.1f} runs/min)")

    # The whole topology stopped and started again: the object store keeps landing files and tables.
    before = _objects(topology)
    assert any(k.startswith(f"{LANDING}/") for k in before) and any("/assets/raw_prices/" in k for k in before)
    began = time.monotonic()
    topology.stop()
    topology.start()
    print(f"topology stopped and started again in {time.monotonic() - began:.1f}s")
    assert _objects(topology) == before
    for asset in BACKFILL_ASSETS:
        assert len(_materializations(url, asset)) == stored[asset], asset

    # A new day lands; new_data_sensor (off until now, so its first tick comes at once) requests its runs.
    _land(topology, last_day=NEW_DAY, drop_first_day=NEW_DAY)
    began = time.monotonic()
    _start_sensor(url, NEW_DATA_SENSOR)
    new_keys = {key_for(ticker, date.fromisoformat(NEW_DAY)) for ticker in TICKERS}
    trigger = [{"key": "finpulse/trigger", "value": "new data"}]

    def loaded():
        sensor_runs = _runs(url, trigger)
        assert not [r for r in sensor_runs if r["status"] in {"FAILURE", "CANCELED"}], sensor_runs
        if len(sensor_runs) < len(TICKERS) or any(r["status"] != "SUCCESS" for r in sensor_runs):
            return None
        return sensor_runs

    sensor_runs = _wait("the sensor's runs", loaded, timeout=900, interval=2)
    # One run per ticker (a range of days each), queued like every run.
    assert len(sensor_runs) == len(TICKERS), sensor_runs
    assert all(_went_through_the_queue(url, r["runId"]) for r in sensor_runs)
    sensor_run_ids = {r["runId"] for r in sensor_runs}
    for asset in BACKFILL_ASSETS:
        events = [e for e in _materializations(url, asset) if e["partition"] in new_keys]
        by_sensor = [e for e in events if e["runId"] in sensor_run_ids]
        assert {e["partition"] for e in by_sensor} == new_keys, asset
        if asset in ("raw_prices", "raw_tweets"):
            # The backfill found nothing for the new day; the sensor's runs load its rows.
            assert all(_rows(e) == 0 for e in events if e["runId"] in run_ids), (asset, events)
            assert all(_rows(e) >= 1 for e in by_sensor), (asset, by_sensor)
    print(f"new day through the sensor: {len(sensor_runs)} runs in {time.monotonic() - began:.1f}s")
