"""The PostgreSQL scheduler lease: one holder, hand-over when it goes, step-down when cut off."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from structlog.testing import capture_logs

from jobs.lease import LOCK_CLASS, AdvisoryLease, SoleLease
from tests.conftest import fresh_store_url

LEASE = timedelta(seconds=2)


@pytest.fixture
def pg_url(tmp_path: Path) -> Iterator[str]:
    yield from fresh_store_url("postgresql", tmp_path)


class Events:
    def __init__(self) -> None:
        self.log: list[str] = []
        self.lock = threading.Lock()

    def hooks(self, name: str) -> tuple[Callable[[], None], Callable[[], None]]:
        def elected() -> None:
            with self.lock:
                self.log.append(f"{name} elected")

        def deposed() -> None:
            with self.lock:
                self.log.append(f"{name} deposed")

        return elected, deposed


def _wait_for(predicate: Callable[[], bool], timeout: float) -> float:
    began = time.monotonic()
    while not predicate():
        assert time.monotonic() - began < timeout, "condition not reached in time"
        time.sleep(0.05)
    return time.monotonic() - began


def test_sqlite_process_always_leads() -> None:
    events = Events()
    lease = SoleLease()
    lease.start(*events.hooks("a"))
    assert lease.role == "leader" and events.log == ["a elected"]


def test_lease_must_be_watchable() -> None:
    with pytest.raises(ValueError, match="2 s"):
        AdvisoryLease("postgresql+psycopg://u@h/db", timedelta(seconds=1))


@pytest.mark.postgres
def test_one_holder_and_the_other_takes_over_when_it_lets_go(pg_url: str) -> None:
    events = Events()
    first, second = AdvisoryLease(pg_url, LEASE), AdvisoryLease(pg_url, LEASE)
    try:
        first.start(*events.hooks("first"))
        _wait_for(lambda: first.role == "leader", 5)
        second.start(*events.hooks("second"))
        time.sleep(LEASE.total_seconds() * 1.5)
        assert (first.role, second.role) == ("leader", "standby")
        first.stop()
        took = _wait_for(lambda: second.role == "leader", 5)
        assert took <= LEASE.total_seconds() + 0.5
        assert events.log == ["first elected", "second elected"]
    finally:
        first.stop()
        second.stop()


@pytest.mark.postgres
def test_a_leader_whose_session_the_server_ends_steps_down(pg_url: str) -> None:
    events = Events()
    lease = AdvisoryLease(pg_url, LEASE)
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    try:
        lease.start(*events.hooks("a"))
        _wait_for(lambda: lease.role == "leader", 5)
        with admin.connect() as conn:
            ended = conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks "
                    "WHERE locktype = 'advisory' AND classid = :cls AND database = "
                    "(SELECT oid FROM pg_database WHERE datname = current_database())"
                ),
                {"cls": LOCK_CLASS},
            ).scalars()
            assert list(ended) == [True]
        _wait_for(lambda: "a deposed" in events.log, LEASE.total_seconds() + 2)
        # Nobody else wanted it: the same process is elected again on a new session.
        _wait_for(lambda: events.log.count("a elected") == 2, LEASE.total_seconds() + 2)
        assert lease.role == "leader"
    finally:
        lease.stop()
        admin.dispose()


def test_a_standby_waits_while_the_server_is_unreachable_and_says_why() -> None:
    lease = AdvisoryLease("postgresql+psycopg://postgres@127.0.0.1:1/none", LEASE)
    events = Events()
    with capture_logs() as logs:
        try:
            lease.start(*events.hooks("a"))
            time.sleep(LEASE.total_seconds())
            assert lease.role == "standby" and events.log == []
        finally:
            lease.stop()
    unavailable = [e for e in logs if e["event"] == "lease.unavailable"]
    assert unavailable and "OperationalError" in unavailable[0]["reason"]
