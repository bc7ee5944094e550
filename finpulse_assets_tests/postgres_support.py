"""Pytest side of the throwaway Postgres databases (`finpulse_assets.storage.postgres_admin`).

No server is a test failure that says how to provide one, never a skip.
"""

from __future__ import annotations

import pytest

from finpulse_assets.storage import postgres_admin
from finpulse_assets.storage.postgres_admin import ADMIN_URL, postgres_home  # noqa: F401 (re-exported for the tests)


def temporary_database(purpose: str):
    """finpulse_<purpose>_<uuid8> for the length of a `with` block (postgres_admin.temporary_database)."""
    try:
        postgres_admin.check_server()
    except postgres_admin.PostgresUnavailable as error:
        pytest.fail(str(error), pytrace=False)
    return postgres_admin.temporary_database(purpose)
