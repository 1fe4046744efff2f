"""Every fault at every step, for both connectors, over real HTTP(S) through the real client
libraries against the sandboxes.

Socket-level faults (a refused connection, a host that accepts and never answers) come from a
TCP proxy in front of each sandbox (``tests/netfaults.py``); HTTP faults from the sandboxes'
``POST /_sandbox/faults``. For each (connector, step, fault) the call either succeeds after
the one retry loop, or raises a typed ``SyncError`` (never a requests, urllib3,
simple-salesforce or hubspot exception), and either way within a bounded time: the wall time
plus the backoff the connector asked to sleep (recorded, not slept, so the module stays fast).
Timeouts are lowered through the settings.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connectors.hubspot.connector import HubSpotConnector
from connectors.hubspot.mapping import load_mapping as load_hubspot_mapping
from connectors.hubspot.settings import HubSpotSettings
from connectors.salesforce.connector import SalesforceConnector
from connectors.salesforce.mapping import load_mapping as load_salesforce_mapping
from connectors.salesforce.settings import SalesforceSettings
from leadsync.errors import AuthError, FatalSyncError, RetriableSyncError, SyncError
from leadsync.records import Enrolment, OwnerChange, RecordRef, RecordUpdate, TaskRequest
from mappings import default_mapping_path
from sandboxes.hubspot import HubSpotSandbox, generate_portal
from sandboxes.salesforce import SalesforceSandbox, generate_org
from sandboxes.salesforce.faults import TOKEN_ENDPOINT
from tests.netfaults import FaultProxy

CONNECT_TIMEOUT = 0.5
READ_TIMEOUT = 2.0
MAX_RETRIES = 2
CONNECT_RETRIES = 2
#: No call, faulted or not, may take longer than this (wall time plus requested backoff).
BOUND = 20.0


class Sleeps(list[float]):
    """Records the backoff a connector asks for instead of sleeping it."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@dataclass
class Rig:
    """One sandbox behind a fault proxy, and how to make a fresh connector against it."""

    name: str
    proxy: FaultProxy
    make: Callable[[Sleeps], Any]
    inject: Callable[[dict[str, Any]], Any]
    people: list[RecordRef]
    owner: str
    target: str  # a campaign (Salesforce) or list (HubSpot) to enrol into
    sleeps: Sleeps = field(default_factory=Sleeps)


@pytest.fixture(scope="module")
def salesforce() -> Iterator[Rig]:
    with SalesforceSandbox(generate_org(leads=30, seed=5), port=0) as sb:
        proxy = FaultProxy(sb.port)
        url = f"https://127.0.0.1:{proxy.port}"
        sb.api.base_url = url  # tokens name the proxy as the instance
        settings = SalesforceSettings(
            login_url=url,
            client_id=sb.client_id,
            client_secret=sb.client_secret,
            ca_bundle=sb.ca_file,
            max_retries=MAX_RETRIES,
            connect_retries=CONNECT_RETRIES,
            connect_timeout_seconds=CONNECT_TIMEOUT,
            timeout_seconds=READ_TIMEOUT,
            api_reserve=0,
            bulk_query_threshold=100_000,
        )
        leads = [
            RecordRef("salesforce", "Lead", str(r["Id"]))
            for r in sb.org.records("Lead")
            if not r.get("IsConverted") and not r.get("Legal_Hold__c")
        ]
        owner = next(str(u["Id"]) for u in sb.org.records("User") if u.get("IsActive"))
        yield Rig(
            "salesforce",
            proxy,
            lambda sleeps: SalesforceConnector(
                "salesforce", settings, load_salesforce_mapping(), sleep=sleeps
            ),
            sb.inject,
            leads[:3],
            owner,
            str(sb.org.nurture_campaign_id),
        )
        proxy.close()


@pytest.fixture(scope="module")
def hubspot() -> Iterator[Rig]:
    portal = generate_portal(contacts=30, seed=5)
    sandbox = HubSpotSandbox(
        portal, port=0, tls=True, rate_limit_per_10s=100_000, search_rate_per_s=1_000
    )
    with sandbox as sb:
        proxy = FaultProxy(int(sb.url.rsplit(":", 1)[1]))
        settings = HubSpotSettings(
            base_url=f"https://localhost:{proxy.port}",
            access_token=sb.access_token,
            ca_bundle=sb.ca_file,
            max_retries=MAX_RETRIES,
            connect_retries=CONNECT_RETRIES,
            connect_timeout_seconds=CONNECT_TIMEOUT,
            timeout_seconds=READ_TIMEOUT,
            api_reserve=0,
            requests_per_10s=100_000,
            search_requests_per_second=1_000.0,
        )
        mapping = load_hubspot_mapping(default_mapping_path("hubspot"))
        contacts = [RecordRef("hubspot", "contact", str(c.id)) for c in portal.live("contacts")]
        owner = next(o.id for o in portal.owners.values() if not o.archived)
        yield Rig(
            "hubspot",
            proxy,
            lambda sleeps: HubSpotConnector("hubspot", settings, mapping, sleep=sleeps),
            sb.inject,
            contacts[:3],
            str(owner),
            str(portal.nurture_list_id),
        )
        proxy.close()


# -- steps: each answers whether the call did what it should --------------------------------

DUE = datetime.now(UTC) + timedelta(days=1)


def _auth(conn: Any, rig: Rig) -> bool:
    return conn.client.sf is not None


def _pull_people(conn: Any, rig: Rig) -> bool:
    return len(list(conn.pull_people(None))) > 0


def _pull_activities(conn: Any, rig: Rig) -> bool:
    return len(list(conn.pull_activities(None))) > 0


def _write(conn: Any, rig: Rig) -> bool:
    updates = [RecordUpdate(ref, {"score": 42.0, "fit": "good"}) for ref in rig.people]
    return all(o.ok for o in conn.write(updates))


def _reassign(conn: Any, rig: Rig) -> bool:
    return all(o.ok for o in conn.reassign([OwnerChange(r, rig.owner) for r in rig.people]))


def _create_task(conn: Any, rig: Rig) -> bool:
    key = f"failfast:{uuid.uuid4().hex[:12]}"
    task = TaskRequest(key, rig.people[0], rig.owner, "LeadSync: call", "why", DUE)
    return all(o.ok for o in conn.create_tasks([task]))


def _enrol(conn: Any, rig: Rig) -> bool:
    return all(o.ok for o in conn.enrol([Enrolment(r, rig.target) for r in rig.people]))


def _users(conn: Any, rig: Rig) -> bool:
    return len(conn.users()) > 0


def _describe(conn: Any, rig: Rig) -> bool:
    return len(conn.describe()) > 0


STEPS: dict[str, Callable[[Any, Rig], bool]] = {
    "auth": _auth,
    "pull_people": _pull_people,
    "pull_activities": _pull_activities,
    "write": _write,
    "reassign": _reassign,
    "create_task": _create_task,
    "enrol": _enrol,
    "users": _users,
    "describe": _describe,
}
FAULTS = ("refused", "silent", "500", "503", "429", "expired", "locked", "down")


def _arm(rig: Rig, step: str, fault: str) -> None:
    """Arm ``fault`` so that it hits ``step``'s first call."""
    token = {"endpoint": TOKEN_ENDPOINT} if step == "auth" else {}
    if fault == "refused":
        rig.proxy.mode("refuse")
    elif fault == "silent":
        rig.proxy.mode("silent")
    elif fault in ("500", "503"):
        rig.inject({"kind": "http_error", "status": int(fault), "count": 1, **token})
    elif fault == "down":  # a 500 that outlasts every retry
        rig.inject({"kind": "http_error", "status": 500, "count": 1_000, **token})
    elif fault == "429" and rig.name == "hubspot":
        rig.inject({"kind": "rate_limit", "count": 1, "retry_after": 1.5})
    elif fault == "429":
        # Throttling in front of the org (an edge proxy), not the org's daily allowance.
        spec = {"kind": "http_error", "status": 429, "code": "TOO_MANY_REQUESTS"}
        rig.inject({**spec, "retry_after": 1.5, "count": 1, **token})
    elif fault == "expired" and rig.name == "hubspot":
        rig.inject({"kind": "expire_token", "count": 1})
    elif fault == "expired":
        rig.inject({"kind": "expire_sessions"})
    elif fault == "locked" and rig.name == "hubspot":
        rig.inject({"kind": "http_error", "status": 423, "category": "LOCKED", "count": 1})
    elif fault == "locked":
        rig.inject({"kind": "lock_rows", "count": 2})


CASES = [
    pytest.param(crm, step, fault, id=f"{crm}-{step}-{fault}")
    for crm in ("salesforce", "hubspot")
    for step in STEPS
    if not (crm == "hubspot" and step == "auth")  # a private-app token makes no auth call
    for fault in FAULTS
]


@pytest.mark.parametrize(("crm", "step", "fault"), CASES)
def test_every_fault_at_every_step(
    crm: str, step: str, fault: str, request: pytest.FixtureRequest
) -> None:
    rig: Rig = request.getfixturevalue(crm)
    sleeps = Sleeps()
    conn = rig.make(sleeps)
    try:
        if step != "auth" and crm == "salesforce":
            conn.client.sf  # noqa: B018 - logged in, so the fault hits the step's own call
        _arm(rig, step, fault)
        started = time.monotonic()
        outcome: bool | SyncError
        try:
            outcome = STEPS[step](conn, rig)
        except SyncError as exc:
            outcome = exc
        wall = time.monotonic() - started
        connections = rig.proxy.accepted
    finally:
        rig.proxy.mode("pass")
        rig.inject({"kind": "clear"})
        conn.close()
    taken = wall + sum(sleeps)
    assert taken < BOUND, (taken, sleeps)
    _expect(rig, step, fault, outcome, wall, sleeps)
    if fault == "silent":
        assert connections == 1  # no second connection: a timeout is not retried


def _expect(
    rig: Rig, step: str, fault: str, outcome: bool | SyncError, wall: float, sleeps: Sleeps
) -> None:
    if fault in ("refused", "silent", "down"):
        assert isinstance(outcome, RetriableSyncError), outcome
        if fault == "refused":
            # Two quick retries a moment apart, then the host and what to check.
            assert len(sleeps) == CONNECT_RETRIES and wall + sum(sleeps) < 3.0, sleeps
            assert f":{rig.proxy.port} " in str(outcome) and "check" in str(outcome)
        elif fault == "silent":
            # One connect timeout (TCP up, TLS handshake never answered), no retry.
            assert sleeps == [] and wall < CONNECT_TIMEOUT + 1.5, wall
            assert "did not answer in time" in str(outcome)
        else:
            assert outcome.status == 500 and len(sleeps) == MAX_RETRIES, sleeps
        return
    if fault == "expired" and rig.name == "hubspot":
        # A private-app token is not renewable: say so, at once, without retrying.
        assert isinstance(outcome, AuthError) and "access_token" in str(outcome), outcome
        assert sleeps == []
        return
    assert outcome is True, outcome
    if fault in ("500", "503"):
        assert len(sleeps) == 1, sleeps
    elif fault == "429":
        assert sleeps == [1.5]
    elif fault == "locked" and rig.name == "hubspot":
        assert len(sleeps) == 1 and sleeps[0] >= 2.0, sleeps  # HubSpot's lock lasts 2 s
    elif fault == "locked" and step in ("write", "reassign"):
        # The sandbox locks rows of updates: the locked records alone were re-sent.
        assert len(sleeps) >= 1, sleeps
    else:
        assert sleeps == [], sleeps


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
@pytest.mark.parametrize("step", ["users", "write"])
def test_a_slow_answer_costs_one_read_timeout_and_is_not_retried_in_the_call(
    crm: str, step: str, request: pytest.FixtureRequest
) -> None:
    rig: Rig = request.getfixturevalue(crm)
    sleeps = Sleeps()
    conn = rig.make(sleeps)
    try:
        if crm == "salesforce":
            conn.client.sf  # noqa: B018
        rig.inject({"kind": "delay", "seconds": READ_TIMEOUT + 1.0, "count": 1})
        started = time.monotonic()
        with pytest.raises(RetriableSyncError, match="did not answer in time"):
            STEPS[step](conn, rig)
        wall = time.monotonic() - started
    finally:
        rig.inject({"kind": "clear"})
        conn.close()
    assert sleeps == [] and READ_TIMEOUT <= wall < READ_TIMEOUT + 1.5, wall


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_an_unreachable_host_is_not_called_again_for_the_rest_of_the_cycle(
    crm: str, request: pytest.FixtureRequest
) -> None:
    rig: Rig = request.getfixturevalue(crm)
    sleeps = Sleeps()
    conn = rig.make(sleeps)
    try:
        rig.proxy.mode("silent")
        with pytest.raises(RetriableSyncError):
            list(conn.pull_people(None))
        started = time.monotonic()
        for step in ("write", "reassign", "create_task", "enrol", "users"):
            with pytest.raises(RetriableSyncError, match="did not answer in time"):
                STEPS[step](conn, rig)
        assert time.monotonic() - started < 0.5
        assert rig.proxy.accepted == 1  # only the first call tried the host
    finally:
        rig.proxy.mode("pass")
        conn.close()


def test_a_bad_certificate_is_fatal_and_names_ca_bundle(salesforce: Rig) -> None:
    conn = SalesforceConnector(
        "salesforce",
        SalesforceSettings(
            login_url=f"https://127.0.0.1:{salesforce.proxy.port}",
            client_id="x",
            client_secret="y",
            connect_timeout_seconds=CONNECT_TIMEOUT,
        ),
        load_salesforce_mapping(),
        sleep=Sleeps(),
    )
    with pytest.raises(FatalSyncError, match="ca_bundle"):
        conn.users()
    conn.close()
