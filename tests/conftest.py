"""Shared fixtures. The store URL fixture runs store-touching tests on SQLite and PostgreSQL.

PostgreSQL tests need ``LEADSYNC_TEST_PG_URL``; without it they skip with a reason. ``.ci/run``
sets it and ``LEADSYNC_REQUIRE_PG=1``, which turns such a skip into a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_URL_ENV = "LEADSYNC_TEST_PG_URL"
REQUIRE_PG_ENV = "LEADSYNC_REQUIRE_PG"


def skip_or_fail_without_pg(reason: str) -> None:
    """Skip a PostgreSQL test on a machine without it; fail instead where CI requires it."""
    if os.environ.get(REQUIRE_PG_ENV) == "1":
        pytest.fail(f"{REQUIRE_PG_ENV}=1 but {reason}")
    pytest.skip(reason)


def _pg_base_url() -> str | None:
    return os.environ.get(PG_URL_ENV) or None


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL: a SQLite file, or a new PostgreSQL database."""
    yield from fresh_store_url(request.param, tmp_path)


def fresh_store_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A fresh database of ``backend`` ("sqlite" or "postgresql"), dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'leadsync.db'}"
        return
    base = _pg_base_url()
    if base is None:
        skip_or_fail_without_pg(f"PostgreSQL not configured: set {PG_URL_ENV}")
    yield from _fresh_pg_database(base)


def _fresh_pg_database(base: str) -> Iterator[str]:
    import sqlalchemy as sa

    name = f"leadsync_t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        skip_or_fail_without_pg(f"PostgreSQL at {PG_URL_ENV} unreachable: {exc.orig}")
    url = sa.engine.make_url(base).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
