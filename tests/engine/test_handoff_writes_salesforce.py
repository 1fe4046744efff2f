"""Hand-offs riding in the field write against the Salesforce sandbox: the calls a cycle makes,
and hand-offs owed to a rep who is deactivated while they wait."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from leadsync.engine.request import CycleRequest
from leadsync.errors import RetriableSyncError
from leadsync.store import Store
from leadsync.store.actions import stuck_actions
from leadsync.store.schema import actions
from sandboxes.salesforce import SalesforceSandbox, generate_org
from tests.engine.test_act_salesforce import (
    ShiftedClock,
    keyed_tasks,
    make_engine,
    submit_contact_us,
)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SalesforceSandbox]:
    with SalesforceSandbox(generate_org(leads=600, seed=23), port=0) as sb:
        yield sb


def _marketing_leads(sandbox: SalesforceSandbox, n: int) -> list[dict[str, Any]]:
    found = [
        r
        for r in sandbox.org.records("Lead")
        if r.get("Email")
        and not r.get("IsConverted")
        and not r.get("Legal_Hold__c")
        and r.get("LeadSync_Team__c") == "Marketing"
        and r.get("Status") not in ("Recycled", "Nurture")
        and not keyed_tasks(sandbox, r["Id"])
    ]
    return found[:n]


class Tally:
    """Records and tasks the connector is handed, and its calls that change the org."""

    def __init__(self, connector: Any) -> None:
        self.records: set[tuple[str, str]] = set()
        self.owner_changes = 0
        self.tasks = 0
        self.enrolments = 0
        write_pages, send = connector.write_pages, connector.enrol_and_create_tasks

        def counted_pages(pages: Any) -> Any:
            def each() -> Any:
                for page in pages:
                    for update in page:
                        self.records.add((update.ref.object_type, update.ref.external_id))
                        self.owner_changes += update.owner is not None
                    yield page

            return write_pages(each())

        def counted_inserts(enrolments: Any, tasks: Any) -> Any:
            self.enrolments += len(enrolments)
            self.tasks += len(tasks)
            return send(enrolments, tasks)

        connector.write_pages, connector.enrol_and_create_tasks = counted_pages, counted_inserts


def _write_calls(by_endpoint: dict[str, int], before: dict[str, int]) -> int:
    return sum(
        n - before.get(name, 0)
        for name, n in by_endpoint.items()
        if name.startswith(("PATCH", "POST", "PUT", "DELETE")) and "oauth2" not in name
    )


def test_a_cycle_with_hand_offs_makes_the_fewest_write_calls(
    sandbox: SalesforceSandbox, tmp_path: Path
) -> None:
    """Leads and Contacts re-scored by a new model, and hand-offs in the same cycle: every
    record (owner changes included) in calls of 200, then the tasks and the campaign
    memberships of the cycle's recycles, inserted together: at most ceil(records / 200) +
    ceil((tasks + memberships) / 200) calls that change the org."""
    clock = ShiftedClock()
    engine, store = make_engine(sandbox, tmp_path, clock)
    assert engine.run(CycleRequest(full=True, no_actions=True)).status == "ok"
    store.close()
    # Same store, a slower decay: everyone engaged is re-scored up (no recycles to nurture).
    engine, store = make_engine(sandbox, tmp_path, clock, {"engagement": {"half_life_days": 90}})
    for lead in _marketing_leads(sandbox, 5):
        submit_contact_us(sandbox, lead)
    connector: Any = engine.connectors["salesforce"]
    tally = Tally(connector)
    connector.users()  # logged in outside the count
    before = dict(connector.usage().calls_by_endpoint)
    report = engine.run(CycleRequest(adopt_model=True))
    assert report.status == "ok", report.errors
    assert report.actions["handed_off"] >= 5 and tally.owner_changes >= 5
    assert {kind for kind, _ in tally.records} == {"Lead", "Contact"}
    calls = _write_calls(connector.usage().calls_by_endpoint, before)
    minimum = math.ceil(len(tally.records) / 200) + math.ceil(
        (tally.tasks + tally.enrolments) / 200
    )
    assert tally.tasks >= 5
    spent = _diff(connector.usage().calls_by_endpoint, before)
    assert calls <= minimum, (calls, len(tally.records), tally.tasks, tally.enrolments, spent)
    store.close()


def _owed_owner(store: Store) -> str:
    with store.reading() as conn:
        [payload] = conn.execute(
            sa.select(actions.c.payload).where(
                actions.c.kind == "owner", actions.c.state == "pending"
            )
        ).scalars()
    return str(payload["owner_id"])


def _fail_first_write(connector: Any) -> None:
    write_pages = connector.write_pages
    failed: list[bool] = []

    def down_once(pages: Any) -> Any:
        if not failed:
            failed.append(True)
            raise RetriableSyncError("503 Service Unavailable", connector="salesforce")
        return write_pages(pages)

    connector.write_pages = down_once


def _set_active(sandbox: SalesforceSandbox, user_id: str, active: bool) -> None:
    sandbox.org.update("User", user_id, {"IsActive": active})


def test_a_rep_deactivated_while_the_hand_off_waits_is_routed_around(
    sandbox: SalesforceSandbox, tmp_path: Path
) -> None:
    org = sandbox.org
    clock = ShiftedClock()
    engine, store = make_engine(sandbox, tmp_path, clock)
    assert engine.run(CycleRequest(full=True, no_actions=True)).status == "ok"
    [lead] = _marketing_leads(sandbox, 1)
    connector: Any = engine.connectors["salesforce"]
    _fail_first_write(connector)
    submit_contact_us(sandbox, lead)
    first = engine.run()  # routed, but the write (and the owner change in it) failed
    assert first.actions["handed_off"] == 1 and first.status != "ok"
    rep = _owed_owner(store)
    _set_active(sandbox, rep, False)
    try:
        second = engine.run()
        assert second.status == "ok", second.errors
        row = org.get("Lead", lead["Id"])
        assert row is not None
        users = {u["Id"]: u for u in org.records("User")}
        assert row["OwnerId"] != rep and users[row["OwnerId"]]["IsActive"]
        assert users[row["OwnerId"]]["Title"] == "Account Executive"
        assert row["LeadSync_Team__c"] == "Sales"
        [task] = keyed_tasks(sandbox, lead["Id"])
        assert task["OwnerId"] == row["OwnerId"]
        with store.reading() as conn:
            assert stuck_actions(conn) == []
    finally:
        _set_active(sandbox, rep, True)
        store.close()


def test_an_owner_change_the_org_refuses_keeps_its_error_and_the_values_go(
    sandbox: SalesforceSandbox, tmp_path: Path
) -> None:
    """The rep is deactivated after this cycle read the users: the org refuses the owner
    change. The record's values are still written, the owner change keeps the org's code
    and message, no task is made; the next cycle (users read again) routes around the rep."""
    org = sandbox.org
    clock = ShiftedClock()
    engine, store = make_engine(sandbox, tmp_path, clock)
    assert engine.run(CycleRequest(full=True, no_actions=True)).status == "ok"
    [lead] = _marketing_leads(sandbox, 1)
    connector: Any = engine.connectors["salesforce"]
    _fail_first_write(connector)
    submit_contact_us(sandbox, lead)
    assert engine.run().actions["handed_off"] == 1
    rep = _owed_owner(store)
    stale = connector.users()
    users_now = connector.users
    connector.users = lambda: stale
    _set_active(sandbox, rep, False)
    try:
        refused = engine.run()
        assert refused.actions["actions_rejected"] == 1, refused.actions
        row = org.get("Lead", lead["Id"])
        assert row is not None and row["OwnerId"] != rep
        assert row["LeadSync_Team__c"] == "Sales"  # the values went without the owner
        assert keyed_tasks(sandbox, lead["Id"]) == []
        with store.reading() as conn:
            [stuck] = stuck_actions(conn)
        assert stuck["kind"] == "owner" and stuck["error_code"] == "INACTIVE_OWNER_OR_USER"
        assert stuck["error_message"] == (
            f"operation performed with inactive user [{rep}] as owner of lead"
        )

        connector.users = users_now
        clock.offset += timedelta(minutes=30)  # past the refused action's back-off (doubling)
        again = engine.run()
        assert again.status == "ok", again.errors
        row = org.get("Lead", lead["Id"])
        assert row is not None and row["OwnerId"] != rep
        [task] = keyed_tasks(sandbox, lead["Id"])
        assert task["OwnerId"] == row["OwnerId"]
    finally:
        _set_active(sandbox, rep, True)
        store.close()


def _diff(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    return {k: v - b.get(k, 0) for k, v in a.items() if v - b.get(k, 0)}


def test_with_no_one_left_to_take_it_the_owner_change_waits_unsent(
    sandbox: SalesforceSandbox, tmp_path: Path
) -> None:
    """The only rep of the pool is deactivated and there is no fallback: the hand-off is
    unrouted and its owner change held back, not sent to be refused every cycle."""
    org = sandbox.org
    rep = next(
        u["Id"]
        for u in org.records("User")
        if u.get("IsActive") and u.get("Title") == "Account Executive"
    )
    handoff = {
        "enabled": True,
        "owner_status": "Working - Contacted",
        "keep_active_owner": False,
        "match_accounts": False,
        "pools": [{"name": "AEs", "members": [rep]}],
    }
    clock = ShiftedClock()
    engine, store = make_engine(sandbox, tmp_path, clock, {"handoff": handoff})
    assert engine.run(CycleRequest(full=True, no_actions=True)).status == "ok"
    [lead] = _marketing_leads(sandbox, 1)
    _fail_first_write(engine.connectors["salesforce"])
    submit_contact_us(sandbox, lead)
    assert engine.run().actions["handed_off"] == 1
    assert _owed_owner(store) == rep
    _set_active(sandbox, rep, False)
    try:
        second = engine.run()
        assert second.status == "ok", second.errors
        assert second.actions["unrouted"] == 1 and second.actions["actions_rejected"] == 0
        row = org.get("Lead", lead["Id"])
        assert row is not None and row["OwnerId"] != rep
        assert row["LeadSync_Team__c"] == "Sales"
        with store.reading() as conn:
            assert stuck_actions(conn) == []
    finally:
        _set_active(sandbox, rep, True)
        store.close()
