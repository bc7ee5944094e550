"""What the operator's end-to-end test does and reads through the topology's interfaces (test_deployment_e2e.py).

GraphQL requests to the webserver (backfills, runs, their events, materializations, sensors), the object
store's listing, the stored Delta tables as (rows, content hash) per partition, and the kill of each
component: its process (SIGKILL, its restart loop brings it back), a run's worker (the pid its engine event
names), or every Postgres connection of the instance's database (`pg_terminate_backend`).
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import time
import urllib.error
from collections import Counter

import boto3
import pandas as pd
import psycopg2

from finpulse_assets.deploy.local_topology import (
    S3_BUCKET_ENV,
    Topology,
    TopologyError,
    graphql,
)
from finpulse_assets.partitions import TickerDay
from finpulse_assets.storage.instance import database_name
from finpulse_assets.storage.ticker_day_table import TickerDayTable

LOCATION = "finpulse_assets"
REPOSITORY = {"repositoryLocationName": LOCATION, "repositoryName": "__repository__"}
RUN_PID = re.compile(r"Started process for run \(pid: (\d+)\)")


def s3_client(topology: Topology):
    env = topology.env()
    return boto3.client("s3", endpoint_url=topology.s3_url, region_name=env["AWS_DEFAULT_REGION"],
                        aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])


def objects(topology: Topology) -> dict[str, str]:
    """Every object of the bucket but the step logs (written while steps run): key -> ETag."""
    found = {}
    for page in s3_client(topology).get_paginator("list_objects_v2").paginate(Bucket=topology.env()[S3_BUCKET_ENV]):
        found.update({o["Key"]: o["ETag"] for o in page.get("Contents", [])
                      if not o["Key"].startswith("dagster-compute-logs/")})
    return found


def stored_partitions(topology: Topology, assets: list[str]) -> dict[tuple[str, str], tuple[int, str]]:
    """(asset, partition key) -> (rows, sha256 of the rows) for every partition with rows in the Delta tables."""
    env = topology.env()
    options = {"AWS_REGION": env["AWS_DEFAULT_REGION"], "AWS_ENDPOINT_URL": topology.s3_url, "AWS_ALLOW_HTTP": "true",
               "AWS_ACCESS_KEY_ID": env["AWS_ACCESS_KEY_ID"], "AWS_SECRET_ACCESS_KEY": env["AWS_SECRET_ACCESS_KEY"]}
    prefix = f"s3://{env[S3_BUCKET_ENV]}/{env.get('FINPULSE_S3_PREFIX', 'finpulse')}/assets"
    state = {}
    for asset in assets:
        table = TickerDayTable(f"{prefix}/{asset}", options).open()
        if table is None:
            continue
        frame = table.to_pandas()
        columns = sorted(frame.columns)
        for (ticker, day), rows in frame.groupby(["ticker", "day"], sort=True):
            text = rows[columns].sort_values(columns, kind="stable").to_csv(index=False)
            key = str(TickerDay(ticker, pd.Timestamp(day).date()).key)
            state[(asset, key)] = (len(rows), hashlib.sha256(text.encode()).hexdigest())
    return state


def materializations(url: str, asset: str) -> list[dict]:
    data = graphql(url, """query($k: AssetKeyInput!) { assetOrError(assetKey: $k) { __typename
        ... on Asset { assetMaterializations(limit: 10000) { partition runId timestamp
        metadataEntries { label ... on IntMetadataEntry { intValue } } } } } }""", {"k": {"path": [asset]}})
    if data["assetOrError"]["__typename"] != "Asset":   # not materialized yet
        return []
    return data["assetOrError"]["assetMaterializations"]


def materialization_counts(url: str, assets: list[str]) -> Counter:
    """(asset, partition) -> how many materializations the instance records."""
    return Counter((asset, e["partition"]) for asset in assets for e in materializations(url, asset))


def rows_of(event: dict) -> int | None:
    found = [m["intValue"] for m in event["metadataEntries"] if m["label"] == "rows"]
    return found[0] if found else None


def launch_backfill(url: str, assets: list[str], keys: list[str], title: str) -> str:
    result = graphql(url, """mutation($p: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $p) {
        __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message }
        ... on PartitionSetNotFoundError { message } ... on InvalidSubsetError { message } } }""",
                     {"p": {"assetSelection": [{"path": [a]} for a in assets], "partitionNames": keys,
                            "title": title}})["launchPartitionBackfill"]
    assert result["__typename"] == "LaunchBackfillSuccess", result
    return result["backfillId"]


def backfill(url: str, backfill_id: str) -> dict:
    return graphql(url, """query($id: String!) { partitionBackfillOrError(backfillId: $id) {
        ... on PartitionBackfill { status endTimestamp runs(limit: 1000) { runId status parentRunId
        tags { key value } } } ... on PythonError { message } } }""",
                   {"id": backfill_id})["partitionBackfillOrError"]


def run_events(url: str, run_id: str) -> list[dict]:
    data = graphql(url, """query($id: ID!) { logsForRun(runId: $id, limit: 1000) {
        ... on EventConnection { events { __typename ... on MessageEvent { message } } } } }""", {"id": run_id})
    return data["logsForRun"]["events"]


def went_through_the_queue(url: str, run_id: str) -> bool:
    return "RunEnqueuedEvent" in {e["__typename"] for e in run_events(url, run_id)}


def executing_run(url: str, backfill_id: str) -> tuple[str, int] | None:
    """(run id, its worker's pid) once a run of the backfill is STARTED and one of its steps has started."""
    for run in backfill(url, backfill_id)["runs"]:
        if run["status"] != "STARTED":
            continue
        events = run_events(url, run["runId"])
        pids = [int(m.group(1)) for e in events if (m := RUN_PID.search(e.get("message") or ""))]
        if pids and any(e["__typename"] == "ExecutionStepStartEvent" for e in events):
            return run["runId"], pids[-1]
    return None


def answers(url: str, query: str = "{ version }") -> bool:
    """The webserver answers GraphQL (False while it is down or restarting)."""
    try:
        graphql(url, query, timeout=10)
    except (urllib.error.URLError, ConnectionError, TimeoutError, TopologyError):
        return False
    return True


def sensors(url: str) -> list[dict]:
    data = graphql(url, """query($r: RepositorySelector!) { sensorsOrError(repositorySelector: $r) {
        __typename ... on Sensors { results { name sensorState { id status } } } ... on PythonError { message } } }""",
                   {"r": REPOSITORY})
    assert data["sensorsOrError"]["__typename"] == "Sensors", data
    return data["sensorsOrError"]["results"]


def stop_sensors(url: str) -> None:
    for sensor in sensors(url):
        result = graphql(url, """mutation($id: String!) { stopSensor(id: $id) { __typename
            ... on StopSensorMutationResult { instigationState { status } } ... on PythonError { message } } }""",
                         {"id": sensor["sensorState"]["id"]})["stopSensor"]
        assert result["__typename"] == "StopSensorMutationResult", result
    assert {s["sensorState"]["status"] for s in sensors(url)} == {"STOPPED"}


def set_sensor_cursor(url: str, name: str, cursor: str) -> None:
    result = graphql(url, """mutation($s: SensorSelector!, $c: String) { setSensorCursor(sensorSelector: $s, cursor: $c) {
        __typename ... on PythonError { message } } }""", {"s": {**REPOSITORY, "sensorName": name}, "c": cursor})
    assert result["setSensorCursor"]["__typename"] == "Sensor", result


def start_sensor(url: str, name: str) -> None:
    result = graphql(url, """mutation($s: SensorSelector!) { startSensor(sensorSelector: $s) { __typename
        ... on Sensor { sensorState { status } } ... on PythonError { message } } }""",
                     {"s": {**REPOSITORY, "sensorName": name}})["startSensor"]
    assert result["__typename"] == "Sensor" and result["sensorState"]["status"] == "RUNNING", result


def add_tickers(url: str, tickers) -> None:
    for ticker in tickers:
        result = graphql(url, """mutation($r: RepositorySelector!, $key: String!) {
            addDynamicPartition(repositorySelector: $r, partitionsDefName: "tickers", partitionKey: $key) {
            __typename ... on PythonError { message } ... on DuplicateDynamicPartitionError { partitionName } } }""",
                         {"r": REPOSITORY, "key": ticker})["addDynamicPartition"]
        assert result["__typename"] == "AddDynamicPartitionSuccess", result


def runs_with_tags(url: str, tags: list[dict]) -> list[dict]:
    data = graphql(url, """query($f: RunsFilter!) { runsOrError(filter: $f) { ... on Runs { results { runId status
        } } } }""", {"f": {"tags": tags}})
    return data["runsOrError"]["results"]


def kill_run_worker(pid: int) -> None:
    """SIGKILL of a run's worker process, as an OOM kill or a lost pod would end it."""
    os.kill(pid, signal.SIGKILL)


def terminate_instance_connections(topology: Topology, seconds: float, every: float = 0.5) -> Counter:
    """`pg_terminate_backend` of every connection to the instance's database, again every `every` s for
    `seconds` (one sweep finds few: Dagster's Postgres storage opens a connection per query); returns how many
    were ended, by application name."""
    admin = topology.pg_url.replace("postgresql+psycopg2://", "postgresql://")
    ended: Counter = Counter()
    deadline = time.monotonic() + seconds
    with psycopg2.connect(admin) as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            while time.monotonic() < deadline:
                cur.execute("SELECT application_name, pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE datname = %s AND pid <> pg_backend_pid()", (database_name(topology.pg_url),))
                ended.update(name or "(unnamed)" for name, done in cur.fetchall() if done)
                time.sleep(every)
    return ended


def landing_cursor(topology: Topology, landing: str) -> str:
    """new_data_sensor's cursor having seen every object now under `landing` (what an operator sets when
    what has landed so far is loaded by backfills already, so the sensor starts from here)."""
    from finpulse_assets.sensors.new_data import changed_objects
    from finpulse_assets.sources.s3_landing import LandingObject

    pages = s3_client(topology).get_paginator("list_objects_v2").paginate(
        Bucket=topology.env()[S3_BUCKET_ENV], Prefix=f"{landing}/")
    found = sorted((LandingObject(o["Key"], o["ETag"].strip('"'), o["LastModified"], o["Size"])
                    for page in pages for o in page.get("Contents", [])), key=lambda o: o.key)
    return changed_objects(None, found)[1]


def storage_answers(url: str, backfill_id: str) -> bool:
    """One GraphQL request reading each of the instance's three storages through the webserver (runs:
    the backfill; event log: an asset's materializations; schedules: the sensors' states) succeeds."""
    try:
        backfill(url, backfill_id)
        materializations(url, "raw_prices")
        sensors(url)
    except TopologyError:
        return False
    return True

