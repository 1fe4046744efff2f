"""HubSpot as the sales CRM, through hubspot-api-client against the HubSpot sandbox.

A form submission hands the contact to a rep (``hubspot_owner_id``, lead status, one task
associated with the contact); sales marks the lead unqualified and it returns to the nurture
owner and list.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from leadsync.config import settings_from_dict
from leadsync.engine.request import CycleRequest
from leadsync.store import Store
from leadsync.wiring import build_connectors, build_engine
from sandboxes.hubspot import HubSpotSandbox, generate_portal


@pytest.fixture(scope="module")
def sandbox() -> Iterator[HubSpotSandbox]:
    portal = generate_portal(contacts=250, seed=13, now=datetime.now(UTC))
    with HubSpotSandbox(portal, port=0) as sb:
        yield sb


def contact(sb: HubSpotSandbox, contact_id: int) -> dict[str, Any]:
    found = sb.portal.get("contacts", contact_id)
    assert found is not None
    return dict(found.properties)


def test_hand_off_and_recycle_in_hubspot(sandbox: HubSpotSandbox, tmp_path: Path) -> None:
    portal = sandbox.portal
    reps = sorted(o.id for o in portal.owners.values() if not o.archived)[:3]
    nurture_owner = str(portal.nurture_owner_id)
    data: dict[str, Any] = {
        "store": {"url": f"sqlite:///{tmp_path / 'state.db'}"},
        "connectors": {"hubspot": {"base_url": sandbox.url, "access_token": sandbox.access_token}},
        "identity": {"sales_crm": "hubspot"},
        "handoff": {
            "enabled": True,
            "owner_status": "IN_PROGRESS",
            "keep_active_owner": False,
            "match_accounts": False,
            "pools": [{"name": "Reps", "members": [r for r in reps if r != nurture_owner]}],
        },
        "recycle": {
            "statuses": ["UNQUALIFIED"],
            "nurture_owner": nurture_owner,
            "nurture_status": "OPEN",
            "nurture_list": portal.nurture_list_id,
        },
    }
    settings = settings_from_dict(data, "test")
    store = Store(settings.store.url)
    engine = build_engine(settings, store, build_connectors(settings))
    first = engine.run(CycleRequest(no_actions=True))
    assert first.status == "ok", first.errors

    marketing = [
        c
        for c in portal.live("contacts")
        if c.properties.get("leadsync_team") == "marketing"
        and c.properties.get("email")
        and c.properties.get("hs_lead_status") != "UNQUALIFIED"
    ]
    target = marketing[0]
    form = next(g for g, f in portal.forms.items() if "contact" in f.name.lower())
    portal.add_form_submission(form, {"email": target.properties["email"]})
    handed = engine.run()
    assert handed.status == "ok", handed.errors
    assert handed.actions["handed_off"] == 1, handed.actions
    props = contact(sandbox, target.id)
    assert props["hubspot_owner_id"] in reps and props["hs_lead_status"] == "IN_PROGRESS"
    tasks = [
        t
        for t in portal.live("tasks")
        if target.id in portal.associated("tasks", t.id, "contacts")
        and str(t.properties.get("hs_task_subject", "")).startswith("LeadSync:")
    ]
    assert len(tasks) == 1
    assert tasks[0].properties["hubspot_owner_id"] == props["hubspot_owner_id"]
    assert tasks[0].properties.get("hs_task_priority") == "HIGH"

    assert engine.run().actions["handed_off"] == 0  # nothing new: no second task

    portal.update("contacts", target.id, {"hs_lead_status": "UNQUALIFIED"})
    recycled = engine.run()
    assert recycled.actions["recycled"] == 1, recycled.actions
    props = contact(sandbox, target.id)
    assert props["hubspot_owner_id"] == nurture_owner and props["hs_lead_status"] == "OPEN"
    assert target.id in portal.lists[str(portal.nurture_list_id)].members
    assert props["leadsync_recycle_count"] in ("1", 1)
    store.close()


def test_check_targets_names_unknown_statuses_and_lists(sandbox: HubSpotSandbox) -> None:
    settings = settings_from_dict(
        {
            "connectors": {
                "hubspot": {"base_url": sandbox.url, "access_token": sandbox.access_token}
            }
        },
        "test",
    )
    connector = build_connectors(settings)["hubspot"]
    nurture = str(sandbox.portal.nurture_list_id)
    problems = [
        str(p) for p in connector.check_targets(["IN_PROGRESS", "Parked"], [], [nurture, "987654"])
    ]
    connector.close()
    assert len(problems) == 2, problems
    assert problems[0].startswith("contact.hs_lead_status: LeadSync sets status 'Parked'")
    assert problems[1].startswith("list.987654: no list with this id")
