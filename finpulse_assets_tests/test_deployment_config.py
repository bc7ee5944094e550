"""The deployment files agree with the code: compose.yaml, the Helm values, kubernetes.yaml, deployments/dagster/.

Names, ports, env vars, probes and the instance settings are read from the files and from the code
(the code server's module, the Containerfile, the settings the code reads), never restated here.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from dagster import DagsterInstance

from finpulse_assets.deploy.images import CODE_IMAGE as MADE_CODE_IMAGE
from finpulse_assets.deploy.images import SERVING_IMAGE_LATEST
from finpulse_assets.deploy.local_topology import (
    CODE_MODULE,
    CODE_SERVER_HOST_ENV,
    CODE_SERVER_PORT_ENV,
    INSTANCE_YAML,
    WORKSPACE_YAML,
)
from finpulse_assets.runs.run_launcher import LocalRunLauncher
from finpulse_assets.runs.ticker_queue import TickerRunCoordinator
from finpulse_assets.serving.auth import OPEN_PATHS
from finpulse_assets.storage.instance import POSTGRES_INSTANCE_YAML, RUN_MONITORING_YAML
from finpulse_assets_tests.postgres_support import temporary_database

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deployments"
COMPOSE = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
HELM = yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())
K8S = list(yaml.safe_load_all((DEPLOY / "kubernetes.yaml").read_text()))
INSTANCE = yaml.safe_load(INSTANCE_YAML.read_text())
WORKSPACE = yaml.safe_load(WORKSPACE_YAML.read_text())
CONTAINERFILE = (DEPLOY / "Containerfile").read_text()
DAGSTER_SERVICES = ("finpulse-code", "dagster-webserver", "dagster-daemon")
CODE_IMAGE = re.search(r"image=\$\{1:-([^:}]+)", (DEPLOY / "images" / "build_code_image.sh").read_text()).group(1)


def _code_env_names() -> set[str]:
    """Every FINPULSE_* name the code or the instance/workspace files read."""
    sources = [*ROOT.joinpath("finpulse_assets").rglob("*.py"), *ROOT.joinpath("bentos").rglob("*.py"),
               INSTANCE_YAML, WORKSPACE_YAML]
    return {name for path in sources for name in re.findall(r"FINPULSE_[A-Z0-9_]+", path.read_text())}


def _env_names_in(text: str) -> set[str]:
    return set(re.findall(r"\benv:\s*(FINPULSE_[A-Z0-9_]+)", text))


def _containerfile_env(name: str) -> str:
    return re.search(rf"\b{name}=(\S+)", CONTAINERFILE).group(1)


def _code_port() -> int:
    return int(re.search(r"^EXPOSE (\d+)", CONTAINERFILE, re.M).group(1))


def _compose_env(service: str) -> dict[str, str]:
    return COMPOSE["services"][service]["environment"]


def _user_deployment() -> dict:
    (deployment,) = HELM["dagster-user-deployments"]["deployments"]
    return deployment


def test_workspace_loads_the_code_server_from_env():
    (entry,) = WORKSPACE["load_from"]
    server = entry["grpc_server"]
    assert server["host"] == {"env": CODE_SERVER_HOST_ENV} and server["port"] == {"env": CODE_SERVER_PORT_ENV}
    assert server["location_name"] == "finpulse_assets"


def test_instance_yaml_reuses_the_postgres_storage_and_run_monitoring_of_instance_storage():
    assert INSTANCE["storage"] == yaml.safe_load(POSTGRES_INSTANCE_YAML.read_text())["storage"]
    written = yaml.safe_load(RUN_MONITORING_YAML)["run_monitoring"]
    # RUN_MAX_SECONDS (make's knob, default 7200) may be set where the tests run.
    assert {k: v for k, v in INSTANCE["run_monitoring"].items() if k != "max_runtime_seconds"} == {
        k: v for k, v in written.items() if k != "max_runtime_seconds"}
    assert INSTANCE["run_monitoring"]["max_runtime_seconds"] == 7200
    assert INSTANCE["telemetry"] == {"enabled": False}


def test_run_queue_limits_tickers_and_backfills():
    assert (INSTANCE["run_coordinator"]["module"], INSTANCE["run_coordinator"]["class"]) == (
        TickerRunCoordinator.__module__, TickerRunCoordinator.__name__)
    config = INSTANCE["run_coordinator"]["config"]
    limits = {limit["key"]: limit for limit in config["tag_concurrency_limits"]}
    assert limits["dagster/backfill"]["limit"] < config["max_concurrent_runs"] < 87


def test_instance_yaml_loads_as_a_queued_postgres_instance(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(INSTANCE_YAML.read_text())
    with temporary_database("topology_config") as url:
        monkeypatch.setenv("FINPULSE_PG_URL", url)
        monkeypatch.setenv("FINPULSE_S3_BUCKET", "finpulse")
        monkeypatch.setenv("FINPULSE_S3_ENDPOINT_URL", "http://127.0.0.1:9")
        with DagsterInstance.from_config(str(home)) as instance:
            coordinator = instance.run_coordinator
            assert isinstance(coordinator, TickerRunCoordinator)
            assert coordinator.get_run_queue_config().max_concurrent_runs == INSTANCE["run_coordinator"]["config"][
                "max_concurrent_runs"]
            assert instance.run_monitoring_enabled and instance.run_retries_enabled
            assert instance.run_retries_max_retries == INSTANCE["run_retries"]["max_retries"]
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
            assert type(instance.compute_log_manager).__name__ == "S3ComputeLogManager"
            # Run monitoring can ask whether a run's worker still lives (runs/run_launcher.py).
            assert isinstance(instance.run_launcher, LocalRunLauncher)
            assert instance.run_launcher.supports_check_run_worker_health


def test_compose_services_and_the_code_server():
    services = COMPOSE["services"]
    assert {"postgres", "minio", *DAGSTER_SERVICES, "finpulse"} <= set(services)
    code = services["finpulse-code"]
    assert code["image"].split(":")[0] == CODE_IMAGE
    command = code["command"]
    assert command[:3] == ["dagster", "code-server", "start"] and command[command.index("-m") + 1] == CODE_MODULE
    port = int(command[command.index("-p") + 1])
    assert port == _code_port() and str(port) in code["expose"]
    assert code["healthcheck"]["test"] == ["CMD", "dagster", "api", "grpc-health-check", "-p", str(port)]
    for name in DAGSTER_SERVICES:
        env = _compose_env(name)
        assert env[CODE_SERVER_HOST_ENV] == "finpulse-code" and env[CODE_SERVER_PORT_ENV] == str(port), name
        assert env["DAGSTER_HOME"] == _containerfile_env("DAGSTER_HOME"), name
        assert env["FINPULSE_STORAGE_DIR"] == _containerfile_env("FINPULSE_STORAGE_DIR"), name
        mounts = dict(reversed(m.split(":")[:2]) for m in services[name]["volumes"] if m.startswith("./"))
        assert mounts[f"{env['DAGSTER_HOME']}/dagster.yaml"] == "./dagster/dagster.yaml", name
        assert (DEPLOY / "dagster" / "dagster.yaml").exists() and (DEPLOY / "dagster" / "workspace.yaml").exists()
        if name != "finpulse-code":
            cmd = services[name]["command"]
            assert mounts[cmd[cmd.index("-w") + 1]] == "./dagster/workspace.yaml", name
        assert services[name]["depends_on"], name


def test_compose_env_is_what_the_code_reads():
    known = _code_env_names()
    required = _env_names_in(INSTANCE_YAML.read_text()) | _env_names_in(WORKSPACE_YAML.read_text())
    for name in [*DAGSTER_SERVICES, "finpulse"]:
        env = _compose_env(name)
        unknown = {k for k in env if k.startswith("FINPULSE_")} - known
        assert not unknown, f"{name} sets {unknown}, which no code reads"
    for name in DAGSTER_SERVICES:
        assert required <= set(_compose_env(name)), (name, required - set(_compose_env(name)))


def test_compose_points_at_its_postgres_and_s3():
    services, env = COMPOSE["services"], _compose_env("dagster-daemon")
    pg = services["postgres"]["environment"]
    user, host_db = env["FINPULSE_PG_URL"].split("://", 1)[1].split(":", 1)[0], env["FINPULSE_PG_URL"].rsplit("@", 1)[1]
    assert user == pg["POSTGRES_USER"] and host_db == f"postgres:5432/{pg['POSTGRES_DB']}"
    mlflow_db = env["FINPULSE_MLFLOW_URI"].rsplit("/", 1)[1]
    assert f"CREATE DATABASE {mlflow_db} " in (DEPLOY / "postgres-init.sql").read_text()
    minio = services["minio"]["command"]
    assert env["FINPULSE_S3_ENDPOINT_URL"] == f"http://minio{minio[minio.index('--address') + 1]}"
    assert f"local/{env['FINPULSE_S3_BUCKET']}" in services["minio-bucket"]["command"][0]


def test_bento_probes_are_open_and_on_the_served_port():
    service = COMPOSE["services"]["finpulse"]
    assert "/readyz" in " ".join(service["healthcheck"]["test"])
    assert service["ports"][0].rsplit(":", 1)[1] == "3000"
    deployment = next(d for d in K8S if d["kind"] == "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    port = container["ports"][0]["containerPort"]
    probes = {container["livenessProbe"]["httpGet"]["path"], container["readinessProbe"]["httpGet"]["path"]}
    assert probes == {"/livez", "/readyz"} and probes <= OPEN_PATHS
    assert {container["livenessProbe"]["httpGet"]["port"], container["readinessProbe"]["httpGet"]["port"]} == {port}
    service = next(d for d in K8S if d["kind"] == "Service")
    assert service["spec"]["ports"][0]["targetPort"] == port
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    unknown = {e["name"] for e in container["env"] if e["name"].startswith("FINPULSE_")} - _code_env_names()
    assert not unknown


def test_helm_user_deployment_is_the_code_image():
    deployment = _user_deployment()
    assert deployment["image"]["repository"] == CODE_IMAGE
    args = deployment["codeServerArgs"]
    assert args[args.index("-m") + 1] == CODE_MODULE and deployment["port"] == _code_port()
    assert HELM["global"]["dagsterHome"] == _containerfile_env("DAGSTER_HOME")
    mounts = {m["mountPath"] for m in deployment["volumeMounts"]}
    assert _containerfile_env("FINPULSE_STORAGE_DIR") in mounts
    unknown = {e["name"] for e in deployment["env"] if e["name"].startswith("FINPULSE_")} - _code_env_names()
    assert not unknown


@pytest.mark.parametrize("section", ["runCoordinator", "runMonitoring", "runRetries"])
def test_helm_instance_settings_match_dagster_yaml(section):
    daemon = HELM["dagsterDaemon"]

    def snake(name: str) -> str:
        return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()

    if section == "runCoordinator":
        assert daemon[section]["type"] == "CustomRunCoordinator"
        custom = daemon[section]["config"]["customRunCoordinator"]
        assert custom == {"module": INSTANCE["run_coordinator"]["module"], "class": INSTANCE["run_coordinator"]["class"],
                          "config": INSTANCE["run_coordinator"]["config"]}
    else:
        assert {snake(k): v for k, v in daemon[section].items()} == INSTANCE[snake(section)]


# What compose.yaml needs from the operator's environment (its ${VAR:?} entries); dummies for validating.
COMPOSE_ENV = {"POSTGRES_PASSWORD": "pw", "S3_ACCESS_KEY": "key", "S3_SECRET_KEY": "secret", "FINPULSE_API_TOKEN": "t"}
BIN = Path(sys.executable).parent


def _podman_compose_config(env: dict[str, str]) -> subprocess.CompletedProcess:
    """`podman-compose config`: compose's variable interpolation and merging, as podman-compose runs the file
    (--dry-run: no podman engine needed to print the resolved file)."""
    clean = {k: v for k, v in os.environ.items() if k not in COMPOSE_ENV and k != "FINPULSE_BENTO_IMAGE"}
    return subprocess.run([str(BIN / "podman-compose"), "--dry-run", "-f", str(DEPLOY / "compose.yaml"), "config"],
                          capture_output=True, text=True, env=clean | env, cwd=DEPLOY, timeout=120)


def test_compose_file_is_valid_for_the_compose_specification():
    done = subprocess.run([str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec",
                           str(DEPLOY / "compose.yaml")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_compose_file_resolves_with_podman_compose_and_refuses_a_missing_secret():
    done = _podman_compose_config(COMPOSE_ENV)
    assert done.returncode == 0, done.stderr[-3000:]
    resolved = yaml.safe_load(done.stdout)
    services = resolved["services"]
    assert set(services) == set(COMPOSE["services"])
    for name, service in services.items():
        assert set(service.get("depends_on", {})) <= set(services), name
    assert services["dagster-daemon"]["environment"]["FINPULSE_PG_URL"].startswith("postgresql+psycopg2://finpulse:pw@")
    missing = _podman_compose_config({k: v for k, v in COMPOSE_ENV.items() if k != "POSTGRES_PASSWORD"})
    assert missing.returncode != 0 and "POSTGRES_PASSWORD" in missing.stderr


def _finpulse_images() -> dict[str, str]:
    """Every FinPulse image the deployment files name (third-party images, Postgres and MinIO, aside)."""
    named = {f"compose {name}": service["image"] for name, service in COMPOSE["services"].items()
             if "finpulse" in service["image"]}
    bento = COMPOSE["services"]["finpulse"]["image"]
    named["compose finpulse"] = re.fullmatch(r"\$\{FINPULSE_BENTO_IMAGE:-([^}]+)\}", bento).group(1)
    for doc in K8S:
        if doc["kind"] == "Deployment":
            for container in doc["spec"]["template"]["spec"]["containers"]:
                named[f"kubernetes {container['name']}"] = container["image"]
    images = {"helm user deployment": _user_deployment()["image"], "helm webserver": HELM["dagsterWebserver"]["image"],
              "helm daemon": HELM["dagsterDaemon"]["image"]}
    named |= {where: f"{image['repository']}:{image['tag']}" for where, image in images.items()}
    return named


def test_every_image_the_deployment_names_is_one_make_images_produces():
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\nimages:", 1)[1].split("\n\n", 1)[0]
    assert "deployments/images/build_code_image.sh\n" in recipe and "finpulse_assets.deploy.images" in recipe
    # build_code_image.sh's default name and the serving image's `latest` name finpulse_assets.deploy.images gives it.
    assert f"{CODE_IMAGE}:latest" == MADE_CODE_IMAGE
    produced = {MADE_CODE_IMAGE, SERVING_IMAGE_LATEST}
    named = _finpulse_images()
    assert {"compose finpulse-code", "compose finpulse", "kubernetes finpulse", "helm webserver"} <= set(named)
    wrong = {where: image for where, image in named.items() if image not in produced}
    assert not wrong, f"images no `make images` produces: {wrong} (it makes {sorted(produced)})"
    for doc in K8S:
        if doc["kind"] == "Deployment":
            for container in doc["spec"]["template"]["spec"]["containers"]:
                assert container["imagePullPolicy"] == "IfNotPresent"


def test_helm_custom_run_launcher_and_compute_logs_have_their_config():
    launcher = HELM["runLauncher"]
    assert launcher["type"] == "CustomRunLauncher"
    custom = launcher["config"]["customRunLauncher"]
    assert {"module", "class", "config"} <= set(custom) and isinstance(custom["config"], dict)
    logs = HELM["computeLogManager"]
    assert logs["type"] == INSTANCE["compute_logs"]["class"] == "S3ComputeLogManager"
    assert logs["config"]["s3ComputeLogManager"]["prefix"] == INSTANCE["compute_logs"]["config"]["prefix"]
    assert INSTANCE["compute_logs"]["config"]["bucket"] == {"env": "FINPULSE_S3_BUCKET"}


def test_celery_workers_run_the_code_image_on_the_queue_the_code_server_sends_to():
    from finpulse_assets.engine.executor import CELERY, EXECUTOR_ENV, QUEUE_ENV

    config_map, workers = yaml.safe_load_all((DEPLOY / "celery-workers.yaml").read_text())
    assert config_map["data"][EXECUTOR_ENV] == CELERY and config_map["data"][QUEUE_ENV]
    container = workers["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == MADE_CODE_IMAGE
    command = " ".join(container["args"])
    assert "dagster-celery worker start -A dagster_celery.app" in command and f'-q "${QUEUE_ENV}"' in command
    assert {"configMapRef": {"name": config_map["metadata"]["name"]}} in container["envFrom"]
    user = _user_deployment()
    assert {"name": config_map["metadata"]["name"], "optional": True} in user["envConfigMaps"]
    assert yaml.safe_load((DEPLOY / "helm" / "values-celery.yaml").read_text())["rabbitmq"]["enabled"] is True
