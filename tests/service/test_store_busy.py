"""Nothing on the event loop waits on the store: a locked store slows no probe and no page.

The store is locked the way the tester locked it: SQLite's write lock held by another
connection, PostgreSQL's table locked in another session. Over a real uvicorn server,
``/healthz`` must answer within a second, a signed delivery within HubSpot's five seconds
(503 with ``Retry-After``: not taken, HubSpot retries), and, once the lock is gone, the
retried delivery is taken exactly once.
"""

from __future__ import annotations

import concurrent.futures
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from connectors.hubspot.webhooks import WebhookEvent
from leadsync.service.app import ServiceParts, build_app
from leadsync.service.metrics import ServiceMetrics
from leadsync.service.state import CycleLog
from leadsync.service.webhook import HubSpotWebhook
from leadsync.store import Store
from leadsync.store.webhooks import StoredEventIds
from tests.service.helpers import SECRET, contact_event, hubspot_delivery, serving


@pytest.fixture
def store(migrated_store_url: str) -> Iterator[Store]:
    store = Store(migrated_store_url)
    yield store
    store.close()


@contextmanager
def locked(store: Store, table: str) -> Iterator[None]:
    """Hold the store's lock from another connection: SQLite's write lock, or ``table``."""
    if store.dialect == "sqlite":
        conn = sqlite3.connect(store.engine.url.database or "", isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        return
    engine = sa.create_engine(store.url)
    with engine.connect() as conn:
        conn.execute(sa.text(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))
        try:
            yield
        finally:
            conn.rollback()
    engine.dispose()


@dataclass
class Standby:
    role: str = "standby"
    since: datetime = field(default_factory=lambda: datetime.now(UTC))


def _app(
    store: Store, taken: list[list[WebhookEvent]], standby: bool = False, handing_on: float = 0.0
) -> Any:
    def on_delivery(events: list[WebhookEvent]) -> bool:
        time.sleep(handing_on)  # queueing the cycle takes its time
        taken.append(events)
        return True

    metrics = ServiceMetrics({})
    return build_app(
        ServiceParts(
            store=store,
            connectors=["hubspot"],
            interval=timedelta(minutes=5),
            cycles=CycleLog(started_at=datetime.now(UTC)),
            metrics=metrics,
            webhook=HubSpotWebhook(SECRET, on_delivery, metrics, replays=StoredEventIds(store)),
            webhook_path="/hooks/hubspot",
            leadership=Standby() if standby else None,
        )
    )


def _timed(call: Any) -> tuple[float, httpx.Response]:
    began = time.monotonic()
    answer = call()
    return time.monotonic() - began, answer


def test_a_locked_store_holds_up_no_probe_and_no_delivery_past_five_seconds(
    store: Store,
) -> None:
    taken: list[list[WebhookEvent]] = []
    app = _app(store, taken, handing_on=0.5)
    with serving(app) as base, httpx.Client(base_url=base, timeout=60) as client:
        url = f"{base}/hooks/hubspot"
        body, headers = hubspot_delivery(url, [contact_event(5101)])
        with locked(store, "webhook_events"), concurrent.futures.ThreadPoolExecutor(4) as pool:
            delivery = pool.submit(_timed, lambda: client.post(url, content=body, headers=headers))
            time.sleep(0.3)  # the delivery is waiting on the store now
            health_seconds, health = _timed(lambda: client.get("/healthz"))
            delivery_seconds, answer = delivery.result()
        assert health.status_code == 200 and health_seconds < 1.0, health_seconds
        assert delivery_seconds < 5.0, delivery_seconds
        assert answer.status_code == 503, answer.text
        assert int(answer.headers["retry-after"]) > 0
        # HubSpot retries; whether the first attempt's claim finished late or not, the
        # delivery is taken once.
        deadline = time.monotonic() + 40
        while True:
            retry = client.post(url, content=body, headers=headers)
            if retry.status_code != 503 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert retry.status_code in (200, 401), retry.text
        # A first attempt whose claim committed late hands the events on from its own thread,
        # just after the commit: the retry (refused as a replay) can answer before it does.
        deadline = time.monotonic() + 10
        while not taken and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # and nothing after it: taken once
        assert len(taken) == 1 and [e.event_id for e in taken[0]] == ["5101"]


@pytest.mark.slow
def test_a_locked_table_holds_up_no_page_and_no_metrics(store: Store) -> None:
    if store.dialect == "sqlite":
        pytest.skip("SQLite's write lock does not stop readers (WAL); see the test above")
    with serving(_app(store, [])) as base, httpx.Client(base_url=base, timeout=60) as client:
        with locked(store, "handoffs"), concurrent.futures.ThreadPoolExecutor(12) as pool:
            # More waiting pages than the default thread pool has threads.
            pages = [pool.submit(_timed, lambda: client.get("/handoffs")) for _ in range(10)]
            time.sleep(0.5)
            metrics_seconds, metrics = _timed(lambda: client.get("/metrics"))
            health_seconds, _ = _timed(lambda: client.get("/healthz"))
            ready_seconds, ready = _timed(lambda: client.get("/readyz"))
            answers = [page.result() for page in pages]
        assert metrics.status_code == 200 and metrics_seconds < 1.0, metrics_seconds
        assert health_seconds < 1.0, health_seconds
        assert ready_seconds < 6.0 and ready.status_code == 200, ready.text  # SELECT 1 works
        for seconds, answer in answers:
            assert answer.status_code == 503 and seconds < 12.0, (answer.status_code, seconds)
            assert "did not answer" in answer.text
        assert client.get("/handoffs").status_code == 200  # and back once the lock is gone


@pytest.mark.slow
def test_a_standby_whose_store_probe_is_stuck_says_so_within_the_probe_deadline(
    store: Store,
) -> None:
    if store.dialect == "sqlite":
        pytest.skip("SQLite's write lock does not stop readers (WAL)")
    with serving(_app(store, [], standby=True)) as base, httpx.Client(base_url=base) as client:
        with locked(store, "runs"):
            answers = [_timed(lambda: client.get("/readyz", timeout=30)) for _ in range(3)]
            health_seconds, _ = _timed(lambda: client.get("/healthz"))
        assert health_seconds < 1.0
        for seconds, answer in answers:
            # A standby reads the leader's cycles from the runs table, which is locked.
            assert answer.status_code == 503 and seconds < 6.0, (answer.status_code, seconds)
            store_check = answer.json()["checks"]["store"]
            assert not store_check["ok"] and "did not answer within 5 s" in store_check["detail"]
        assert client.get("/readyz").json()["checks"]["store"]["ok"]
