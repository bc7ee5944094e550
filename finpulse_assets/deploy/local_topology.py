"""The Dagster topology on one machine: code server, webserver, daemon (and a local S3 endpoint).

    python -m finpulse_assets.deploy.local_topology start    # make deploy-local
    python -m finpulse_assets.deploy.local_topology stop     # make deploy-local-stop
    python -m finpulse_assets.deploy.local_topology status

Same layout as deployments/compose.yaml and the Helm values: deployments/dagster/dagster.yaml (Postgres,
queued runs) in a DAGSTER_HOME of its own, deployments/dagster/workspace.yaml loading the code location
from the gRPC code server. Postgres is FINPULSE_PG_URL (default: database `finpulse_topology` on the local
server, created if missing). S3 is FINPULSE_S3_ENDPOINT_URL when set, else an s3rver (npm, pinned in
deployments/s3/package.json) started here, which keeps its objects on disk under the state dir: a stop and a
start keep landing files, tables, models and reports, as Postgres keeps the runs that made them.
Each component runs under a restart loop (finpulse_assets/deploy/supervise.py) in its own session, with its
log, pid and health under the state dir (FINPULSE_DEPLOY_DIR, default .deploy_local/): a component that dies
or stops answering is restarted, and `status` shows it unhealthy meanwhile. `start` is idempotent: it starts
what is missing and leaves what runs; when something fails to start it stops only what it started. A busy
port is refused at once, naming the variable that moves it. Stopping signals the whole process group (runs
launched by the code server included) and whatever left it: SIGTERM, then SIGKILL after a grace period.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from finpulse_assets.deploy.process_tree import alive, descendants
from finpulse_assets.storage.instance import (
    MLFLOW_DATABASE_SUFFIX,
    MLFLOW_URI_ENV,
    PG_URL_ENV,
    StorageConfigError,
    check_driver,
    database_name,
    ensure_database,
    with_database,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
INSTANCE_YAML = PROJECT_ROOT / "deployments" / "dagster" / "dagster.yaml"
WORKSPACE_YAML = PROJECT_ROOT / "deployments" / "dagster" / "workspace.yaml"
CODE_MODULE = "finpulse_assets.definitions"
CODE_SERVER_HOST_ENV = "FINPULSE_CODE_SERVER_HOST"
CODE_SERVER_PORT_ENV = "FINPULSE_CODE_SERVER_PORT"
S3_ENDPOINT_ENV = "FINPULSE_S3_ENDPOINT_URL"
S3_BUCKET_ENV = "FINPULSE_S3_BUCKET"
DEFAULT_PG_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/finpulse_topology"
DEFAULT_BUCKET = "finpulse"
S3_PACKAGE_DIR = PROJECT_ROOT / "deployments" / "s3"
# s3rver checks signatures against this one key pair.
S3RVER_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "S3RVER", "AWS_SECRET_ACCESS_KEY": "S3RVER"}
# Clear of `make ui` (3000, 3001), `make serve` (3030), `make mlflow` (5000), `make dashboard` (8000) and of
# Linux's ephemeral range (32768-60999), from which other programs' outgoing connections take their ports.
DEFAULT_PORTS = {"webserver": 3100, "code_server": 4100, "s3": 9100}
PORT_ENV = {name: f"FINPULSE_DEPLOY_{name.upper()}_PORT" for name in DEFAULT_PORTS}
# Stop order: nothing launches runs once the daemon is gone; the code server (and its runs) last.
STOP_ORDER = ["daemon", "webserver", "code_server", "s3"]
STOP_GRACE_SECONDS = 15.0
DAEMON_UNHEALTHY_AFTER = 300.0
# Dagster's backfill daemon fails an asset backfill whose assets it cannot find in the workspace, which is
# what it sees while the code server restarts (the location does not load); with this setting it skips
# the backfill that pass and resumes once the location is back (measured in the e2e test's code-server kill).
BACKFILL_SETTINGS = {"DAGSTER_BACKFILL_RETRY_DEFINITION_CHANGED_ERROR": "1"}


class TopologyError(RuntimeError):
    """A process of the topology did not start or answer; the message names it and its log."""


class PortBusy(TopologyError):
    """A component's port is taken by a process that is not this topology's."""


@dataclass
class Topology:
    state_dir: Path
    pg_url: str = DEFAULT_PG_URL
    host: str = "127.0.0.1"
    ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    s3_endpoint: str = ""           # empty: an s3rver of our own on ports["s3"], objects in s3_data
    extra_env: Mapping[str, str] = field(default_factory=dict)
    python: str = sys.executable

    @property
    def dagster_home(self) -> Path:
        return self.state_dir / "dagster_home"

    @property
    def s3_data(self) -> Path:
        return self.state_dir / "s3_data"

    @property
    def webserver_url(self) -> str:
        return f"http://{self.host}:{self.ports['webserver']}"

    @property
    def s3_url(self) -> str:
        return self.s3_endpoint or f"http://{self.host}:{self.ports['s3']}"

    def _log(self, name: str) -> Path:
        return self.state_dir / "logs" / f"{name}.log"

    def _pidfile(self, name: str) -> Path:
        return self.state_dir / "pids" / f"{name}.pid"

    def _health_file(self, name: str) -> Path:
        return self.state_dir / "health" / f"{name}.json"

    def health(self, name: str) -> dict:
        """The restart loop's record of `name` (state healthy/starting/unhealthy/failed/stopped, child pid,
        restarts, last exit), or {"state": "stopped"} when its supervisor does not run."""
        if self.pid(name) is None:
            return {"state": "stopped"}
        try:
            return json.loads(self._health_file(name).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {"state": "starting"}

    def probe_of(self, name: str) -> str:
        return {"s3": self.s3_url, "code_server": f"grpc:{self.host}:{self.ports['code_server']}",
                "webserver": f"{self.webserver_url}/server_info", "daemon": "daemon"}[name]

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({
            "DAGSTER_HOME": str(self.dagster_home),
            PG_URL_ENV: self.pg_url,
            CODE_SERVER_HOST_ENV: self.host,
            CODE_SERVER_PORT_ENV: str(self.ports["code_server"]),
            S3_ENDPOINT_ENV: self.s3_url,
            "FINPULSE_STORAGE_DIR": env.get("FINPULSE_STORAGE_DIR") or str(self.state_dir / "storage"),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH", "")])),
            "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "MLFLOW_DISABLE_TELEMETRY": "true",
        })
        env.setdefault(S3_BUCKET_ENV, DEFAULT_BUCKET)
        # The event-cost settings measured in docs/scale.md: batched materializations, one planned event per asset.
        if env.get("DAGSTER_EVENT_BATCH_SIZE", "0") == "0":
            env["DAGSTER_EVENT_BATCH_SIZE"] = "1000"
        env.setdefault("DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", "1")
        env.update(BACKFILL_SETTINGS)
        # Our own s3rver takes its fixed key; a real endpoint brings its credentials through the usual AWS variables.
        if not self.s3_endpoint:
            env.update(S3RVER_CREDENTIALS | {"AWS_DEFAULT_REGION": env.get("AWS_DEFAULT_REGION", "us-east-1")})
        env.update(self.extra_env)
        return env

    def supervised(self, name: str) -> list[str]:
        """The command that starts `name`: its command under the restart loop."""
        # A daemon busy with a long iteration can miss a heartbeat on a loaded machine: shown unhealthy at
        # once, restarted only when it stays silent for minutes (a restart mid-backfill is survivable, not free).
        patience = ["--unhealthy-after", str(DAEMON_UNHEALTHY_AFTER)] if name == "daemon" else []
        return [self.python, "-m", "finpulse_assets.deploy.supervise", "--name", name,
                "--status", str(self._health_file(name)), "--probe", self.probe_of(name), *patience, "--",
                *self.commands()[name]]

    def commands(self) -> dict[str, list[str]]:
        bin_dir = Path(self.python).parent
        ports = self.ports
        return {
            "s3": [shutil.which("node") or "node", str(S3_PACKAGE_DIR / "node_modules" / "s3rver" / "bin" / "s3rver.js"),
                   "-d", str(self.s3_data), "-a", self.host, "-p", str(ports["s3"]), "--silent",
                   "--configure-bucket", self.env()[S3_BUCKET_ENV]],
            "code_server": [str(bin_dir / "dagster"), "code-server", "start", "-m", CODE_MODULE,
                            "-h", self.host, "-p", str(ports["code_server"])],
            "webserver": [str(bin_dir / "dagster-webserver"), "-w", str(WORKSPACE_YAML),
                          "-h", self.host, "-p", str(ports["webserver"])],
            "daemon": [str(bin_dir / "dagster-daemon"), "run", "-w", str(WORKSPACE_YAML)],
        }

    # -- preparing ------------------------------------------------------------------------------------------
    def prepare(self) -> list[str]:
        """Databases created if missing, DAGSTER_HOME/dagster.yaml written; returns what was created."""
        check_driver(self.pg_url)
        name = database_name(self.pg_url)
        created = [name] if ensure_database(self.pg_url) else []
        # The code location's MLflow store goes next to the instance's database (instance_storage's rule).
        if not self.env().get(MLFLOW_URI_ENV, "").strip():
            if ensure_database(with_database(self.pg_url, name + MLFLOW_DATABASE_SUFFIX)):
                created.append(name + MLFLOW_DATABASE_SUFFIX)
        for sub in ("logs", "pids", "health"):
            (self.state_dir / sub).mkdir(parents=True, exist_ok=True)
        if not self.s3_endpoint:
            self.s3_data.mkdir(exist_ok=True)
            install_s3rver()
        self.dagster_home.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(INSTANCE_YAML, self.dagster_home / "dagster.yaml")
        return created

    # -- processes ------------------------------------------------------------------------------------------
    def pid(self, name: str) -> int | None:
        path = self._pidfile(name)
        if not path.exists():
            return None
        pid = int(path.read_text())
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        return pid

    def check_port(self, name: str) -> None:
        """PortBusy at once when `name`'s port is taken (by anything but this topology's own `name`)."""
        if name not in self.ports or self.pid(name) is not None:
            return
        port = self.ports[name]
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((self.host, port))
            except OSError as error:
                raise PortBusy(f"port {port} of {name} on {self.host} is in use ({error.strerror}): another "
                               f"program listens there; set {PORT_ENV[name]} to a free port") from None

    def start_process(self, name: str) -> int:
        if self.pid(name) is not None:
            raise TopologyError(f"{name} already runs (pid {self.pid(name)}, {self._pidfile(name)}); stop it first")
        self.check_port(name)
        self._health_file(name).unlink(missing_ok=True)
        log = self._log(name).open("ab")
        # A session (and process group) of its own: stopping it reaches every child, and a terminal's
        # Ctrl-C or a finished `make` does not.
        proc = subprocess.Popen(self.supervised(name), env=self.env(), cwd=PROJECT_ROOT, stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        self._pidfile(name).write_text(str(proc.pid))
        return proc.pid

    def stop_process(self, name: str, grace: float = STOP_GRACE_SECONDS, sig: int = signal.SIGTERM) -> bool:
        """SIGTERM (or `sig`) to the process group, SIGKILL after `grace` seconds; False when it was not running."""
        pid = self.pid(name)
        if pid is None:
            self._pidfile(name).unlink(missing_ok=True)
            return False
        # Processes that left the group (a run's step processes, a server's workers) are stopped too.
        strays = [p.pid for p in descendants(pid)]
        _signal_group(pid, sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and _group_alive(pid):
            _reap(pid)
            time.sleep(0.1)
        if _group_alive(pid):
            _signal_group(pid, signal.SIGKILL)
            while _group_alive(pid):
                _reap(pid)
                time.sleep(0.05)
        _reap(pid)
        for stray in alive(strays):   # it left the group; it goes with it
            try:
                os.kill(stray, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._pidfile(name).unlink(missing_ok=True)
        return True

    def child_pid(self, name: str) -> int | None:
        """The component's own process (the restart loop's child), when it runs."""
        pid = self.health(name).get("pid")
        return pid if pid and _alive(pid) else None

    def kill_process(self, name: str, timeout: float = 60) -> int:
        """kill -9 of the component's process (not its group, not its restart loop), as a crash would;
        returns the pid killed. The restart loop starts it again."""
        pid = _wait_value(lambda: self.child_pid(name), timeout, f"{name}'s process")
        os.kill(pid, signal.SIGKILL)
        while _alive(pid):
            time.sleep(0.05)
        return pid

    # -- readiness ------------------------------------------------------------------------------------------
    def wait_s3(self, timeout: float = 60) -> None:
        _wait(lambda: _http_ok(self.s3_url), timeout, "s3", self._log("s3"), self.pid, own=not self.s3_endpoint)
        import boto3

        env = self.env()
        client = boto3.client("s3", endpoint_url=self.s3_url, region_name=env.get("AWS_DEFAULT_REGION", "us-east-1"),
                              aws_access_key_id=env.get("AWS_ACCESS_KEY_ID"),
                              aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY"))
        bucket = env[S3_BUCKET_ENV]
        if bucket not in {b["Name"] for b in client.list_buckets().get("Buckets", [])}:
            client.create_bucket(Bucket=bucket)

    def wait_code_server(self, timeout: float = 300) -> None:
        _wait(lambda: grpc_serving(self.host, self.ports["code_server"]), timeout, "code_server",
              self._log("code_server"), self.pid)

    def wait_webserver(self, timeout: float = 180) -> None:
        """The webserver answers and has loaded the code location from the code server."""
        _wait(lambda: _http_ok(f"{self.webserver_url}/server_info"), timeout, "webserver",
              self._log("webserver"), self.pid)
        _wait(lambda: location_loaded(self.webserver_url), timeout, "webserver", self._log("webserver"), self.pid)

    def wait_daemon(self, timeout: float = 120) -> None:
        """The daemon's heartbeats reach the instance (what the UI's daemon page shows)."""
        _wait(lambda: daemon_healthy(self.webserver_url), timeout, "daemon", self._log("daemon"), self.pid)

    def start(self) -> list[str]:
        """Starts what is missing, leaves what runs, and waits until all answer; returns what it started.
        When something fails, stops what this call started (only that) and raises."""
        names = [*([] if self.s3_endpoint else ["s3"]), "code_server", "webserver", "daemon"]
        missing = [name for name in names if self.pid(name) is None]
        for name in missing:   # every busy port reported before anything is created or started
            self.check_port(name)
        created = self.prepare()
        if created:
            print(f"created Postgres database {', '.join(created)}")
        started: list[str] = []
        try:
            if "s3" in missing:
                self.start_process("s3")
                started.append("s3")
            self.wait_s3()
            if "code_server" in missing:
                self.start_process("code_server")
                started.append("code_server")
            self.wait_code_server()
            for name in ("webserver", "daemon"):
                if name in missing:
                    self.start_process(name)
                    started.append(name)
            self.wait_webserver()
            self.wait_daemon()
        except BaseException:
            for name in STOP_ORDER:
                if name in started:
                    self.stop_process(name)
            raise
        return started

    def stop(self) -> list[str]:
        return [name for name in STOP_ORDER if self.stop_process(name)]

    def leftover_pids(self) -> list[int]:
        """Live processes whose environment names this topology's DAGSTER_HOME (none, after a clean stop)."""
        marker = f"DAGSTER_HOME={self.dagster_home}".encode()
        found = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit() or int(proc.name) == os.getpid():
                continue
            try:
                environ = (proc / "environ").read_bytes().split(b"\0")
            except (FileNotFoundError, ProcessLookupError, PermissionError):
                continue
            if marker in environ and _alive(int(proc.name)):
                found.append(int(proc.name))
        return found


def install_s3rver() -> None:
    """`npm ci` of deployments/s3 (the pinned s3rver) when it is not installed yet; Node.js >= 18."""
    if (S3_PACKAGE_DIR / "node_modules" / "s3rver" / "bin" / "s3rver.js").exists():
        return
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise TopologyError("the local S3 store is s3rver, a Node.js program: install Node.js 18+ and npm "
                            "(apt-get install -y nodejs npm), or set FINPULSE_S3_ENDPOINT_URL to a store that runs")
    done = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--omit=dev"], cwd=S3_PACKAGE_DIR,
                          capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise TopologyError(f"npm ci in {S3_PACKAGE_DIR} failed:\n{(done.stderr or done.stdout)[-2000:]}")


def grpc_serving(host: str, port: int) -> bool:
    """True when the gRPC server answers the standard health check with SERVING."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(f"{host}:{port}") as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
        except grpc.RpcError:
            return False
    return reply.status == health_pb2.HealthCheckResponse.SERVING


def graphql(webserver_url: str, query: str, variables: Mapping | None = None, timeout: float = 60) -> dict:
    """One GraphQL request to the webserver, as an operator's script sends it; errors raise TopologyError."""
    body = json.dumps({"query": query, "variables": dict(variables or {})}).encode()
    request = urllib.request.Request(f"{webserver_url}/graphql", data=body,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            answer = json.loads(reply.read())
    except urllib.error.HTTPError as error:
        # The webserver answers a query it rejects with 400/500 and the reasons in the body.
        raise TopologyError(f"GraphQL request failed ({error.code}): {error.read().decode(errors='replace')[:2000]}")
    if answer.get("errors"):
        raise TopologyError(f"GraphQL errors: {answer['errors']}")
    return answer["data"]


def location_loaded(webserver_url: str) -> bool:
    """True once every code location is loaded; TopologyError with the reason when one failed to load."""
    query = """{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus
        locationOrLoadError { __typename ... on PythonError { message } } } } } }"""
    entries = graphql(webserver_url, query)["workspaceOrError"]["locationEntries"]
    for entry in entries:
        error = entry["locationOrLoadError"]
        if error and error["__typename"] == "PythonError":
            raise TopologyError(f"code location {entry['name']} failed to load: {error['message'][:1000]}")
    return bool(entries) and all(e["loadStatus"] == "LOADED" for e in entries)


def daemon_healthy(webserver_url: str) -> bool:
    query = "{ instance { daemonHealth { allDaemonStatuses { daemonType required healthy } } } }"
    try:
        statuses = graphql(webserver_url, query)["instance"]["daemonHealth"]["allDaemonStatuses"]
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False
    return all(s["healthy"] for s in statuses if s["required"])


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return reply.status < 500
    except urllib.error.HTTPError as error:   # an answer (an S3 store refuses an unsigned request with 403)
        return error.code < 500
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def _wait_value(value, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = value()
        if found:
            return found
        time.sleep(0.1)
    raise TopologyError(f"no {what} within {timeout:.0f}s")


def _wait(ready, timeout: float, name: str, log: Path, pid_of, own: bool = True) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        if own and pid_of(name) is None:
            raise TopologyError(f"{name} exited while starting; see {log}:\n{_tail(log)}")
        time.sleep(0.5)
    raise TopologyError(f"{name} did not answer within {timeout:.0f}s; see {log}:\n{_tail(log)}")


def _tail(log: Path, lines: int = 20) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else "(no log)"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, IndexError):
        return False


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    # A group whose only members are zombies is gone for our purposes.
    return any(_alive(int(p.name)) for p in Path("/proc").iterdir()
               if p.name.isdigit() and _pgid(int(p.name)) == pgid)


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _reap(pid: int) -> None:
    """Collects `pid`'s exit status when this process started it (tests); a no-op otherwise."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def topology_from_env() -> Topology:
    state = Path(os.environ.get("FINPULSE_DEPLOY_DIR", "") or PROJECT_ROOT / ".deploy_local")
    ports = {name: int(os.environ.get(PORT_ENV[name], default))
             for name, default in DEFAULT_PORTS.items()}
    return Topology(state_dir=state.resolve(), pg_url=os.environ.get(PG_URL_ENV, "").strip() or DEFAULT_PG_URL,
                    ports=ports, s3_endpoint=os.environ.get(S3_ENDPOINT_ENV, "").strip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m finpulse_assets.deploy.local_topology")
    parser.add_argument("command", choices=["start", "stop", "status"])
    args = parser.parse_args(argv)
    topology = topology_from_env()
    if args.command == "status":
        unhealthy = 0
        for name in ["s3", "code_server", "webserver", "daemon"]:
            health = topology.health(name)
            state = health["state"]
            unhealthy += state != "healthy"
            detail = f", pid {health['pid']}" if health.get("pid") else ""
            detail += f", {health['restarts']} restarts" if health.get("restarts") else ""
            detail += f": {health['reason']}" if health.get("reason") else ""
            print(f"{name:12} {state}{detail}")
        own = {topology.pid(name) for name in DEFAULT_PORTS} | {topology.pid("daemon")}
        strays = [pid for pid in topology.leftover_pids() if pid not in own and _pgid(pid) not in own]
        if strays:
            print(f"processes of {topology.dagster_home} outside the topology's process groups: {strays}")
        return 1 if unhealthy else 0
    if args.command == "stop":
        stopped = topology.stop()
        print(f"stopped {', '.join(stopped)}" if stopped else f"nothing was running ({topology.state_dir})")
        return 0
    began = time.monotonic()
    try:
        started = topology.start()   # on failure it has stopped what it started, and only that
    except (TopologyError, StorageConfigError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    left = [name for name in ["s3", "code_server", "webserver", "daemon"]
            if name not in started and topology.pid(name) is not None]
    print(f"FinPulse topology up in {time.monotonic() - began:.1f}s (state, logs, pids: {topology.state_dir})\n"
          f"  started: {', '.join(started) or 'nothing'}; already running, left as they were: {', '.join(left) or 'none'}\n"
          f"  webserver    {topology.webserver_url}\n"
          f"  code server  grpc://{topology.host}:{topology.ports['code_server']} (location finpulse_assets)\n"
          f"  daemon       pid {topology.pid('daemon')}\n"
          f"  S3           {topology.s3_url} (bucket {topology.env()[S3_BUCKET_ENV]})\n"
          f"  Postgres     {topology.pg_url.split('@')[-1]}\n"
          f"stop it with: make deploy-local-stop")
    return 0


if __name__ == "__main__":
    sys.exit(main())
