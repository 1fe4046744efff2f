"""Mixed-object writes against the sandbox: calls filled to 200 whatever the object, owner
changes of Leads and Contacts in any order within the ten-chunk limit."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest

from leadsync.records import OwnerChange, RecordRef, RecordUpdate
from sandboxes.salesforce import SalesforceSandbox, generate_org

from .e2e_support import connector_for, lead_ids


@pytest.fixture(scope="module")
def sb() -> Iterator[SalesforceSandbox]:
    with SalesforceSandbox(generate_org(leads=1500, seed=3), port=0) as sandbox:
        yield sandbox


def _contact_ids(sb: SalesforceSandbox) -> list[str]:
    return sorted(str(r["Id"]) for r in sb.org.records("Contact"))


def _write_calls(before: dict[str, int], after: dict[str, int]) -> int:
    return sum(n - before.get(k, 0) for k, n in after.items() if "composite/sobjects" in k)


def test_leads_and_contacts_fill_the_same_calls(sb: SalesforceSandbox) -> None:
    """1,300 Leads and 300 Contacts were 7 + 2 calls; 8 suffice, and 8 are made."""
    leads, contacts = lead_ids(sb)[:1300], _contact_ids(sb)[:300]
    assert (len(leads), len(contacts)) == (1300, 300)
    updates = [RecordUpdate(RecordRef("salesforce", "Lead", i), {"score": 41}) for i in leads]
    updates += [
        RecordUpdate(RecordRef("salesforce", "Contact", i), {"score": 42}) for i in contacts
    ]
    conn = connector_for(sb)
    conn.users()
    before = dict(conn.usage().calls_by_endpoint)
    outcomes = conn.write(updates)
    assert all(o.ok for o in outcomes), [o.error for o in outcomes if not o.ok][:3]
    calls = _write_calls(before, conn.usage().calls_by_endpoint)
    assert calls == math.ceil(len(updates) / 200) == 8
    assert sb.org.get("Contact", contacts[-1])["LeadSync_Score__c"] == 42  # type: ignore[index]
    conn.close()


def test_owner_changes_in_any_order_stay_within_ten_chunks(sb: SalesforceSandbox) -> None:
    """Hand-offs of Leads and Contacts queue in any order; sent as queued, twelve
    alternating records are twelve chunks, which an org refuses whole."""
    rep = next(
        u["Id"]
        for u in sb.org.records("User")
        if u["IsActive"] and u.get("Title") == "Account Executive"
    )
    leads, contacts = lead_ids(sb)[1300:1306], _contact_ids(sb)[300:306]
    changes = []
    for lead, contact in zip(leads, contacts, strict=True):
        changes.append(OwnerChange(RecordRef("salesforce", "Lead", lead), rep, None))
        changes.append(OwnerChange(RecordRef("salesforce", "Contact", contact), rep, None))
    conn = connector_for(sb)
    outcomes = conn.reassign(changes)
    assert all(o.ok for o in outcomes), [o.error for o in outcomes if not o.ok][:3]
    assert {sb.org.get(c.ref.object_type, c.ref.external_id)["OwnerId"] for c in changes} == {  # type: ignore[index]
        rep
    }
    conn.close()
