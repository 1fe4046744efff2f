"""Opening the store: engine settings per database, and migrations applied on start."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
import structlog
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event

from leadsync.errors import StoreError

log = structlog.get_logger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
#: Seconds to wait for PostgreSQL to accept a connection (TCP, TLS, authentication) unless the
#: store URL sets ``?connect_timeout=N``. Without one, psycopg waits 130 s on a host that
#: accepts and never answers (libpq: as long as the OS retries a SYN to a dropped address).
PG_CONNECT_TIMEOUT = 10
#: Drivers built on libpq, which take ``connect_timeout`` as a connection parameter.
_LIBPQ_DRIVERS = frozenset({"psycopg", "psycopg2"})


def backend_name(url: str) -> str:
    """Which database ``url`` names (``"postgresql"``, ``"sqlite"``), without connecting."""
    return _parsed(url).get_backend_name()


def _parsed(url: str) -> sa.URL:
    try:
        return sa.engine.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise StoreError(f"store url {url!r} is not a database URL: {exc}") from None


def create_engine(url: str) -> sa.Engine:
    """An engine tuned for the store: WAL and foreign keys on SQLite, a small pool on Postgres."""
    parsed = _parsed(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own transaction handling defers BEGIN; take it over so each
        # transaction starts when we say (needed for BEGIN IMMEDIATE under concurrency).
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
        return engine
    connect_args: dict[str, Any] = {}
    if parsed.get_driver_name() in _LIBPQ_DRIVERS and "connect_timeout" not in parsed.query:
        connect_args["connect_timeout"] = PG_CONNECT_TIMEOUT
    return sa.create_engine(
        url,
        pool_size=5,
        max_overflow=5,
        pool_pre_ping=True,
        json_serializer=_dump_json,
        json_deserializer=orjson.loads,
        connect_args=connect_args,
    )


def _dump_json(value: Any) -> bytes:
    """JSONB payloads (record attributes, outputs, causes) through orjson: a backfill stores
    millions of them, and the standard library's encoder was 5 % of its client time."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError:  # an integer beyond 64 bits: JSONB takes it, orjson not
        return json.dumps(value).encode()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    # WAL + NORMAL survives a killed process (not a power cut), at far less fsync cost.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def unreachable(url: sa.URL, exc: sa.exc.OperationalError) -> StoreError:
    """A one-line ``StoreError`` naming the store (password hidden) and what to check."""
    reason = " ".join(str(exc.orig).split())
    if url.get_backend_name() == "sqlite":
        return StoreError(
            f"cannot open the store {url.database}: {reason}; check store.url and that the "
            "folder exists and is writable"
        )
    where = f"{url.host or 'localhost'}:{url.port or 5432}/{url.database or ''}"
    timeout = url.query.get("connect_timeout", PG_CONNECT_TIMEOUT)
    return StoreError(
        f"cannot reach the store at {where}: {reason}; check store.url (host, port, database, "
        f"user, password), that PostgreSQL is running and reachable from here (firewall, DNS), "
        f"and the wait allowed (connect_timeout={timeout} s; set ?connect_timeout=N in the url)"
    )


def _alembic_config(connection: sa.Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    head = script.get_current_head()
    assert head is not None, "the package ships at least one migration"
    return head


def current_revision(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: sa.Engine) -> tuple[str | None, str]:
    """Apply pending migrations; refuse a store migrated by a newer LeadSync.

    Returns (revision before, revision after).
    """
    before = _checked_revision(engine)
    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "head")
    after = head_revision()
    if before != after:
        log.info("store.migrated", before=before, after=after)
    return before, after


def _checked_revision(engine: sa.Engine) -> str | None:
    try:
        revision = current_revision(engine)
    except sa.exc.OperationalError as exc:
        raise unreachable(engine.url, exc) from None
    if revision is None:
        return None
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    try:
        script.get_revision(revision)
    except Exception:
        raise StoreError(
            f"the store is at schema revision {revision}, which this LeadSync does not know: "
            "it was migrated by a newer LeadSync; upgrade LeadSync before running it"
        ) from None
    return revision


def ping(conn: sa.Connection) -> None:
    """Raise the driver's error unless the store answers a trivial query."""
    conn.execute(sa.text("SELECT 1")).scalar_one()
