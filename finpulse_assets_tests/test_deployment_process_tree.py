"""stop_tree: what a process group kill misses (a worker in a session of its own, one already reparented)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import psutil

from finpulse_assets.deploy.process_tree import alive, marked, stop_tree, wait_gone

# A parent that starts a worker in a new session (as BentoML's process manager does); the worker writes its
# pid once its SIGTERM handling is set up.
SPAWNER = textwrap.dedent("""
    import os, signal, subprocess, sys, time
    worker = subprocess.Popen([sys.executable, "-c",
        "import os, signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN) if {ignore} else None; "
        "open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(600)", sys.argv[1]],
        start_new_session=True)
    while not os.path.exists(sys.argv[1]):
        time.sleep(0.02)
    if {leave}:
        os._exit(0)   # the worker is reparented to init before anyone looks
    time.sleep(600)
""")


def _spawn(tmp_path: Path, *, ignore_term: bool = False, leave: bool = False, env: dict | None = None):
    pidfile = tmp_path / f"worker-{uuid.uuid4().hex}.pid"
    parent = subprocess.Popen([sys.executable, "-c", SPAWNER.format(ignore=ignore_term, leave=leave), str(pidfile)],
                              start_new_session=True, env=dict(os.environ) | (env or {}))
    deadline = time.monotonic() + 30
    while not (pidfile.exists() and pidfile.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    worker = int(pidfile.read_text())
    if leave:
        parent.wait(timeout=30)
    return parent, worker


def test_a_worker_in_a_session_of_its_own_is_stopped_with_its_parent(tmp_path):
    parent, worker = _spawn(tmp_path)
    assert os.getpgid(worker) != parent.pid  # a killpg of the parent's group would miss it
    try:
        stop_tree(parent.pid, grace=5)
        parent.wait(timeout=10)
        assert wait_gone([worker], 5) == []
    finally:
        for pid in (parent.pid, worker):
            if alive([pid]):
                os.kill(pid, signal.SIGKILL)


def test_a_reparented_worker_is_found_by_its_marker_and_one_ignoring_sigterm_is_killed(tmp_path):
    marker = f"FINPULSE_CONTAINER=test-{uuid.uuid4().hex}"
    parent, worker = _spawn(tmp_path, ignore_term=True, leave=True, env=dict([marker.split("=", 1)]))
    try:
        assert psutil.Process(worker).ppid() != parent.pid
        assert worker in {p.pid for p in marked(marker)}
        began = time.monotonic()
        killed = stop_tree(parent.pid, grace=2, markers=(marker,))
        assert worker in killed and wait_gone([worker], 5) == []
        assert time.monotonic() - began < 15
    finally:
        if alive([worker]):
            os.kill(worker, signal.SIGKILL)
