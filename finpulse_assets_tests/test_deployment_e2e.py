"""The operator's end-to-end test of the Dagster topology (docs/deployment.md): every component killed mid-run.

One topology for the module (local_topology.Topology): s3rver, code server, webserver and daemon, each under
its restart loop, on a Postgres instance of their own with the production dagster.yaml (queued runs, run
monitoring, run retries), the landing prefix the sources read and the asset tables on the s3rver. Everything
an operator does goes through the webserver's GraphQL API (sensors off, tickers registered, backfills
launched, runs, events and materializations read back); the kills are what a crash does: SIGKILL of the
run's worker, of the code server, the daemon, the webserver or the object store (their restart loops bring
them back), `pg_terminate_backend` of the instance's Postgres connections, and a stop and start of the whole
topology. One at a time, each kill hits a backfill of its own ticker (1 ticker x 8 days x 4 assets, one run)
while that run executes a step, and the next backfill is launched once the component is back (so a kill
may also hit the previous backfill's run). Then each backfill must have completed successfully with every
selected partition materialized exactly once (the instance's counts, by the backfill's runs) and stored
with the rows its materialization recorded; no partition stored by a backfill completed before a kill may
be lost or changed by it (the Delta tables' rows and content hash per partition). The time to recover is
printed per kill. Last, a new day lands for one ticker and new_data_sensor's run loads it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pytest

from finpulse_assets.deploy.local_net import free_port
from finpulse_assets.deploy.local_topology import (
    DEFAULT_PORTS,
    PORT_ENV,
    Topology,
    TopologyError,
    location_loaded,
)
from finpulse_assets.partitions import key_for
from finpulse_assets.sensors.new_data import NEW_DATA_SENSOR
from finpulse_assets_tests.daemon_support import wait_for
from finpulse_assets_tests.postgres_support import temporary_database
from finpulse_assets_tests.test_s3_landing import price_csv, tweet_csvs
from finpulse_assets_tests.topology_operator import (
    add_tickers,
    answers,
    backfill,
    executing_run,
    kill_run_worker,
    landing_cursor,
    launch_backfill,
    materialization_counts,
    materializations,
    objects,
    rows_of,
    runs_with_tags,
    s3_client,
    set_sensor_cursor,
    start_sensor,
    stop_sensors,
    storage_answers,
    stored_partitions,
    terminate_instance_connections,
    went_through_the_queue,
)

pytestmark = pytest.mark.slow

# One ticker per kill, so each backfill selects partitions no other case touches.
KILLS = {"run": "AAPL", "code_server": "MSFT", "daemon": "TSLA", "webserver": "AMZN", "s3": "GOOG",
         "postgres": "INTC", "topology": "NVDA"}
TICKERS = tuple(KILLS.values())
START, END = "2024-01-02", "2024-01-10"   # 8 days per ticker, all backfilled
FIRST_DROP_END = "2024-01-08"              # the data there is at first; the later day materializes empty
NEW_DAY = "2024-01-09"                     # then lands for one ticker
NEW_DAY_TICKER = KILLS["run"]
LANDING = "finpulse/landing"
ASSETS = ["raw_tweets", "vader_labels", "raw_prices", "price_features"]
COMPONENTS = ["s3", "code_server", "webserver", "daemon"]
FAILED = {"FAILED", "CANCELED", "COMPLETED_FAILED", "FAILING", "CANCELING"}


def _ports() -> dict[str, int]:
    """The topology's port variables when set (FINPULSE_DEPLOY_*_PORT, to keep clear of other topologies on
    the machine), else free ports."""
    return {name: int(os.environ.get(PORT_ENV[name]) or free_port()) for name in DEFAULT_PORTS}


def _days() -> list[date]:
    first, last = date.fromisoformat(START), date.fromisoformat(END)
    return [first + timedelta(days=i) for i in range((last - first).days)]


def _land(topology: Topology, ticker: str, last_day: str, drop_first_day: str) -> None:
    """`ticker`'s Yahoo price file through `last_day` (a new drop overwrites it) and a tweet drop from `drop_first_day`."""
    client, bucket = s3_client(topology), topology.env()["FINPULSE_S3_BUCKET"]
    i = TICKERS.index(ticker)
    client.put_object(Bucket=bucket, Key=f"{LANDING}/prices/{ticker}.csv",
                      Body=price_csv(START, last_day, base=100.0 * (i + 1)).encode())
    tweets, company = tweet_csvs(ticker, drop_first_day, last_day, first_id=100_000 * (i + 1)
                                 + (date.fromisoformat(drop_first_day) - date.fromisoformat(START)).days)
    client.put_object(Bucket=bucket, Key=f"{LANDING}/tweets/{drop_first_day}-{ticker}/Tweet.csv", Body=tweets.encode())
    client.put_object(Bucket=bucket, Key=f"{LANDING}/tweets/{drop_first_day}-{ticker}/Company_Tweet.csv",
                      Body=company.encode())


@pytest.fixture(scope="module")
def operator():
    # A folder of its own, not pytest's tmp_path: a pytest session started meanwhile by anyone under the same
    # user deletes all but the last 3 of pytest's base folders, and this one lives for minutes.
    tmp = Path(tempfile.mkdtemp(prefix="finpulse_e2e_"))
    with temporary_database("topology_e2e") as url:
        topology = Topology(
            state_dir=tmp / "deploy", pg_url=url, ports=_ports(),
            extra_env={"FINPULSE_TICKERS": ",".join(TICKERS), "FINPULSE_START": START, "FINPULSE_END": END,
                       "FINPULSE_TWEET_SOURCE": "s3_landing", "FINPULSE_PRICE_SOURCE": "s3_landing",
                       "FINPULSE_S3_PREFIX": "finpulse", "FINPULSE_STORAGE_DIR": str(tmp / "storage"),
                       "FINPULSE_MLFLOW_URI": f"sqlite:///{tmp / 'mlflow.db'}"})
        try:
            began = time.monotonic()
            topology.prepare()
            topology.start_process("s3")
            topology.wait_s3()
            for ticker in TICKERS:
                _land(topology, ticker, last_day=FIRST_DROP_END, drop_first_day=START)
            topology.start_process("code_server")
            topology.wait_code_server()
            topology.start_process("webserver")
            topology.wait_webserver()
            # Before the daemon first ticks: the sensors would otherwise request the same partitions themselves.
            stop_sensors(topology.webserver_url)
            add_tickers(topology.webserver_url, TICKERS)
            topology.start_process("daemon")
            topology.wait_daemon()
            print(f"\ntopology up with {len(TICKERS)} tickers landed in {time.monotonic() - began:.1f}s, "
                  f"load average {os.getloadavg()}")
            yield topology, topology.webserver_url
        finally:
            topology.stop()
            for name in COMPONENTS:
                assert topology.pid(name) is None, f"{name} still runs after stop"
            assert not topology.leftover_pids(), "processes of the topology outlived its stop"
            shutil.rmtree(tmp, ignore_errors=True)


def _loaded(url: str) -> bool:
    """The webserver answers and has the code location loaded. A load error counts as not yet: the webserver
    shows one while the code server restarts, and reloads the location once it answers again."""
    try:
        return answers(url) and location_loaded(url)
    except TopologyError:
        return False


def _all_healthy(topology: Topology, url: str) -> bool:
    return all(topology.health(name)["state"] == "healthy" for name in COMPONENTS) and _loaded(url)


def _back(topology: Topology, name: str, killed_pid: int):
    """`name`'s restart loop runs a new process, and its probe says healthy."""
    return lambda: topology.health(name)["state"] == "healthy" and topology.child_pid(name) not in (None, killed_pid)


def _kill(component: str, topology: Topology, url: str, backfill_id: str, run_pid: int) -> str:
    """Kills `component` and waits until it is back (not yet the backfill); returns what was done."""
    if component == "run":
        kill_run_worker(run_pid)
        wait_for("the run's retry", lambda: any(r["parentRunId"] for r in backfill(url, backfill_id)["runs"]),
                 timeout=300, interval=0.5)
        return f"run worker pid {run_pid} SIGKILLed; its retry created"
    if component == "postgres":
        ended = terminate_instance_connections(topology, seconds=10, every=0.05)
        wait_for("every component healthy", lambda: _all_healthy(topology, url), timeout=300, interval=0.5)
        # The webserver holds a connection per storage (dagster-postgres' optimize_for_webserver, no pre-ping):
        # the first request on a terminated one fails (HTTP 500, "server closed the connection unexpectedly"),
        # then SQLAlchemy replaces it. Counted here; recovered once every storage answers.
        failed = []
        wait_for("the webserver's storages", lambda: storage_answers(url, backfill_id) or failed.append(1),
                 timeout=120, interval=0.5)
        return (f"pg_terminate_backend every 0.05 s for 10 s ended {sum(ended.values())} connections {dict(ended)}; "
                f"{len(failed)} GraphQL request(s) failed before every storage answered")
    if component == "topology":
        before = objects(topology)
        topology.stop()
        topology.start()
        after = objects(topology)
        # The store is on disk: every object from before the stop is there unchanged (the run adds new ones).
        assert {k: after.get(k) for k in before} == before
        return f"stopped and started again, {len(before)} objects kept"
    pid = topology.kill_process(component)
    wait_for(f"{component} back", _back(topology, component, pid), timeout=300, interval=0.2)
    if component == "webserver":
        wait_for("the webserver's code location", lambda: _loaded(url), timeout=300, interval=0.2)
    return f"{component} pid {pid} SIGKILLed; its restart loop started it again"


@pytest.fixture(scope="module")
def cases():
    """What the kill tests leave for the checks after them: {component: its backfill, keys, kill time},
    and "stored": each completed backfill's partitions as stored when it was first seen complete."""
    return {"stored": {}}


def _selected(keys: list[str]) -> set[tuple[str, str]]:
    return {(asset, key) for asset in ASSETS for key in keys}


def _completed(url: str, cases: dict) -> list[str]:
    return [c for c in KILLS if c in cases and backfill(url, cases[c]["backfill"])["status"] == "COMPLETED_SUCCESS"]


def _record_completed(topology: Topology, url: str, cases: dict) -> dict:
    """Stores the partitions of every backfill completed since the last call; returns what is recorded."""
    recorded = cases["stored"]
    new = [c for c in _completed(url, cases) if not _selected(cases[c]["keys"]) & set(recorded)]
    if new:
        now = stored_partitions(topology, ASSETS)
        for component in new:
            recorded.update({k: v for k, v in now.items() if k in _selected(cases[component]["keys"])})
    return dict(recorded)


@pytest.mark.parametrize("component", list(KILLS))
def test_a_kill_while_a_run_executes_is_recovered_from(operator, cases, component):
    """The kill, one at a time, each while its own backfill's run executes a step; the next backfill is
    launched as soon as the component is back (the backfills are checked by the tests below)."""
    topology, url = operator
    wait_for("every component healthy", lambda: _all_healthy(topology, url), timeout=300, interval=0.5)
    keys = [key_for(KILLS[component], day) for day in _days()]
    assert not _selected(keys) & set(materialization_counts(url, ASSETS)), "partitions materialized before"
    stored_before = _record_completed(topology, url, cases)

    began = time.monotonic()
    backfill_id = launch_backfill(url, ASSETS, keys, f"e2e kill {component}")
    cases[component] = {"backfill": backfill_id, "keys": keys}
    run_id, run_pid = wait_for("a run of the backfill executing a step", lambda: executing_run(url, backfill_id),
                               timeout=600, interval=0.5)
    load = os.getloadavg()[0]
    killed = time.monotonic()
    cases[component].update(killed_at=time.time(), run=run_id)
    what = _kill(component, topology, url, backfill_id, run_pid)
    back = time.monotonic() - killed
    print(f"\n{component}: {what}; back in {back:.1f}s (launch to kill {killed - began:.1f}s, load {load:.1f})")
    # Nothing the backfills completed before the kill stored is lost or changed.
    now = stored_partitions(topology, ASSETS)
    assert {k: now.get(k) for k in stored_before} == stored_before


# A defect the kills found and that is not fixed yet. The kill hits a run's write only in some passes (1 of 3
# so far): then the test checks what must still hold and reports the defect as an expected failure.
KNOWN_DEFECTS = {
    "postgres": "a run's event write on a connection pg_terminate_backend ends fails its step (STEP_FAILURE: "
                "psycopg2.OperationalError 'server closed the connection unexpectedly' writing STEP_START), which "
                "run retries do not retry (retry_on_asset_or_op_failure: false): the backfill ends COMPLETED_FAILED "
                "when the kill hits a write",
}


@pytest.mark.parametrize("component", KILLS)
def test_after_the_kill_its_backfill_succeeds_with_every_partition_once(operator, cases, component):
    topology, url = operator
    assert component in cases, f"the kill of {component} did not run"
    case = cases[component]
    # The known defect may end its backfill COMPLETED_FAILED; nothing may still be doubled, lost or misrecorded.
    known_defect = KNOWN_DEFECTS.get(component)

    def ended():
        state = backfill(url, case["backfill"])
        assert state["status"] not in FAILED or (known_defect and state["status"] == "COMPLETED_FAILED"), state
        return state if state["status"] != "REQUESTED" else None

    state = wait_for("the backfill to end", ended, timeout=900, interval=1)
    _record_completed(topology, url, cases)
    runs = state["runs"]
    print(f"\n{component}: backfill {state['status']} {state['endTimestamp'] - case['killed_at']:.1f}s after the "
          f"kill; runs {dict(Counter(r['status'] for r in runs))}")
    if state["status"] != "COMPLETED_SUCCESS":
        _check_nothing_doubled_or_misrecorded(topology, url, case, runs, complete=False)
        pytest.xfail(known_defect)
    # A failed run is one a kill ended, retried by a run that succeeded.
    retried = {r["parentRunId"] for r in runs if r["status"] == "SUCCESS" and r["parentRunId"]}
    assert all(r["status"] == "SUCCESS" or (r["status"] == "FAILURE" and r["runId"] in retried) for r in runs), runs
    assert case["run"] in {r["runId"] for r in runs}
    assert all(went_through_the_queue(url, r["runId"]) for r in runs)

    _check_nothing_doubled_or_misrecorded(topology, url, case, runs, complete=True)


def _check_nothing_doubled_or_misrecorded(topology, url, case, runs, complete: bool):
    """Every selected partition materialized once (at most once for a failed backfill), by the backfill's runs,
    and the rows stored are the rows recorded."""
    selected = _selected(case["keys"])
    counts = {k: n for k, n in materialization_counts(url, ASSETS).items() if k in selected}
    expected = dict.fromkeys(selected, 1) if complete else {k: 1 for k in counts}
    assert counts == expected, sorted((k, n) for k, n in counts.items() if n != 1)[:5] or \
        sorted(selected - set(counts))[:5]
    run_ids = {r["runId"] for r in runs}
    recorded = {}
    for asset in ASSETS:
        for event in materializations(url, asset):
            if (asset, event["partition"]) in selected:
                assert event["runId"] in run_ids, (asset, event)
                recorded[(asset, event["partition"])] = rows_of(event)
    stored = stored_partitions(topology, ASSETS)
    wrong = [(k, stored.get(k), rows) for k, rows in recorded.items()
             if rows is not None and stored.get(k, (0, ""))[0] != rows]
    assert not wrong, wrong
    assert not complete or any(recorded.values()), "the backfill stored no rows at all"


def test_no_stored_partition_was_lost_or_changed_by_the_later_kills(operator, cases):
    topology, url = operator
    recorded = _record_completed(topology, url, cases)
    now = stored_partitions(topology, ASSETS)
    assert {k: now.get(k) for k in recorded} == recorded
    selected = set().union(*(_selected(cases[c]["keys"]) for c in KILLS if c in cases))
    assert {k for k in now if k not in selected} == set(), "partitions stored that no backfill selected"
    print(f"\n{len(recorded)} stored partitions of {len(KILLS)} backfills unchanged to the end")


def test_a_new_day_lands_and_new_data_sensor_loads_it(operator):
    topology, url = operator
    wait_for("every component healthy", lambda: _all_healthy(topology, url), timeout=300, interval=0.5)
    # What has landed so far is loaded by the backfills: the sensor starts from here.
    set_sensor_cursor(url, NEW_DATA_SENSOR, landing_cursor(topology, LANDING))
    _land(topology, NEW_DAY_TICKER, last_day=NEW_DAY, drop_first_day=NEW_DAY)
    began = time.monotonic()
    start_sensor(url, NEW_DATA_SENSOR)
    new_key = key_for(NEW_DAY_TICKER, date.fromisoformat(NEW_DAY))
    trigger = [{"key": "finpulse/trigger", "value": "new data"}]

    def loaded():
        sensor_runs = runs_with_tags(url, trigger)
        assert not [r for r in sensor_runs if r["status"] in {"FAILURE", "CANCELED"}], sensor_runs
        return sensor_runs if sensor_runs and all(r["status"] == "SUCCESS" for r in sensor_runs) else None

    sensor_runs = wait_for("the sensor's runs", loaded, timeout=900, interval=2)
    sensor_run_ids = {r["runId"] for r in sensor_runs}
    for asset in ASSETS:
        events = [e for e in materializations(url, asset) if e["partition"] == new_key]
        by_sensor = [e for e in events if e["runId"] in sensor_run_ids]
        assert by_sensor, (asset, events)
        if asset in ("raw_prices", "raw_tweets"):
            # The backfill found nothing for the new day; the sensor's run loads its rows.
            assert all(rows_of(e) == 0 for e in events if e["runId"] not in sensor_run_ids), (asset, events)
            assert all(rows_of(e) >= 1 for e in by_sensor), (asset, by_sensor)
    print(f"\nnew day through the sensor: {len(sensor_runs)} run(s) in {time.monotonic() - began:.1f}s")
