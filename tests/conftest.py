"""Shared fixtures. The store URL fixture runs store-touching tests on SQLite and PostgreSQL.

PostgreSQL tests need ``LEADSYNC_TEST_PG_URL``; without it they skip with a reason. ``.ci/run``
sets it and ``LEADSYNC_REQUIRE_PG=1``, which turns such a skip into a failure.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_URL_ENV = "LEADSYNC_TEST_PG_URL"
REQUIRE_PG_ENV = "LEADSYNC_REQUIRE_PG"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files holding a slow test run first. xdist (``--dist loadfile``) hands files out in
    collection order, so a slow file collected last keeps one worker busy while the other
    idles; handed out first, the many short files fill in around it."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)


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


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def migrated_store_url(
    request: pytest.FixtureRequest, tmp_path: Path, store_templates: StoreTemplates
) -> Iterator[str]:
    """Like ``store_url``, with the store's migrations already run: a copy of a database
    migrated once per test process (a copy takes a fraction of the 0.1-0.5 s the migrations
    take), for tests of what the store does, not of how it got its schema."""
    if request.param == "sqlite":
        path = tmp_path / "leadsync.db"
        shutil.copyfile(store_templates.sqlite(), path)
        yield f"sqlite:///{path}"
        return
    base = _pg_base_url()
    if base is None:
        skip_or_fail_without_pg(f"PostgreSQL not configured: set {PG_URL_ENV}")
    yield from _fresh_pg_database(base, template=store_templates.postgresql(base))


class StoreTemplates:
    """One migrated database per backend, made when first asked for, dropped at the end."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._sqlite: Path | None = None
        self._pg: tuple[str, Iterator[str]] | None = None

    def sqlite(self) -> Path:
        if self._sqlite is None:
            from leadsync.store import Store

            path = self.folder / "template.db"
            Store(f"sqlite:///{path}").close()
            self._sqlite = path
        return self._sqlite

    def postgresql(self, base: str) -> str:
        """The template database's name (nobody may be connected to it while it is copied)."""
        import sqlalchemy as sa

        from leadsync.store import Store

        if self._pg is None:
            made = _fresh_pg_database(base)
            url = next(made)
            Store(url).close()
            self._pg = (str(sa.engine.make_url(url).database), made)
        return self._pg[0]

    def close(self) -> None:
        if self._pg is not None:
            for _ in self._pg[1]:  # runs the DROP DATABASE after its yield
                pass


@pytest.fixture(scope="session")
def store_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoreTemplates]:
    templates = StoreTemplates(tmp_path_factory.mktemp("store-templates"))
    try:
        yield templates
    finally:
        templates.close()


def _fresh_pg_database(base: str, template: str | None = None) -> Iterator[str]:
    import sqlalchemy as sa

    name = f"leadsync_t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    copy_of = f' TEMPLATE "{template}"' if template else ""
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"{copy_of}'))
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
