"""What breaks as one ticker x day asset's partition count grows, on the pinned Dagster, per partition layout.

    nice .venv/bin/python benchmarks/partition_ceiling.py --sizes 100x3,300x3,500x5.5,500x10 --layouts calendar
    nice .venv/bin/python benchmarks/partition_ceiling.py --sizes 500x10 --layouts calendar,trading,month

A size is TICKERSxYEARS (from --start). Layouts of the date dimension (the ticker dimension is dynamic, as in
finpulse_assets/partitions.py):

    calendar   DailyPartitionsDefinition: every calendar day (today's layout)
    trading    weekdays only (a cron "0 0 * * 1-5" time window): 5/7 of the calendar-day count
    month      MonthlyPartitionsDefinition: one partition per ticker and month, rows still per day

Each configuration gets a fresh instance (a throwaway database on --pg-url, or a temp SQLite DAGSTER_HOME with
`--instance sqlite`) and a fresh `dagster-webserver` on a free port serving this file as its code location
(`defs` is built from PC_* variables). Measured, in order:

    write        register the tickers, store the first ticker's ASSET_MATERIALIZATION events in batches of 1,000
                 through the instance's event log storage (the path a batched run takes), then the other tickers'
                 whole ranges for at most --write-seconds: on Postgres as SQL copies of the first ticker's rows
                 (INSERT ... SELECT on Dagster's event_logs table, minutes instead of hours for 1.8 M events),
                 on SQLite through store_event_batch again. The fraction written is reported.
    status       instance.get_materialized_partitions (cold, warm), the UI's partition-health GraphQL query
                 (assetPartitionStatuses + partitionKeysByDimension; cold = first, which fills the status cache)
    backfill     the launchPartitionBackfill mutation for one ticker's most recent year (what a UI backfill posts)
    sensor       one evaluation of a sensor that finds the latest day's missing partitions from the
                 materialized set and asks for one run per ticker (what new_data_sensor does per tick)
    pages        the asset's partitions page and the catalog page in headless Chromium (/usr/bin/chromium) until
                 the network is idle, cold then warm
    size         the database size (Postgres) or the DAGSTER_HOME size (SQLite)

Prints a markdown table and writes reports/partition_ceiling.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date, datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ASSET = "prices"
TICKERS = "tickers"
CHROMIUM = "/usr/bin/chromium"


def ticker_names(n: int) -> list[str]:
    return [f"T{i:04d}" for i in range(n)]


def partitions_def(layout: str, start: str, end: str):
    from dagster import (DailyPartitionsDefinition, DynamicPartitionsDefinition, MonthlyPartitionsDefinition,
                         MultiPartitionsDefinition, TimeWindowPartitionsDefinition)

    if layout == "calendar":
        days = DailyPartitionsDefinition(start_date=start, end_date=end)
    elif layout == "trading":
        days = TimeWindowPartitionsDefinition(cron_schedule="0 0 * * 1-5", start=start, end=end, fmt="%Y-%m-%d")
    elif layout == "month":
        days = MonthlyPartitionsDefinition(start_date=start, end_date=end)
    else:
        raise ValueError(f"unknown layout {layout!r}: expected calendar, trading or month")
    return MultiPartitionsDefinition({"date": days, "ticker": DynamicPartitionsDefinition(name=TICKERS)})


def build_defs(layout: str, start: str, end: str):
    from dagster import AssetKey, Definitions, RunRequest, SensorResult, asset, sensor

    parts = partitions_def(layout, start, end)

    @asset(name=ASSET, partitions_def=parts)
    def prices(context) -> None:
        context.log.info(f"{len(context.partition_keys)} partitions")

    @sensor(name="latest_day_sensor", asset_selection=[ASSET], minimum_interval_seconds=3600)
    def latest_day_sensor(context):
        materialized = context.instance.get_materialized_partitions(AssetKey(ASSET))
        latest = parts.primary_dimension.partitions_def.get_last_partition_key()
        tickers = context.instance.get_dynamic_partitions(TICKERS)
        missing = [t for t in tickers if f"{latest}|{t}" not in materialized]
        return SensorResult(run_requests=[RunRequest(partition_key=f"{latest}|{t}", run_key=f"{latest}|{t}")
                                          for t in missing])

    return Definitions(assets=[prices], sensors=[latest_day_sensor]), latest_day_sensor, parts


if os.environ.get("PC_LAYOUT"):
    defs, _, _ = build_defs(os.environ["PC_LAYOUT"], os.environ["PC_START"], os.environ["PC_END"])


def _end(start: str, years: float) -> str:
    """The (exclusive) end date `years` after `start`: whole years to the same day, else 365.25 days a year."""
    first = date.fromisoformat(start)
    if years == int(years):
        return first.replace(year=first.year + int(years)).isoformat()
    return date.fromordinal(first.toordinal() + round(365.25 * years)).isoformat()


def _event_entries(dates: list[str], ticker: str) -> list:
    from dagster import AssetMaterialization
    from dagster import DagsterEvent, DagsterEventType, EventLogEntry

    from finpulse_assets.dagster_private import RUNLESS_JOB_NAME, RUNLESS_RUN_ID, StepMaterializationData

    # Dagster builds runless events like this (instance.report_runless_asset_event) but writes them one at a
    # time; the event log storage's store_event_batch is the bulk path batched runs take.
    return [EventLogEntry(
        error_info=None, level="debug", user_message="", run_id=RUNLESS_RUN_ID, timestamp=time.time(),
        dagster_event=DagsterEvent(
            event_type_value=DagsterEventType.ASSET_MATERIALIZATION.value, job_name=RUNLESS_JOB_NAME,
            event_specific_data=StepMaterializationData(AssetMaterialization(ASSET, partition=f"{d}|{ticker}"))))
        for d in dates]


def _write_events(instance, parts, tickers: list[str], seconds: float, pg_url: str | None) -> dict:
    """The first ticker through store_event_batch; the rest the same way, or on Postgres (`pg_url`) as
    copies of the first ticker's rows made in SQL (INSERT ... SELECT), whole tickers until `seconds` pass."""
    dates = parts.primary_dimension.partitions_def.get_partition_keys()
    storage = instance.event_log_storage
    written = done_tickers = 0
    started = time.perf_counter()
    for i in range(0, len(dates), 1000):
        storage.store_event_batch(_event_entries(dates[i:i + 1000], tickers[0]))
    written, done_tickers = len(dates), 1
    if pg_url:
        import sqlalchemy

        # Dagster's schema, written directly: the only way to put 1.8 M events in minutes, not hours. Each row is
        # the first ticker's row for the same date with the ticker replaced in the partition and serialized event.
        engine = sqlalchemy.create_engine(pg_url, poolclass=sqlalchemy.pool.NullPool)
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text(
                "CREATE TEMP TABLE template AS SELECT run_id, event, dagster_event_type, timestamp, step_key, "
                "asset_key, partition FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION' "
                "AND partition LIKE :like"), {"like": f"%|{tickers[0]}"})
            conn.commit()
            copy = sqlalchemy.text(
                "INSERT INTO event_logs (run_id, event, dagster_event_type, timestamp, step_key, asset_key, "
                "partition) SELECT run_id, replace(event, :old, '|' || t.ticker), dagster_event_type, timestamp, "
                "step_key, asset_key, replace(partition, :old, '|' || t.ticker) FROM template "
                "CROSS JOIN unnest(CAST(:tickers AS text[])) AS t(ticker)")
            rest = tickers[1:]
            chunk = max(1, 20_000 // len(dates))
            for i in range(0, len(rest), chunk):
                if time.perf_counter() - started > seconds:
                    break
                conn.execute(copy, {"old": f"|{tickers[0]}", "tickers": rest[i:i + chunk]})
                conn.commit()
                written += len(dates) * len(rest[i:i + chunk])
                done_tickers += len(rest[i:i + chunk])
        engine.dispose()
    else:
        for ticker in tickers[1:]:
            if time.perf_counter() - started > seconds:
                break
            for i in range(0, len(dates), 1000):
                storage.store_event_batch(_event_entries(dates[i:i + 1000], ticker))
            written += len(dates)
            done_tickers += 1
    elapsed = time.perf_counter() - started
    return {"events_written": written, "tickers_written": done_tickers, "write_seconds": round(elapsed, 1),
            "events_per_second": round(written / elapsed) if elapsed else None,
            "write_path": "store_event_batch + SQL copies" if pg_url else "store_event_batch"}


def _timed(fn):
    started = time.perf_counter()
    value = fn()
    return value, round(time.perf_counter() - started, 3)


PARTITION_HEALTH = """
query PartitionHealthQuery($assetKey: AssetKeyInput!) {
  assetNodeOrError(assetKey: $assetKey) {
    ... on AssetNode {
      id
      partitionKeysByDimension { name type partitionKeys }
      assetPartitionStatuses {
        ... on TimePartitionStatuses { ranges { status startKey endKey } }
        ... on DefaultPartitionStatuses { materializedPartitions failedPartitions unmaterializedPartitions
                                          materializingPartitions }
        ... on MultiPartitionStatuses {
          primaryDimensionName
          ranges { primaryDimStartKey primaryDimEndKey
                   secondaryDim { ... on DefaultPartitionStatuses { materializedPartitions failedPartitions
                                                                    unmaterializedPartitions materializingPartitions }
                                  ... on TimePartitionStatuses { ranges { status startKey endKey } } } }
        }
      }
    }
  }
}"""

LAUNCH_BACKFILL = """
mutation LaunchPartitionBackfill($backfillParams: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $backfillParams) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
  }
}"""


def _graphql(port: int, query: str, variables: dict, timeout: float = 600) -> dict:
    import requests

    response = requests.post(f"http://127.0.0.1:{port}/graphql", json={"query": query, "variables": variables},
                             timeout=timeout)
    response.raise_for_status()
    body = response.json()
    if body.get("errors"):
        raise RuntimeError(f"GraphQL errors: {json.dumps(body['errors'])[:500]}")
    return body["data"]


def _wait_for_webserver(port: int, process: subprocess.Popen, log: Path, timeout: float = 600) -> float:
    import requests

    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"dagster-webserver exited ({process.returncode}): {log.read_text()[-2000:]}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/server_info", timeout=5).ok:
                data = _graphql(port, "{ workspaceOrError { ... on Workspace { locationEntries { name "
                                      "locationOrLoadError { __typename } } } } }", {})
                entries = data["workspaceOrError"]["locationEntries"]
                if entries and entries[0]["locationOrLoadError"]:
                    kind = entries[0]["locationOrLoadError"]["__typename"]
                    if kind == "PythonError":
                        raise RuntimeError(f"the code location failed to load: {log.read_text()[-2000:]}")
                    return round(time.perf_counter() - started, 1)
        except requests.RequestException:
            pass
        time.sleep(1)
    raise TimeoutError(f"dagster-webserver did not answer in {timeout} s")


def _page_loads(port: int, timeout_ms: int) -> dict:
    """Seconds from navigation until the page's last GraphQL response has arrived (the page then has its data;
    the network stays idle for 500 ms after it), cold (first visit) then warm (again, same browser)."""
    from playwright.sync_api import sync_playwright

    # page -> (path, the GraphQL operation that brings its data, as the UI's bundle names it)
    pages = {"partitions_page": (f"/assets/{ASSET}?view=partitions", "PartitionHealthQuery"),
             "catalog_page": ("/assets", "AssetGraphLiveQuery")}
    result = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                             args=["--no-sandbox", "--disable-dev-shm-usage"])
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.set_default_timeout(timeout_ms)
        page.add_locator_handler(page.get_by_role("button", name="Skip"), lambda skip: skip.click())
        finished: list[tuple[float, str]] = []

        def on_finished(request) -> None:
            if "/graphql" in request.url:
                body = request.post_data or ""
                name = body.split('"operationName":"')[1].split('"')[0] if '"operationName":"' in body else "?"
                finished.append((time.perf_counter(), name))

        page.on("requestfinished", on_finished)
        for name, (path, operation) in pages.items():
            for attempt in ("cold", "warm"):
                finished.clear()
                started = time.perf_counter()
                try:
                    page.goto(f"http://127.0.0.1:{port}{path}", wait_until="networkidle", timeout=timeout_ms)
                    # the app may go quiet while it boots, before it asks for the page's data
                    while not any(op == operation for _, op in finished):
                        if time.perf_counter() - started > timeout_ms / 1000:
                            raise TimeoutError(f"no {operation} response")
                        page.wait_for_timeout(100)
                    page.wait_for_load_state("networkidle")
                    last = max((t for t, _ in finished), default=time.perf_counter())
                    result[f"{name}_{attempt}_s"] = round(last - started, 2)
                    slowest = max(finished, default=(0, "-"))[1]
                    result[f"{name}_{attempt}_last_query"] = slowest
                except Exception as error:  # a page that never settles is the measurement, not a crash
                    result[f"{name}_{attempt}_s"] = f"not loaded in {timeout_ms / 1000:.0f} s ({type(error).__name__})"
        browser.close()
    return result


def run_config(layout: str, tickers: int, years: float, args) -> dict:
    from dagster import AssetKey, DagsterInstance, build_sensor_context, partition_loading_context

    from finpulse_assets.storage.instance import ensure_database, with_database
    from finpulse_assets.deploy.local_net import free_port

    start = args.start
    end = _end(start, years)
    names = ticker_names(tickers)
    home = Path(tempfile.mkdtemp(prefix="finpulse_pc_"))
    database = f"finpulse_pc_{uuid.uuid4().hex[:8]}"
    url = with_database(args.pg_url, database)
    if args.instance == "postgres":
        ensure_database(url)
        (home / "dagster.yaml").write_text("storage:\n  postgres:\n    postgres_url:\n      env: PC_PG_URL\n"
                                           "telemetry:\n  enabled: false\n")
    else:
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {**os.environ, "DAGSTER_HOME": str(home), "PC_LAYOUT": layout, "PC_START": start, "PC_END": end,
           "PC_PG_URL": url, "PYTHONPATH": str(ROOT)}
    os.environ.update({k: env[k] for k in ("DAGSTER_HOME", "PC_PG_URL")})
    result: dict = {"layout": layout, "tickers": tickers, "years": years, "start": start, "end": end,
                    "instance": args.instance, "load_average_1min_before": round(os.getloadavg()[0], 2)}
    webserver = None
    try:
        (defs_and_sensor, build_s) = _timed(lambda: build_defs(layout, start, end))
        defs, sensor_def, parts = defs_and_sensor
        instance = DagsterInstance.get()
        instance.add_dynamic_partitions(TICKERS, names)
        dates = parts.primary_dimension.partitions_def.get_num_partitions()
        result.update({"definitions_seconds": build_s, "dates": dates, "partitions": dates * tickers})
        result.update(_write_events(instance, parts, names, args.write_seconds,
                                    url if args.instance == "postgres" else None))
        result["fraction_materialized"] = round(result["events_written"] / result["partitions"], 3)
        key = AssetKey(ASSET)
        materialized, result["get_materialized_partitions_cold_s"] = _timed(
            lambda: instance.get_materialized_partitions(key))
        _, result["get_materialized_partitions_warm_s"] = _timed(lambda: instance.get_materialized_partitions(key))
        result["materialized_read"] = len(materialized)
        def tick():
            # the sensor daemon evaluates ticks inside this context (run requests are checked against the
            # dynamic partitions in the instance)
            with partition_loading_context(dynamic_partitions_store=instance):
                return sensor_def.evaluate_tick(build_sensor_context(instance=instance, definitions=defs))

        sensor_result, result["sensor_tick_s"] = _timed(tick)
        result["sensor_run_requests"] = len(sensor_result.run_requests or [])

        port = free_port()
        log = home / "webserver.log"
        webserver = subprocess.Popen([str(Path(sys.executable).parent / "dagster-webserver"), "-f", __file__, "-h",
                                      "127.0.0.1", "-p", str(port)], env=env, stdout=log.open("w"),
                                     stderr=subprocess.STDOUT, cwd=home)
        result["webserver_start_s"] = _wait_for_webserver(port, webserver, log)
        for attempt in ("cold", "warm"):
            _, result[f"partition_health_graphql_{attempt}_s"] = _timed(
                lambda: _graphql(port, PARTITION_HEALTH, {"assetKey": {"path": [ASSET]}}))
        last_dates = parts.primary_dimension.partitions_def.get_partition_keys()[-(365 if layout != "month" else 12):]
        if layout == "trading":
            last_dates = last_dates[-261:]
        backfill, result["launch_backfill_one_ticker_year_s"] = _timed(lambda: _graphql(port, LAUNCH_BACKFILL, {
            "backfillParams": {"partitionNames": [f"{d}|{names[-1]}" for d in last_dates],
                               "assetSelection": [{"path": [ASSET]}], "fromFailure": False}}))
        result["launch_backfill_result"] = backfill["launchPartitionBackfill"]["__typename"]
        if not args.no_browser:
            result.update(_page_loads(port, args.page_timeout * 1000))
        if args.instance == "postgres":
            import sqlalchemy

            engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
            with engine.connect() as conn:
                result["instance_mb"] = round(conn.execute(sqlalchemy.text(
                    "SELECT pg_database_size(current_database())")).scalar() / 2**20, 1)
            engine.dispose()
        else:
            result["instance_mb"] = round(sum(p.stat().st_size for p in home.rglob("*") if p.is_file()) / 2**20, 1)
        result["load_average_1min_after"] = round(os.getloadavg()[0], 2)
    except Exception as error:  # what was measured before the failure stays in the result
        result["error"] = f"{type(error).__name__}: {str(error)[:300]}"
    finally:
        if webserver is not None:
            webserver.terminate()
            try:
                webserver.wait(30)
            except subprocess.TimeoutExpired:
                webserver.kill()
                webserver.wait(30)
        if args.instance == "postgres" and not args.keep:
            _drop_database(args.pg_url, database)
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)
    return result


def _drop_database(pg_url: str, database: str) -> None:
    import sqlalchemy

    from finpulse_assets.storage.instance import with_database

    engine = sqlalchemy.create_engine(with_database(pg_url, "postgres"), isolation_level="AUTOCOMMIT",
                                      poolclass=sqlalchemy.pool.NullPool)
    with engine.connect() as conn:
        conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
    engine.dispose()


COLUMNS = [("layout", "layout"), ("tickers", "tickers"), ("years", "years"), ("partitions", "partitions"),
           ("fraction_materialized", "materialized"), ("events_per_second", "write events/s"),
           ("get_materialized_partitions_cold_s", "get_materialized_partitions s (cold/warm)"),
           ("partition_health_graphql_cold_s", "partition status GraphQL s (cold/warm)"),
           ("launch_backfill_one_ticker_year_s", "backfill launch s"), ("sensor_tick_s", "sensor tick s"),
           ("partitions_page_cold_s", "partitions page s (cold/warm)"), ("catalog_page_cold_s", "catalog page s (cold/warm)"),
           ("instance_mb", "instance MB"), ("load_average_1min_before", "load before/after")]


def _cell(r: dict, key: str) -> str:
    pairs = {"get_materialized_partitions_cold_s": "get_materialized_partitions_warm_s",
             "partition_health_graphql_cold_s": "partition_health_graphql_warm_s",
             "partitions_page_cold_s": "partitions_page_warm_s", "catalog_page_cold_s": "catalog_page_warm_s",
             "load_average_1min_before": "load_average_1min_after"}
    value = r.get(key, "-")
    if key in pairs:
        return f"{value} / {r.get(pairs[key], '-')}"
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100x3,300x3,500x5.5,500x10", help="TICKERSxYEARS, comma-separated")
    parser.add_argument("--layouts", default="calendar")
    parser.add_argument("--start", default="2016-01-01")
    parser.add_argument("--instance", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--pg-url", default=os.environ.get("FINPULSE_TEST_PG_URL",
                                                           "postgresql+psycopg2://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--write-seconds", type=float, default=60, help="bound on the write phase per config")
    parser.add_argument("--page-timeout", type=int, default=120, help="seconds before a page counts as not loaded")
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the instance (for a look in the UI)")
    parser.add_argument("--out", default="reports/partition_ceiling.json")
    args = parser.parse_args()
    results = []
    for layout in args.layouts.split(","):
        for size in args.sizes.split(","):
            tickers, years = size.split("x")
            print(f"-- {layout} {tickers} tickers x {years} years", flush=True)
            try:
                result = run_config(layout, int(tickers), float(years), args)
            except Exception as error:  # one configuration failing is a finding; the others still run
                result = {"layout": layout, "tickers": int(tickers), "years": float(years),
                          "error": f"{type(error).__name__}: {str(error)[:300]}"}
            print(json.dumps(result), flush=True)
            results.append(result)
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(json.dumps({"measured_at": datetime.now(timezone.utc).isoformat(),
                                                  "cpu_count": os.cpu_count(), "results": results}, indent=2))
    print("| " + " | ".join(title for _, title in COLUMNS) + " |")
    print("|" + "---|" * len(COLUMNS))
    for r in results:
        print("| " + " | ".join(_cell(r, key) for key, _ in COLUMNS) + " |" + (f" error: {r['error']}" if "error" in r else ""))


if __name__ == "__main__":
    main()
