"""A store that never answers fails within seconds, as one ``StoreError`` line.

A TCP server that accepts and never replies stands in for a hung PostgreSQL host (or one
behind a firewall that swallows packets): before, psycopg waited its 130 s default.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from leadsync.errors import StoreError
from leadsync.store import Store, db
from tests.conftest import PG_URL_ENV, skip_or_fail_without_pg
from tests.netfaults import SilentServer, closed_port


def test_a_silent_postgresql_host_fails_within_its_connect_timeout() -> None:
    with SilentServer() as silent:
        url = f"postgresql+psycopg://leadsync:s3cret@127.0.0.1:{silent.port}/leadsync"
        started = time.monotonic()
        with pytest.raises(StoreError) as raised:
            Store(url + "?connect_timeout=2")
        took = time.monotonic() - started
    assert 2.0 <= took < 5.0, took
    message = str(raised.value)
    assert "\n" not in message and "s3cret" not in message
    assert f"127.0.0.1:{silent.port}/leadsync" in message
    assert "connect_timeout=2" in message and "check store.url" in message


def test_a_refused_postgresql_port_names_the_host_in_one_line() -> None:
    port = closed_port()
    with pytest.raises(StoreError) as raised:
        Store(f"postgresql+psycopg://postgres@127.0.0.1:{port}/leadsync")
    message = str(raised.value)
    assert "\n" not in message and f"127.0.0.1:{port}" in message and "refused" in message


def test_postgresql_connections_get_a_10_s_connect_timeout_unless_the_url_sets_one() -> None:
    base = os.environ.get(PG_URL_ENV)
    if not base:
        skip_or_fail_without_pg(f"PostgreSQL not configured: set {PG_URL_ENV}")
    assert base is not None
    seen: list[object] = []
    for url, expected in ((base, 10), (base + "?connect_timeout=3", "3")):
        engine = db.create_engine(url)
        sa.event.listen(
            engine, "do_connect", lambda d, r, a, params: seen.append(params["connect_timeout"])
        )
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
        assert seen[-1] == expected


def test_sync_against_a_silent_store_exits_3_within_seconds(tmp_path: Path) -> None:
    with SilentServer() as silent:
        config = tmp_path / "leadsync.toml"
        config.write_text(
            "[store]\n"
            f'url = "postgresql+psycopg://postgres@127.0.0.1:{silent.port}/x?connect_timeout=2"\n'
        )
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-c", "from leadsync.cli import main; main()", "sync"],
            env={**os.environ, "LEADSYNC_CONFIG": str(config)},
            capture_output=True,
            text=True,
            timeout=60,
        )
        took = time.monotonic() - started
    assert result.returncode == 3, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("leadsync: store: cannot reach the store at 127.0.0.1:")
    assert "Traceback" not in result.stderr
    assert took < 20, took  # interpreter start-up + 2 s; was 130 s and more
