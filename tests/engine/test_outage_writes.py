"""A CRM outage during the write step is not a record rejection.

A whole write call that fails (the CRM refuses connections, stops answering, answers 5xx
past the retries) says nothing about any record: the connector raises, the engine keeps
every write owed, due, with its attempts untouched. A record the CRM did answer about (a
rejection) still spends one of its ``max_write_attempts``. Both connectors, over real HTTP(S)
through their client libraries, behind a socket-level fault proxy.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from connectors.hubspot import client as hs_client
from connectors.salesforce import http as sf_http
from leadsync.config import settings_from_dict
from leadsync.engine.cycle import SyncEngine
from leadsync.store import Store
from leadsync.store.schema import crm_records, pending_writes
from leadsync.wiring import build_connectors, build_engine
from sandboxes.hubspot import HubSpotSandbox, generate_portal
from sandboxes.salesforce import SalesforceSandbox, generate_org
from tests.netfaults import FaultProxy, Mode

FAST = {"connect_timeout_seconds": 0.5, "timeout_seconds": 5.0, "max_retries": 2}
#: A running sandbox and the connector section pointing at its proxy; closing stops it.
Sandboxed = Generator[tuple[Any, dict[str, Any]], None, None]


def _sandbox_salesforce(proxy_for: Callable[[int], FaultProxy]) -> Sandboxed:
    with SalesforceSandbox(generate_org(leads=40, seed=21), port=0) as sb:
        proxy = proxy_for(sb.port)
        sb.api.base_url = f"https://127.0.0.1:{proxy.port}"
        section = {
            "login_url": sb.api.base_url,
            "client_id": sb.client_id,
            "client_secret": sb.client_secret,
            "ca_bundle": sb.ca_file,
            "api_reserve": 0,
            **FAST,
        }
        yield sb, section


def _sandbox_hubspot(proxy_for: Callable[[int], FaultProxy]) -> Sandboxed:
    portal = generate_portal(contacts=40, seed=21, now=datetime.now(UTC))
    with HubSpotSandbox(portal, port=0, rate_limit_per_10s=100_000, search_rate_per_s=1_000) as sb:
        proxy = proxy_for(int(sb.url.rsplit(":", 1)[1]))
        section = {
            "base_url": f"http://127.0.0.1:{proxy.port}",
            "access_token": sb.access_token,
            "api_reserve": 0,
            "requests_per_10s": 100_000,
            "search_requests_per_second": 1_000.0,
            **FAST,
        }
        yield sb, section


SANDBOXES = {"salesforce": _sandbox_salesforce, "hubspot": _sandbox_hubspot}


class World:
    def __init__(self, crm: str, tmp_path: Path) -> None:
        self.crm = crm
        self.tmp_path = tmp_path
        self.proxy: FaultProxy | None = None
        self._sandbox = SANDBOXES[crm](self._proxy)
        self.sb, section = next(self._sandbox)
        data = {
            "store": {"url": f"sqlite:///{tmp_path / 'state.db'}"},
            "connectors": {crm: section},
            "identity": {"fit_source": crm},
            "sync": {"max_write_attempts": 3},
        }
        self.settings = settings_from_dict(data, "test")
        self.store = Store(self.settings.store.url)
        self.engine: SyncEngine = build_engine(
            self.settings, self.store, build_connectors(self.settings)
        )

    def _proxy(self, port: int) -> FaultProxy:
        self.proxy = FaultProxy(port)
        return self.proxy

    def fault_during_writes(self, mode: Mode) -> None:
        """From the next cycle's write step on, the CRM fails at the socket (its pulls went
        through)."""
        connector = self.engine.connectors[self.crm]
        send = type(connector).write_pages.__get__(connector)
        proxy = self.proxy
        assert proxy is not None
        proxy.mode("pass")

        def failing(pages: Any) -> Any:
            proxy.mode(mode)
            return send(pages)

        connector.write_pages = failing  # type: ignore[method-assign]

    def owed(self) -> dict[str, dict[str, Any]]:
        """Every write still owed, by the CRM id of its record."""
        query = sa.select(
            crm_records.c.external_id,
            pending_writes.c.attempts,
            pending_writes.c.state,
            pending_writes.c.next_attempt_at,
            pending_writes.c.error_code,
        ).join(crm_records, crm_records.c.id == pending_writes.c.record_id)
        with self.store.reading() as conn:
            return {str(row[0]): dict(row._mapping) for row in conn.execute(query)}

    def close(self) -> None:
        for connector in self.engine.connectors.values():
            connector.close()
        self.store.close()
        assert self.proxy is not None
        self.proxy.close()
        self._sandbox.close()


@pytest.fixture(params=["salesforce", "hubspot"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    built = World(request.param, tmp_path)
    yield built
    built.close()


@pytest.mark.parametrize("mode", ["refuse", "silent"])
def test_an_outage_during_writes_keeps_every_write_owed_without_spending_attempts(
    world: World, mode: Mode
) -> None:
    world.fault_during_writes(mode)
    report = world.engine.run()
    # its only connector failed to write: the cycle failed, naming it (no writes, no attempts)
    assert report.status == "failed" and list(report.failed_connectors) == [world.crm]
    assert not report.written and not report.rejected and not report.parked
    (error,) = report.errors
    assert f":{world.proxy.port}" in error and "check" in error  # type: ignore[union-attr]

    owed = world.owed()
    assert len(owed) >= 20
    later = datetime.now(UTC) + timedelta(seconds=1)
    for write in owed.values():
        assert write["attempts"] == 0 and write["state"] == "pending", write
        assert write["error_code"] is None, write
        assert write["next_attempt_at"] <= later, write  # still due: the next cycle sends it


def test_a_record_rejection_still_spends_an_attempt(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The next cycle comes at once here, not minutes later: do not hold the host as down.
    monkeypatch.setattr(sf_http, "UNREACHABLE_HOLD_SECONDS", 0.0)
    monkeypatch.setattr(hs_client, "UNREACHABLE_HOLD_SECONDS", 0.0)
    world.fault_during_writes("refuse")
    world.engine.run()
    owed = world.owed()
    if world.crm == "salesforce":
        writable = {
            str(r["Id"])
            for r in world.sb.org.records("Lead")
            if not r.get("IsConverted") and not r.get("Legal_Hold__c")
        }
        rejected = sorted(set(owed) & writable)[:2]
        world.sb.inject({"kind": "reject", "object": "Lead", "ids": rejected, "count": 2})
    else:
        rejected = sorted(owed)[:2]
        world.sb.inject({"kind": "reject", "ids": rejected, "count": 2})
    world.fault_during_writes("pass")
    report = world.engine.run()
    assert report.status == "ok", report.errors
    assert report.written[world.crm] >= 20
    left = world.owed()
    # The org's own validation rule may refuse a few more; each refusal costs one attempt.
    assert set(rejected) <= set(left) and report.rejected == {world.crm: len(left)}
    assert all(w["attempts"] == 1 and w["error_code"] for w in left.values()), left
