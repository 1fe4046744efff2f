"""Fault runs against the sandbox end in the same CRM state as a fault-free run.

Each scenario writes the same outputs, owner changes and hand-off tasks to two sandboxes
generated from the same seed: one clean, one with faults injected mid-run. The engine's
behaviour is modelled by ``write_until_done``: keep what failed, retry next cycle. Afterwards
both orgs must hold the same values, every task exactly once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from connectors.salesforce.connector import SalesforceConnector
from leadsync.errors import BudgetExhausted, RetriableSyncError
from leadsync.records import OwnerChange, RecordRef, TaskRequest
from sandboxes.salesforce import SalesforceSandbox, generate_org

from .e2e_support import connector_for, lead_ids, lead_outputs, updates_for, write_until_done

LEADS = 400
DUE = datetime(2030, 1, 1, 12, tzinfo=UTC)

Inject = Callable[[SalesforceSandbox, list[str]], None]


def _run(sb: SalesforceSandbox, inject: Inject | None) -> dict[str, Any]:
    conn: SalesforceConnector = connector_for(sb, bulk_write_threshold=250)
    ids = lead_ids(sb)
    owner = next(u for u in conn.users() if u.active and not u.is_queue)
    if inject is not None:
        inject(sb, ids)
    # Collections path (200 a call), then the Bulk path (above the threshold of 250).
    write_until_done(conn, updates_for(ids[:200]))
    write_until_done(conn, updates_for(ids[:300], seed=3))
    changes = [OwnerChange(RecordRef("salesforce", "Lead", i), owner.id) for i in ids[300:320]]
    tasks = [
        TaskRequest(f"handoff:{i}", RecordRef("salesforce", "Lead", i), owner.id, "Call", "b", DUE)
        for i in ids[300:320]
    ]
    for _ in range(10):
        try:
            pending_changes = [
                c for c, o in zip(changes, conn.reassign(changes), strict=True) if not o.ok
            ]
            pending_tasks = [
                t for t, o in zip(tasks, conn.create_tasks(tasks), strict=True) if not o.ok
            ]
        except (BudgetExhausted, RetriableSyncError):
            continue
        changes, tasks = pending_changes, pending_tasks
        if not changes and not tasks:
            break
    assert not changes and not tasks
    keys = Counter(
        str(t["LeadSync_Key__c"]) for t in sb.org.records("Task") if t.get("LeadSync_Key__c")
    )
    conn.close()
    return {"leads": _by_position(sb), "tasks": sorted(keys.values()), "task_count": len(keys)}


def _by_position(sb: SalesforceSandbox) -> list[tuple[Any, ...]]:
    # The two orgs come from the same seed (same ids); compare every lead's outputs and owner.
    outputs = lead_outputs(sb)
    return [outputs[i] for i in sorted(outputs)]


def _expire(sb: SalesforceSandbox, _ids: list[str]) -> None:
    sb.inject({"kind": "expire_sessions"})


def _rate_limit(sb: SalesforceSandbox, _ids: list[str]) -> None:
    sb.inject({"kind": "rate_limit", "count": 2})


def _burst(sb: SalesforceSandbox, _ids: list[str]) -> None:
    sb.inject({"kind": "http_error", "status": 503, "count": 3})


def _locks(sb: SalesforceSandbox, _ids: list[str]) -> None:
    sb.inject({"kind": "lock_rows", "count": 25})


def _partial(sb: SalesforceSandbox, ids: list[str]) -> None:
    sb.inject(
        {
            "kind": "reject",
            "object": "Lead",
            "ids": ids[10:15],
            "code": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
            "count": 5,
        }
    )


def _everything(sb: SalesforceSandbox, ids: list[str]) -> None:
    for inject in (_expire, _rate_limit, _burst, _locks, _partial):
        inject(sb, ids)


@pytest.fixture(scope="module")
def clean() -> dict[str, Any]:
    with SalesforceSandbox(generate_org(leads=LEADS, seed=11), port=0) as sb:
        return _run(sb, None)


@pytest.mark.parametrize(
    "inject",
    [_expire, _rate_limit, _burst, _locks, _partial, _everything],
    ids=["expired_session", "rate_limit", "5xx_burst", "locked_rows", "partial", "all"],
)
def test_faulted_run_converges_to_the_clean_state(clean: dict[str, Any], inject: Inject) -> None:
    with SalesforceSandbox(generate_org(leads=LEADS, seed=11), port=0) as sb:
        faulted = _run(sb, inject)
        sb.inject({"kind": "clear"})
    assert faulted["leads"] == clean["leads"]
    assert faulted["task_count"] == clean["task_count"] == 20
    assert faulted["tasks"] == clean["tasks"]


def test_expired_session_mid_bulk_job_is_renewed() -> None:
    with SalesforceSandbox(generate_org(leads=LEADS, seed=11), port=0) as sb:
        conn = connector_for(sb, bulk_write_threshold=10)
        ids = lead_ids(sb)[:50]
        conn.users()
        sb.inject({"kind": "expire_sessions"})
        outcomes = conn.write(updates_for(ids))
        assert all(o.ok for o in outcomes)
        assert conn.usage().calls_by_endpoint.get("POST oauth2/token", 0) == 2
        conn.close()
