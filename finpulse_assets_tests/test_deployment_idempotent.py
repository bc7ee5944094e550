"""make deploy-local's start is idempotent, restarts a dead component, and its error path stops only what it started.

The real topology (S3 server, code server, webserver, daemon on a Postgres database of its own, free ports).
"""

from __future__ import annotations

import socket
import time

import pytest

from finpulse_assets.deploy.local_topology import PortBusy, Topology
from finpulse_assets.deploy.local_net import free_port
from finpulse_assets_tests.postgres_support import temporary_database

pytestmark = pytest.mark.slow
NAMES = ("s3", "code_server", "webserver", "daemon")


@pytest.fixture
def topology(tmp_path):
    with temporary_database("topology_idem") as url:
        topo = Topology(state_dir=tmp_path / "deploy", pg_url=url,
                        ports={"webserver": free_port(), "code_server": free_port(), "s3": free_port()},
                        extra_env={"FINPULSE_STORAGE_DIR": str(tmp_path / "storage"),
                                   "FINPULSE_MLFLOW_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"})
        try:
            yield topo
        finally:
            topo.stop()
            assert all(topo.pid(name) is None for name in NAMES)
            assert not topo.leftover_pids(), "processes of the topology outlived its stop"


def _until(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return time.monotonic()
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout}s: {what}")


def test_start_twice_restart_one_and_a_failed_start_stops_only_its_own(topology):
    assert topology.start() == list(NAMES)
    pids = {name: topology.pid(name) for name in NAMES}
    assert topology.start() == [] and {name: topology.pid(name) for name in NAMES} == pids

    topology.stop_process("webserver")
    assert topology.start() == ["webserver"]
    assert all(topology.pid(name) == pids[name] for name in NAMES if name != "webserver")

    # A dead daemon: unhealthy at once, restarted by its loop, healthy again once its heartbeats are fresh.
    killed_pid, killed = topology.kill_process("daemon"), time.monotonic()
    unhealthy = _until(lambda: topology.health("daemon")["state"] == "unhealthy", 60, "daemon unhealthy")
    healthy = _until(lambda: topology.health("daemon")["state"] == "healthy"
                     and topology.child_pid("daemon") not in (None, killed_pid), 240, "daemon healthy again")
    print(f"\ndaemon killed: unhealthy after {unhealthy - killed:.1f}s, healthy again after {healthy - killed:.1f}s")

    # The error path: the webserver's port taken while it is down; the start fails at once, naming the port,
    # and what was running before still runs.
    topology.stop_process("webserver")
    running = {name: topology.pid(name) for name in NAMES if name != "webserver"}
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind((topology.host, topology.ports["webserver"]))
        taken.listen()
        began = time.monotonic()
        with pytest.raises(PortBusy, match=str(topology.ports["webserver"])):
            topology.start()
        assert time.monotonic() - began <= 5
    assert {name: topology.pid(name) for name in running} == running
