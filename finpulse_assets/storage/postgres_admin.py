"""Throwaway Postgres databases (tests, benchmarks) and Dagster homes on them.

The server is FINPULSE_TEST_PG_URL (default: the development machine's, postgres@127.0.0.1:5432, trust
auth). Each session creates `finpulse_<purpose>_<uuid8>` and drops it at the end, so parallel runs
never collide. No server is a PostgresUnavailable error that says how to provide one.
"""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy

from finpulse_assets.storage.instance import POSTGRES_INSTANCE_YAML, with_database

ADMIN_URL = os.environ.get("FINPULSE_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")


class PostgresUnavailable(RuntimeError):
    """No Postgres server answers at ADMIN_URL."""


def _admin_engine():
    return sqlalchemy.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=sqlalchemy.pool.NullPool)


def check_server() -> None:
    """Raises PostgresUnavailable, saying how to provide a server, when none answers at ADMIN_URL."""
    engine = _admin_engine()
    try:
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT 1"))
    except sqlalchemy.exc.OperationalError as error:
        raise PostgresUnavailable(
            f"this needs a PostgreSQL server and none answers at {ADMIN_URL} "
            f"({str(error.orig).strip().splitlines()[0]}). Start one (Debian: `pg_ctlcluster 15 main start`; "
            f"any host: `docker run -p 5432:5432 -e POSTGRES_HOST_AUTH_METHOD=trust postgres:15`) or point "
            f"FINPULSE_TEST_PG_URL at a server where the user may create databases.") from None
    finally:
        engine.dispose()


@contextmanager
def temporary_database(purpose: str):
    """Creates finpulse_<purpose>_<uuid8> and yields its URL; drops it afterwards (with any sessions left)."""
    check_server()
    name = f"finpulse_{purpose}_{uuid.uuid4().hex[:8]}"
    engine = _admin_engine()
    with engine.connect() as conn:
        conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    try:
        yield with_database(ADMIN_URL, name)
    finally:
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


def postgres_home(directory: Path) -> Path:
    """A DAGSTER_HOME whose dagster.yaml is the deployment's Postgres one (reads FINPULSE_PG_URL)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "dagster.yaml").write_text(POSTGRES_INSTANCE_YAML.read_text())
    return directory
