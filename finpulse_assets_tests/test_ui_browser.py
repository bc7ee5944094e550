"""What users see, in headless Chromium: the Dagster UI (`dagster dev`) and the Evidently dashboard after a small demo.

One module fixture materializes what `make demo` does for one ticker x four months with tiny models (plus a
small `evaluation` over the same months) into a project-local-like instance, syncs the dashboard, and starts
`dagster dev` (webserver + daemon), `evidently ui`, `mlflow ui` and the report server on free ports. Chromium is Debian's
(/usr/bin/chromium), driven by Playwright from PyPI; no browser download. Screenshots go to the test's
tmp dir.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import pytest

from finpulse_assets.deploy.local_net import free_port, wait_for_http
from finpulse_assets.storage.instance import mlflow_tracking_uri

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
TICKER = "AAA"
START, END = "2024-01-01", "2024-05-01"
LOCATION = "finpulse"  # pyproject.toml [tool.dagster], what dagster dev loads in the project root
EVALUATION = {"train_start": "2024-01-01", "dev_start": "2024-03-01", "test_start": "2024-04-01",
              "test_end": END, "windows": [5], "layouts": ["pooled"], "n_trials": 2, "seeds": 1, "epochs": 3,
              "patience": 2, "bootstrap_resamples": 200, "walk_forward": False}  # 4 months: too short for folds

pytestmark = pytest.mark.slow


def environment(root: Path, ports: dict) -> dict:
    return {**os.environ, "DAGSTER_HOME": str(root / "home"), "FINPULSE_STORAGE_DIR": str(root / "storage"),
            "FINPULSE_TICKERS": TICKER, "FINPULSE_START": START, "FINPULSE_END": END,
            "FINPULSE_REPORTS_URL": f"http://127.0.0.1:{ports['reports']}",
            "FINPULSE_MLFLOW_URL": f"http://127.0.0.1:{ports['mlflow']}",
            # No retraining while the test looks around: the daemon runs the sensors.
            "FINPULSE_DRIFT_SHARE_THRESHOLD": "1.0", "FINPULSE_SENTIMENT_DRIFT_SHARE_THRESHOLD": "1.0",
            "BENTOML_HOME": str(root / "bentoml"), "PYTHONPATH": str(ROOT)}


def build_state(root: Path, env: dict) -> dict:
    """`make demo` for one ticker (tiny models), a small evaluation, and the dashboard sync; in a subprocess
    so that the environment (storage, report and MLflow URLs) is the one the servers get."""
    (root / "home").mkdir(parents=True, exist_ok=True)
    (root / "home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    script = ROOT / "finpulse_assets_tests" / "ui_state.py"
    done = subprocess.run([sys.executable, str(script), str(root)], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    return {"stdout": done.stdout, "stderr": done.stderr}


def start(stack: ExitStack, args: list[str], env: dict, log: Path) -> subprocess.Popen:
    handle = stack.enter_context(open(log, "w"))
    process = subprocess.Popen(args, env=env, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT,
                               start_new_session=True)

    def stop():
        if process.poll() is None:
            os.killpg(process.pid, 15)  # its own session: the webserver, the daemon and their code servers
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)

    stack.callback(stop)
    return process


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    # While developing the test: FINPULSE_UI_TEST_DIR=<dir> keeps the state there and reuses it when built.
    root = Path(os.environ.get("FINPULSE_UI_TEST_DIR") or tmp_path_factory.mktemp("ui"))
    root.mkdir(parents=True, exist_ok=True)
    built = root / "state.json"
    ports = {name: free_port() for name in ("dagster", "evidently")}
    ports |= json.loads(built.read_text())["ports"] if built.exists() else \
        {name: free_port() for name in ("reports", "mlflow")}  # baked into the metadata by the demo
    env = environment(root, ports)
    bin_dir = Path(sys.executable).parent
    with ExitStack() as stack:
        # After the demo: the daemon's new-data sensor would otherwise request the same partitions.
        if built.exists():
            state = json.loads(built.read_text())
        else:
            state = build_state(root, env) | {"ports": ports}
            built.write_text(json.dumps(state))
        dagster = start(stack, [str(bin_dir / "dagster"), "dev", "-h", "127.0.0.1", "-p", str(ports["dagster"])],
                        env, root / "dagster_dev.log")
        evidently = start(stack, [str(bin_dir / "evidently"), "ui", "--workspace",
                                  str(root / "storage" / "evidently_workspace"), "--host", "127.0.0.1", "--port",
                                  str(ports["evidently"])], env, root / "evidently.log")
        reports = start(stack, [sys.executable, "-m", "http.server", str(ports["reports"]), "-b", "127.0.0.1",
                                "-d", str(root / "storage" / "reports")], env, root / "reports.log")
        mlflow = start(stack, [str(bin_dir / "mlflow"), "ui", "--backend-store-uri",  # what `make mlflow` serves
                               mlflow_tracking_uri(root / "storage"),
                               "--default-artifact-root", str(root / "storage" / "mlflow" / "artifacts"),
                               "-h", "127.0.0.1", "-p", str(ports["mlflow"])], env, root / "mlflow.log")
        wait_for_http(f"http://127.0.0.1:{ports['dagster']}/server_info", 240, dagster, root / "dagster_dev.log")
        wait_for_http(f"http://127.0.0.1:{ports['evidently']}/api/version", 60, evidently, root / "evidently.log")
        wait_for_http(f"http://127.0.0.1:{ports['reports']}/", 30, reports, root / "reports.log")
        wait_for_http(f"http://127.0.0.1:{ports['mlflow']}/health", 120, mlflow, root / "mlflow.log")
        yield {"root": root, "ports": ports, "env": env, "state": state}


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    page.set_default_timeout(60_000)
    # Dagster's first-visit "Join the community" dialog covers the page whenever it shows up.
    page.add_locator_handler(page.get_by_role("button", name="Skip"), lambda skip: skip.click())
    yield page
    page.close()


def dagster_url(stack, path: str) -> str:
    return f"http://127.0.0.1:{stack['ports']['dagster']}{path}"


def test_the_demo_printed_progress_and_its_table(stack):
    err, out = stack["state"]["stderr"], stack["state"]["stdout"]
    assert re.search(r"\[stage \d+ of \d+: data_assets_job\] (\d+)/\1 asset partitions \(100%\)", err), err[-2000:]
    assert "[evaluation_job] 1/1 assets (100%)" in err
    assert "asset checks:" in out and "FAILED" not in out
    # make evaluate's own path read the asset's report back and added the command's wall clock.
    report = json.loads((stack["root"] / "reports" / "evaluation.json").read_text())
    assert f"evaluation report: {stack['root'] / 'reports' / 'evaluation.json'}" in out
    assert report["runtime"]["wall_seconds"] >= report["runtime"]["evaluation_job_seconds"] > 0


def test_the_asset_graph_and_catalog_show_every_asset(stack, page):
    page.goto(dagster_url(stack, "/asset-groups"))
    for group in ("price_data", "sentiment_data", "sentiment_model", "forecasting", "monitoring", "serving",
                  "evaluation"):
        page.get_by_text(group, exact=True).first.wait_for()
    page.screenshot(path=str(stack["root"] / "asset_graph.png"))
    page.goto(dagster_url(stack, "/assets"))
    for name in ("raw_tweets", "finbert_onnx", "lstm_model", "drift_report", "prediction_errors", "bento",
                 "evaluation"):
        page.locator(f"a[href='/assets/{name}']").first.wait_for()


def test_cli_runs_are_in_the_timeline_and_on_the_jobs_page(stack, page):
    page.goto(dagster_url(stack, f"/locations/{LOCATION}/jobs/predictions_job/runs"))
    page.get_by_text("Latest run:").first.wait_for()  # the job header's latest run: the CLI's
    page.get_by_text("finpulse/launched_by: cli").first.wait_for()
    page.screenshot(path=str(stack["root"] / "job_runs.png"))
    page.goto(dagster_url(stack, "/overview/activity/timeline"))
    page.get_by_text(LOCATION, exact=True).first.wait_for()  # the code location's row group
    page.wait_for_timeout(2000)
    page.screenshot(path=str(stack["root"] / "timeline.png"))
    for job in ("data_assets_job", "forecast_model_job", "monitoring_job", "packaging_job", "evaluation_job"):
        page.get_by_text(job, exact=True).first.wait_for()


def test_model_metadata_links_to_its_mlflow_run(stack, page):
    from mlflow import MlflowClient

    page.goto(dagster_url(stack, "/assets/lstm_model"))
    link = page.locator(f"a[href^='http://127.0.0.1:{stack['ports']['mlflow']}/#/experiments/']").first
    link.wait_for()
    href = link.get_attribute("href")
    match = re.fullmatch(rf"http://127\.0\.0\.1:{stack['ports']['mlflow']}/#/experiments/(\w+)/runs/(\w+)", href)
    assert match, href
    store = stack["root"] / "storage" / "mlflow" / "mlflow.db"
    run = MlflowClient(tracking_uri=f"sqlite:///{store}").get_run(match.group(2))
    assert run.info.experiment_id == match.group(1) and run.info.run_name == "lstm_model"
    # The description renders its placeholders (Markdown code, not swallowed as HTML tags).
    page.get_by_text("<storage>/models/lstm/<version>").first.wait_for()
    page.screenshot(path=str(stack["root"] / "lstm_model.png"))


def test_a_drift_partition_links_to_its_served_report(stack, page):
    from dagster import AssetKey, DagsterInstance

    with DagsterInstance.from_config(str(stack["root"] / "home")) as instance:
        records = instance.fetch_materializations(AssetKey("drift_report"), limit=200).records
    reported = [r for r in records if "report" in r.asset_materialization.metadata]
    assert reported
    url = reported[0].asset_materialization.metadata["report"].value
    assert url.startswith(f"http://127.0.0.1:{stack['ports']['reports']}/drift_report/ticker={TICKER}/")
    page.goto(url)
    page.get_by_text("Count of Drifted Columns", exact=False).first.wait_for()


def test_the_sensors_page_lists_the_three_sensors(stack, page):
    page.goto(dagster_url(stack, "/automation"))
    for name in ("new_data_sensor", "drift_retrain_sensor", "packaging_sensor"):
        page.get_by_text(name, exact=True).first.wait_for()
    page.screenshot(path=str(stack["root"] / "sensors.png"))


def test_the_evaluation_asset_is_materialized(stack, page):
    page.goto(dagster_url(stack, "/assets/evaluation"))
    page.get_by_text("test_accuracy").first.wait_for()
    page.screenshot(path=str(stack["root"] / "evaluation.png"))


def reported_days(stack, asset: str, key: str) -> int:
    from dagster import AssetKey, DagsterInstance

    with DagsterInstance.from_config(str(stack["root"] / "home")) as instance:
        records = instance.fetch_materializations(AssetKey(asset), limit=1000).records
    return len({r.partition_key for r in records if key in r.asset_materialization.metadata})


def test_the_dashboard_panels_have_data(stack, page):
    page.goto(f"http://127.0.0.1:{stack['ports']['evidently']}")
    page.get_by_text(f"FinPulse {TICKER}").first.click()
    points = {}
    for title in ("Drift share of the model inputs", "Sentiment drift share", "Drifted columns", "Forecaster versions",
                  "Prediction error (dollars)"):
        panel = page.locator(".MuiCard-root").filter(has=page.get_by_text(title, exact=True)).last
        panel.locator("svg").first.wait_for()
        points[title] = (panel.locator("svg circle").count(), panel.locator("svg rect").count())
    page.screenshot(path=str(stack["root"] / "dashboard.png"), full_page=True)
    drift_days = reported_days(stack, "drift_report", "drift_share")
    error_days = reported_days(stack, "prediction_errors", "abs_error")
    monitored_days = reported_days(stack, "drift_report", "status")  # every calendar day of the monitored range
    assert drift_days > 5 and error_days > 5 and monitored_days > drift_days
    # A point per reported day, and the retraining threshold's on every day (the days between are gaps).
    assert points["Drift share of the model inputs"][0] == drift_days + monitored_days
    assert points["Sentiment drift share"][0] == drift_days + monitored_days
    assert points["Drifted columns"][1] >= drift_days  # a bar per reported day (plus the frame)
    assert points["Forecaster versions"][1] >= 1
    assert points["Prediction error (dollars)"][0] == 2 * error_days  # error and rolling MAE per day


def test_a_backfill_launched_from_the_ui_succeeds(stack, page):
    from dagster import DagsterInstance
    from finpulse_assets.dagster_private import BulkActionStatus

    page.goto(dagster_url(stack, "/assets/raw_prices"))
    page.get_by_role("button", name=re.compile("Materialize")).first.click()
    days = page.get_by_placeholder(re.compile("ex: 2024"))
    days.fill("[2024-04-22...2024-04-30]")
    days.press("Enter")
    page.get_by_role("button", name="All").last.click()  # every ticker
    page.get_by_text("9 partitions").first.wait_for()
    page.get_by_text("Backfills all partitions in a single run.").first.wait_for()  # one backfill policy
    page.screenshot(path=str(stack["root"] / "backfill_dialog.png"))
    with DagsterInstance.from_config(str(stack["root"] / "home")) as instance:
        before = {b.backfill_id for b in instance.get_backfills()}
        page.get_by_role("button", name="Launch backfill").click()
        deadline = time.monotonic() + 300
        while True:
            new = [b for b in instance.get_backfills() if b.backfill_id not in before]
            if (new and new[0].status != BulkActionStatus.REQUESTED) or time.monotonic() > deadline:
                break
            time.sleep(3)
        assert new, "no backfill was launched"
        backfill = new[0]
        runs = instance.get_runs(limit=5)
    assert backfill.status == BulkActionStatus.COMPLETED_SUCCESS, backfill.status
    (run,) = [r for r in runs if r.tags.get("dagster/backfill") == backfill.backfill_id]
    page.goto(dagster_url(stack, f"/runs/{run.run_id}"))
    page.get_by_text("Success").first.wait_for()
    page.screenshot(path=str(stack["root"] / "backfill_run.png"))


# Links off this machine cannot be followed offline; only the UIs' own chrome may carry them.
OFF_MACHINE_HOSTS = {"dagster.io", "www.dagster.io", "docs.dagster.io", "courses.dagster.io", "github.com",
                     "www.evidentlyai.com", "docs.evidentlyai.com", "evidentlyai.com", "discord.gg"}


def settled_links(page) -> set[str]:
    """The page's links once they stop changing for a second (the UIs keep polling, so the network never idles)."""
    links, steady_since = None, time.monotonic()
    while time.monotonic() - steady_since < 1.0:
        page.wait_for_timeout(250)
        now = set(page.eval_on_selector_all("a[href]", "links => links.map(link => link.href)"))
        if now != links:
            links, steady_since = now, time.monotonic()
    return links


def page_links(page, url: str, ready: str | None = None) -> set[str]:
    page.goto(url)
    if ready:
        page.get_by_text(ready, exact=True).first.wait_for()
    return settled_links(page)


def broken_dagster_link(url, names: dict, instance) -> str | None:
    """Why a link into the Dagster UI points at nothing (the UI is one page app: every path answers 200)."""
    from urllib.parse import parse_qs, unquote, urlsplit

    parts = urlsplit(url)
    path = unquote(parts.path)
    if path.startswith("/assets/"):
        key = path.removeprefix("/assets/").strip("/")
        if key not in names["assets"]:
            return f"no asset {key!r}"
        partition = parse_qs(parts.query).get("partition")
        if partition and partition[0] not in names["partitions"].get(key, set()):
            return f"no partition {partition[0]!r} of {key}"
    elif match := re.fullmatch(r'/asset-groups~group:"(\w+)"/(\w+)', path):
        if match.group(1) not in names["groups"] or match.group(2) not in names["assets"]:
            return f"no group {match.group(1)!r} holding {match.group(2)!r}"
    elif match := re.fullmatch(r"/runs/([0-9a-f-]{36})", path):
        if instance.get_run_by_id(match.group(1)) is None:
            return f"no run {match.group(1)}"
    elif match := re.fullmatch(rf"/locations/{LOCATION}/(jobs|sensors)/(\w+)", path):
        if match.group(2) not in names[match.group(1)]:
            return f"no {match.group(1)[:-1]} {match.group(2)!r}"
    return None


def test_no_link_on_the_pages_users_open_is_broken(stack, page):
    """Every asset group, every asset's page (its latest metadata), a partition's metadata and the dashboard:
    each link on them leads somewhere that exists — a Dagster asset, partition, group, run, job or sensor; a
    served report or plot; an MLflow run that the MLflow server knows."""
    from urllib.parse import urlsplit

    from dagster import DagsterInstance

    from finpulse_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    names = {"assets": {key.to_user_string() for key in graph.get_all_asset_keys()},
             "groups": {graph.get(key).group_name for key in graph.get_all_asset_keys()},
             "jobs": {job.name for job in defs.resolve_all_job_defs()},
             "sensors": {sensor.name for sensor in defs.sensors or []}}
    dagster = f"127.0.0.1:{stack['ports']['dagster']}"
    began = time.monotonic()
    with DagsterInstance.from_config(str(stack["root"] / "home")) as instance:
        names["partitions"] = {key.to_user_string(): instance.get_materialized_partitions(key)
                               for key in graph.get_all_asset_keys() if graph.get(key).is_partitioned}
        opened, links = {}, {}
        catalog = page_links(page, dagster_url(stack, "/assets"), "raw_prices")
        opened["/assets"] = catalog
        groups = sorted(u for u in catalog if "/asset-groups~group" in u)
        assert {re.search(r'group%3A%22(\w+)%22', u).group(1) for u in groups} == names["groups"]
        for url in groups:
            opened[url] = page_links(page, url)
        for name in sorted(names["assets"]):
            opened[f"/assets/{name}"] = page_links(page, dagster_url(stack, f"/assets/{name}"), name)
        # A partition's metadata of a data asset (a tweet preview), of the forecasts and of a drift report.
        partition_pages = sorted({re.sub(r"\?.*", "", u): u for found in opened.values() for u in found
                                  if "&partition=" in u}.items())
        partition_pages = [u for page_url, u in partition_pages if page_url.rsplit("/", 1)[1] in
                           ("raw_tweets", "predictions", "drift_report")]
        assert len(partition_pages) == 3, partition_pages
        for url in partition_pages:
            opened[url] = page_links(page, url)
        page.screenshot(path=str(stack["root"] / "partition_metadata.png"))
        dashboard = f"http://127.0.0.1:{stack['ports']['evidently']}"
        opened[dashboard] = page_links(page, dashboard, f"FinPulse {TICKER}")
        page.get_by_text(f"FinPulse {TICKER}").first.click()
        page.get_by_text("Drift share of the model inputs", exact=True).first.wait_for()
        opened[dashboard + " (project)"] = settled_links(page)
        for source, found in opened.items():
            for url in found:
                links.setdefault(url, source)
        broken, checked = [], {"dagster": 0, "served": 0, "mlflow runs": 0}
        for url, source in sorted(links.items()):
            parts = urlsplit(url)
            if parts.hostname != "127.0.0.1":
                if parts.hostname not in OFF_MACHINE_HOSTS:
                    broken.append(f"{url} (on {source}): a link off this machine")
                continue
            if parts.netloc == dagster:
                checked["dagster"] += 1
                why = broken_dagster_link(url, names, instance)
            elif parts.port == stack["ports"]["mlflow"] and (run := re.search(r"/runs/(\w+)", parts.fragment)):
                checked["mlflow runs"] += 1
                answer = page.request.get(f"http://{parts.netloc}/api/2.0/mlflow/runs/get?run_id={run.group(1)}")
                why = None if answer.ok else f"MLflow answers {answer.status}"
            else:
                checked["served"] += 1
                answer = page.request.get(url)
                why = None if answer.ok else f"answers {answer.status}"
            if why:
                broken.append(f"{url} (on {source}): {why}")
    print(f"\n{len(opened)} pages, {len(links)} links in {time.monotonic() - began:.0f} s: {checked}")
    assert not broken, "\n".join(broken)
    # Each kind was reached: the pages carry model, report and partition links, not only navigation.
    assert checked["mlflow runs"] >= 2 and checked["served"] >= 1 and len(opened) >= 30, (checked, len(opened))
