"""A real Dagster daemon on a throwaway Postgres instance with a small code location, for tests of the run queue.

The instance is deployments/dagster/dagster.yaml's storage, run coordinator, run retries and run monitoring
(timings shortened); Postgres, because several processes (daemon, code server, runs, the test, the CLI)
open the instance at once, which SQLite's schema check at open does not always survive; the daemon starts the code location's gRPC server
itself, and runs are launched as its subprocesses (the default run launcher), as in the deployment.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from contextlib import contextmanager
from pathlib import Path

import yaml

from finpulse_assets.deploy.process_tree import stop_tree
from finpulse_assets.storage.instance import PG_URL_ENV

REPO = Path(__file__).resolve().parents[1]
DEPLOYMENT_YAML = REPO / "deployments" / "dagster" / "dagster.yaml"


def instance_yaml() -> str:
    """The deployment's storage, queue and retries, with a dequeue and monitoring pass every second."""
    deployment = yaml.safe_load(DEPLOYMENT_YAML.read_text())
    coordinator = deployment["run_coordinator"]
    coordinator["config"]["dequeue_interval_seconds"] = 1
    monitoring = {**deployment["run_monitoring"], "poll_interval_seconds": 1}
    return yaml.safe_dump({"storage": deployment["storage"], "run_coordinator": coordinator, "run_retries": deployment["run_retries"],
                           "run_monitoring": monitoring, "telemetry": {"enabled": False}})


@contextmanager
def running_daemon(tmp_path: Path, defs_source: str, env: dict[str, str], pg_url: str):
    """(DAGSTER_HOME, workspace.yaml, environment) with `dagster-daemon run` up on a code location made of
    `defs_source` and the instance in the Postgres database `pg_url`; the daemon and everything it started
    are stopped at exit."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(instance_yaml())
    (tmp_path / "writers_defs.py").write_text(textwrap.dedent(defs_source))
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(yaml.safe_dump({"load_from": [{"python_file": {
        "relative_path": "writers_defs.py", "working_directory": str(tmp_path), "location_name": "writers"}}]}))
    full_env = {**os.environ, **env, "DAGSTER_HOME": str(home), PG_URL_ENV: pg_url,
                "PYTHONPATH": os.pathsep.join([str(REPO), str(tmp_path)])}
    log = open(tmp_path / "daemon.log", "wb")
    daemon = subprocess.Popen([str(Path(sys.executable).with_name("dagster-daemon")), "run", "-w", str(workspace)],
                              env=full_env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield home, workspace, full_env
    finally:
        stop_tree(daemon.pid, grace=10)
        log.close()


def wait_for(what: str, check, timeout: float, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
