"""The restart loop of the local topology's components (finpulse_assets/deploy/supervise.py) on small servers."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from finpulse_assets.deploy.local_topology import PORT_ENV, PortBusy, Topology
from finpulse_assets.deploy.process_tree import wait_gone
from finpulse_assets.deploy.local_net import free_port


def _supervise(tmp_path: Path, command: list[str], probe: str | None = None, *extra: str) -> tuple[subprocess.Popen, Path]:
    status = tmp_path / "status.json"
    args = [sys.executable, "-m", "finpulse_assets.deploy.supervise", "--name", "web", "--status", str(status)]
    args += ["--probe", probe] if probe else []
    proc = subprocess.Popen([*args, *extra, "--", *command], start_new_session=True)
    return proc, status


def _state(status: Path) -> dict:
    try:
        return json.loads(status.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _until(check, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout}s")


def _stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)


def test_a_killed_component_shows_unhealthy_at_once_and_is_restarted(tmp_path):
    port = free_port()
    proc, status = _supervise(tmp_path, [sys.executable, "-m", "http.server", str(port), "-b", "127.0.0.1"],
                              f"http://127.0.0.1:{port}/")
    try:
        first = _until(lambda: (lambda s: s if s.get("state") == "healthy" else None)(_state(status)), 30)
        os.kill(first["pid"], signal.SIGKILL)
        killed = time.monotonic()
        down = _until(lambda: (lambda s: s if s.get("state") == "unhealthy" else None)(_state(status)), 60)
        assert time.monotonic() - killed < 5 and "exited with status -9" in down["reason"]
        back = _until(lambda: (lambda s: s if s.get("state") == "healthy" and s["pid"] != first["pid"] else None)(
            _state(status)), 60)
        assert back["restarts"] == 1
        print(f"\nkilled -> unhealthy {down['since'] - (time.time() - (time.monotonic() - killed)):.1f}s, "
              f"-> healthy again {time.monotonic() - killed:.1f}s after the kill")
    finally:
        _stop(proc)
    assert _state(status)["state"] == "stopped" and wait_gone([back["pid"]], 5) == []


def test_a_hung_component_is_unhealthy_then_restarted(tmp_path):
    port = free_port()   # nothing ever listens there: the probe fails while the process runs
    proc, status = _supervise(tmp_path, [sys.executable, "-c", "import time; time.sleep(600)"],
                              f"http://127.0.0.1:{port}/", "--start-grace", "2", "--unhealthy-after", "4")
    try:
        first = _until(lambda: _state(status).get("pid"), 30)
        unhealthy = _until(lambda: (lambda s: s if s.get("state") == "unhealthy" else None)(_state(status)), 20)
        assert "failing" in unhealthy["reason"]
        _until(lambda: _state(status).get("restarts") == 1 and _state(status).get("pid") not in (None, first), 30)
        assert wait_gone([first], 5) == []
    finally:
        _stop(proc)


def test_a_command_that_cannot_start_is_a_crash_loop_not_an_endless_restart(tmp_path):
    proc, status = _supervise(tmp_path, [sys.executable, "-c", "raise SystemExit(3)"])
    assert proc.wait(timeout=120) == 1
    record = _state(status)
    assert record["state"] == "failed" and "last exit status 3" in record["reason"]


def test_a_busy_port_is_reported_at_once_with_the_variable_that_moves_it(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        topo = Topology(state_dir=tmp_path / "deploy", pg_url="postgresql+psycopg2://postgres@127.0.0.1:5432/finpulse_never_created_port_test",
                        ports={"webserver": free_port(), "code_server": port, "s3": free_port()})
        (tmp_path / "deploy").mkdir()
        began = time.monotonic()
        with pytest.raises(PortBusy, match=rf"port {port} of code_server .* set {PORT_ENV['code_server']}"):
            topo.start()
        assert time.monotonic() - began <= 5
        assert all(topo.pid(name) is None for name in ("s3", "code_server", "webserver", "daemon"))
        assert not (tmp_path / "deploy" / "dagster_home").exists()   # nothing prepared either


def test_default_ports_clear_of_make_ui_and_the_ephemeral_range():
    from finpulse_assets.deploy.local_topology import DEFAULT_PORTS

    low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    for port in DEFAULT_PORTS.values():
        assert port not in (3000, 3001, 3030, 5000, 8000) and not low <= port <= high
