"""Which storage the Dagster instance and MLflow use: embedded SQLite, or Postgres by configuration.

    FINPULSE_PG_URL unset   DAGSTER_HOME/dagster.yaml = telemetry off (SQLite files in DAGSTER_HOME)
    FINPULSE_PG_URL set     DAGSTER_HOME/dagster.yaml = deployments/dagster-postgres.yaml (runs, events,
                            schedules in that database); MLflow's tracking store in <database>_mlflow on
                            the same server unless FINPULSE_MLFLOW_URI names another; with
                            FINPULSE_EXECUTOR=celery and FINPULSE_S3_BUCKET, step logs in the object store

`python -m finpulse_assets.storage.instance prepare` (what make runs) writes DAGSTER_HOME/dagster.yaml,
creates the Postgres databases when missing, and refuses to point a DAGSTER_HOME that holds SQLite
runs at Postgres or the other way round: the runs there would vanish from view without a word.
`... mlflow-uri` prints the MLflow tracking URI (for `make mlflow`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

PG_URL_ENV = "FINPULSE_PG_URL"
MLFLOW_URI_ENV = "FINPULSE_MLFLOW_URI"
POSTGRES_INSTANCE_YAML = Path(__file__).resolve().parents[2] / "deployments" / "dagster-postgres.yaml"
# Run monitoring acts while the daemon runs (`make ui` runs it): a run whose worker was killed is marked
# FAILED after max_runtime_seconds (the default run launcher cannot probe a worker's health); docs/reliability.md.
RUN_MONITORING_YAML = ("run_monitoring:\n  enabled: true\n  start_timeout_seconds: 180\n  cancel_timeout_seconds: 180\n"
                       f"  max_runtime_seconds: {int(os.environ.get('RUN_MAX_SECONDS', '7200'))}\n"
                       "  poll_interval_seconds: 30\n")
SQLITE_INSTANCE_YAML = "telemetry:\n  enabled: false\n" + RUN_MONITORING_YAML
MLFLOW_DATABASE_SUFFIX = "_mlflow"


class StorageConfigError(RuntimeError):
    """The configured storage cannot be used as it is; the message says what to do."""


def pg_url() -> str:
    return os.environ.get(PG_URL_ENV, "").strip()


def check_driver(url: str) -> str:
    """`url` unchanged, or StorageConfigError when SQLAlchemy would pick a driver that is not installed.

    SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3; FinPulse ships psycopg2
    (what dagster-postgres is built and tested with), so URLs name it.
    """
    import importlib.util

    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise StorageConfigError(f"{_redacted(url)} is not a Postgres URL; expected "
                                 f"postgresql+psycopg2://user@host:port/database")
    driver = parsed.get_driver_name()
    module = {"psycopg": "psycopg", "psycopg2": "psycopg2", "pg8000": "pg8000", "asyncpg": "asyncpg"}.get(driver, driver)
    if importlib.util.find_spec(module) is None:
        raise StorageConfigError(
            f"{_redacted(url)} needs the Postgres driver {module!r}, which is not installed; write the URL as "
            f"{parsed.set(drivername='postgresql+psycopg2').render_as_string(hide_password=True)}")
    return url


def mlflow_tracking_uri(storage_dir: str | Path) -> str:
    """FINPULSE_MLFLOW_URI, else <database>_mlflow next to FINPULSE_PG_URL, else the local SQLite store."""
    explicit = os.environ.get(MLFLOW_URI_ENV, "").strip()
    if explicit:
        return explicit
    if pg_url():
        return with_database(pg_url(), database_name(pg_url()) + MLFLOW_DATABASE_SUFFIX)
    return f"sqlite:///{Path(storage_dir).resolve() / 'mlflow' / 'mlflow.db'}"


def configured_mlflow_uri() -> str:
    """The MLflow tracking URI the environment asks for; empty for the default local store."""
    return mlflow_tracking_uri("") if os.environ.get(MLFLOW_URI_ENV, "").strip() or pg_url() else ""


def database_name(url: str) -> str:
    from sqlalchemy.engine import make_url

    name = make_url(url).database
    if not name:
        raise StorageConfigError(f"{_redacted(url)} names no database; expected postgresql://user@host:port/database")
    return name


def with_database(url: str, database: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(database=database).render_as_string(hide_password=False)


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def ensure_database(url: str) -> bool:
    """Creates the database `url` names when the server has none by that name; True when it created it."""
    import sqlalchemy
    from sqlalchemy.exc import OperationalError

    name = database_name(check_driver(url))
    maintenance = with_database(url, "postgres")
    engine = sqlalchemy.create_engine(maintenance, isolation_level="AUTOCOMMIT", poolclass=sqlalchemy.pool.NullPool)
    try:
        with engine.connect() as conn:
            exists = conn.execute(sqlalchemy.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
            if not exists:
                conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
            return not exists
    except OperationalError as error:
        raise StorageConfigError(
            f"no Postgres answers at {_redacted(url)} ({str(error.orig).strip().splitlines()[0]}); start one "
            f"(e.g. `pg_ctlcluster 15 main start`) or point {PG_URL_ENV} at a running server, or unset {PG_URL_ENV} "
            f"for the embedded SQLite instance") from error
    finally:
        engine.dispose()


def celery_instance_yaml() -> str:
    """With FINPULSE_EXECUTOR=celery and an object store: step logs go there (engine/compute_logs.py)."""
    from finpulse_assets.engine.compute_logs import s3_compute_logs_yaml
    from finpulse_assets.engine.executor import CELERY, executor_name
    from finpulse_assets.storage.object_storage import ObjectStorage

    objects = ObjectStorage.from_env()
    return s3_compute_logs_yaml(objects) if executor_name() == CELERY and objects is not None else ""


def _holds_sqlite_runs(home: Path) -> bool:
    return (home / "history" / "runs.db").exists() or (home / "storage").exists()


def prepare_home(home: Path, url: str = "") -> str:
    """Writes home/dagster.yaml for `url` (Postgres) or SQLite; returns a one-line description."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    wanted = POSTGRES_INSTANCE_YAML.read_text() + RUN_MONITORING_YAML + celery_instance_yaml() if url \
        else SQLITE_INSTANCE_YAML
    current = config.read_text() if config.exists() else None
    current_is_pg = current is not None and "postgres" in current
    if url and _holds_sqlite_runs(home) and not current_is_pg:
        raise StorageConfigError(
            f"DAGSTER_HOME={home} holds an embedded SQLite instance (history/runs.db); pointing it at Postgres "
            f"would hide its runs. Use another DAGSTER_HOME for Postgres (make uses .dagster_home_postgres), or "
            f"unset {PG_URL_ENV}.")
    if not url and current_is_pg:
        raise StorageConfigError(
            f"DAGSTER_HOME={home} is configured for Postgres ({config}) but {PG_URL_ENV} is not set: set it, or "
            f"use another DAGSTER_HOME for the embedded SQLite instance (make uses .dagster_home).")
    if url:
        created = ensure_database(url)
        created_mlflow = False
        if not os.environ.get(MLFLOW_URI_ENV, "").strip():
            created_mlflow = ensure_database(mlflow_tracking_uri(""))
    if current is None:
        config.write_text(wanted)
    if url:
        made = [n for n, c in ((database_name(url), created), (database_name(url) + MLFLOW_DATABASE_SUFFIX,
                                                                created_mlflow)) if c]
        return (f"Dagster instance on Postgres {_redacted(url)} (DAGSTER_HOME={home})"
                + (f"; created database {', '.join(made)}" if made else ""))
    return f"Dagster instance on SQLite in {home}"


def main(argv: list[str] | None = None) -> int:
    command = (argv if argv is not None else sys.argv[1:]) or ["prepare"]
    try:
        if command[0] == "prepare":
            home = os.environ.get("DAGSTER_HOME", "")
            if not home:
                raise StorageConfigError("DAGSTER_HOME is not set")
            print(prepare_home(Path(home), pg_url()))
        elif command[0] == "mlflow-uri":
            storage = os.environ.get("FINPULSE_STORAGE_DIR", "").strip() or Path(__file__).resolve().parents[2] / "storage"
            print(mlflow_tracking_uri(storage))
        else:
            print(f"unknown command {command[0]!r}; expected prepare or mlflow-uri", file=sys.stderr)
            return 2
    except StorageConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
