"""A restart loop for one component of the local topology (what systemd or a pod's restartPolicy does elsewhere).

    python -m finpulse_assets.deploy.supervise --name daemon --status <file> [--probe daemon] -- <command...>

Runs the command as its child (same process group, so stopping the group stops both), and:

- restarts it when it exits, after 1, 2, 4 ... 30 s; five exits in a row each within 10 s of their start is a
  crash loop: the supervisor gives up and exits 1 (the command is broken, not crashed);
- probes it every PROBE_SECONDS (`--probe`: the code server's gRPC health check, an HTTP URL, or the daemon's
  heartbeats in the instance); UNHEALTHY_AFTER seconds of failed probes after its start grace restart it;
- writes its state to `--status` (JSON: state, child pid, restarts, last exit, since) on every change, which
  `local_topology status` shows: a dead or hung component reads `unhealthy` within a minute.

SIGTERM/SIGINT stop the child (SIGTERM, SIGKILL after the grace) and then the supervisor.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

PROBE_SECONDS = 5.0
UNHEALTHY_AFTER = 45.0          # failed probes for this long (after START_GRACE) restart the child
START_GRACE = 180.0             # a code server imports the definitions; the daemon's first heartbeat takes a while
DAEMON_HEARTBEAT_MAX_AGE = 50.0  # the daemon heartbeats every 30 s (dagster's DEFAULT_HEARTBEAT_INTERVAL_SECONDS)
CRASH_LOOP = 5
FAST_EXIT = 10.0
STOP_GRACE = 15.0


def probe(kind: str, since: float = 0.0) -> bool:
    """One health probe: `grpc:<host>:<port>`, `http://...`, or `daemon` (DAGSTER_HOME's instance: heartbeats
    written after `since`, a wall-clock time, so a restarted daemon counts once it has beaten itself)."""
    if kind.startswith("grpc:"):
        from finpulse_assets.deploy.local_topology import grpc_serving

        host, port = kind.removeprefix("grpc:").rsplit(":", 1)
        return grpc_serving(host, int(port))
    if kind.startswith("http"):
        try:
            with urllib.request.urlopen(kind, timeout=5) as reply:
                return reply.status < 500
        except urllib.error.HTTPError as error:   # it answered (an S3 store refuses an unsigned request: 403)
            return error.code < 500
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False
    if kind == "daemon":
        return daemon_heartbeats_fresh(since=since)
    raise ValueError(f"unknown probe {kind!r}")


_INSTANCE = None


def daemon_heartbeats_fresh(max_age: float = DAEMON_HEARTBEAT_MAX_AGE, since: float = 0.0) -> bool:
    """Every required daemon heartbeat is younger than `max_age` (the UI's own check tolerates 30 min)."""
    global _INSTANCE
    from dagster import DagsterInstance

    if _INSTANCE is None:
        _INSTANCE = DagsterInstance.get()
    try:
        beats = _INSTANCE.get_daemon_heartbeats()
        required = _INSTANCE.get_required_daemon_types()
    except Exception:  # noqa: BLE001 - an unreachable database is an unhealthy daemon, not a supervisor crash
        return False
    now = time.time()
    return all(name in beats and beats[name].timestamp >= max(now - max_age, since) for name in required)


class Supervisor:
    def __init__(self, name: str, command: list[str], status: Path, probe_kind: str | None,
                 start_grace: float = START_GRACE, unhealthy_after: float = UNHEALTHY_AFTER):
        self.name, self.command, self.status_path, self.probe_kind = name, command, status, probe_kind
        self.start_grace, self.unhealthy_after = start_grace, unhealthy_after
        self.child: subprocess.Popen | None = None
        self.restarts = 0
        self.last_exit: int | None = None
        self.stopping = False

    def write(self, state: str, **extra) -> None:
        record = {"name": self.name, "state": state, "supervisor_pid": os.getpid(),
                  "pid": self.child.pid if self.child and self.child.poll() is None else None,
                  "restarts": self.restarts, "last_exit": self.last_exit, "since": time.time(), **extra}
        tmp = self.status_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record))
        tmp.replace(self.status_path)

    def stop_child(self) -> None:
        if self.child is None or self.child.poll() is not None:
            return
        self.child.terminate()
        try:
            self.child.wait(timeout=STOP_GRACE)
        except subprocess.TimeoutExpired:
            self.child.kill()
            self.child.wait()

    def on_signal(self, signum, frame) -> None:
        self.stopping = True

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self.on_signal)
        signal.signal(signal.SIGINT, self.on_signal)
        fast_exits, backoff = 0, 1.0
        while not self.stopping:
            started, started_at = time.monotonic(), time.time()
            self.child = subprocess.Popen(self.command)
            self.write("starting")
            healthy_once, failing_since, next_probe = False, None, started + 1.0
            while not self.stopping and self.child.poll() is None:
                time.sleep(0.2)
                if self.probe_kind is None or time.monotonic() < next_probe:
                    continue
                next_probe = time.monotonic() + PROBE_SECONDS
                if probe(self.probe_kind, started_at):
                    if not healthy_once or failing_since is not None:
                        self.write("healthy")
                    healthy_once, failing_since = True, None
                    continue
                if not healthy_once and time.monotonic() - started < self.start_grace:
                    continue   # still starting
                if failing_since is None:
                    failing_since = time.monotonic()
                self.write("unhealthy", reason=f"{self.probe_kind} failing for "
                                              f"{time.monotonic() - failing_since:.0f}s")
                if time.monotonic() - failing_since >= self.unhealthy_after:
                    self.stop_child()  # hung: restarted below like a crash
            if self.stopping:
                break
            self.last_exit = self.child.wait()
            lived = time.monotonic() - started
            fast_exits = fast_exits + 1 if lived < FAST_EXIT else 0
            if fast_exits >= CRASH_LOOP:
                self.write("failed", reason=f"exited {CRASH_LOOP} times within {FAST_EXIT:.0f}s of starting "
                                            f"(last exit status {self.last_exit})")
                return 1
            backoff = 1.0 if lived >= 60 else min(backoff * 2, 30.0)
            self.write("unhealthy", reason=f"exited with status {self.last_exit}; restarting in {backoff:.0f}s")
            deadline = time.monotonic() + backoff
            while not self.stopping and time.monotonic() < deadline:
                time.sleep(0.2)
            self.restarts += 1
        self.stop_child()
        self.write("stopped")
        return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m finpulse_assets.deploy.supervise")
    parser.add_argument("--name", required=True)
    parser.add_argument("--status", required=True, type=Path)
    parser.add_argument("--probe")
    parser.add_argument("--start-grace", type=float, default=START_GRACE)
    parser.add_argument("--unhealthy-after", type=float, default=UNHEALTHY_AFTER)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command after --")
    return Supervisor(args.name, command, args.status, args.probe, args.start_grace, args.unhealthy_after).run()


if __name__ == "__main__":
    sys.exit(main())
