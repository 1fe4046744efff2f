"""Issue 22 #5: whatever a run warns about in the mapping or the org, ``check`` reports first.

A run over both sandboxes with deliberately incomplete mappings (no Contact status field, a
HubSpot output left unmapped, value tables naming options the portal lacks) logs warnings; every
one of them must match a problem ``check`` reports, by connector, object and field.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from leadsync.cli.checking import find_problems
from leadsync.config import settings_from_dict
from leadsync.config.loading import read_toml
from leadsync.engine.request import CycleRequest
from leadsync.records import CheckProblem
from leadsync.sandboxes import Sandboxes, running_sandboxes
from leadsync.store import Store
from leadsync.wiring import build_connectors, build_engine
from mappings import default_mapping_path

#: Warnings about something other than the mapping or the org: the store, the clock, the
#: network, the model. ``check`` cannot foresee these, and they are not asked of it.
NOT_ABOUT_THE_MAPPING = frozenset(
    {
        "sync.people_waiting",
        "sync.model_changed",
        "salesforce.retry",
        "hubspot.retry",
        "salesforce.collections.transient",
        "salesforce.pull.cursor_ahead",
        "handoff.sla_breached",
    }
)
#: Refusals of one record for its own data (a validation rule, a deleted record): the mapping
#: and the org's schema are fine; ``leadsync status`` lists them per record.
RECORD_REFUSALS = frozenset({"FIELD_CUSTOM_VALIDATION_EXCEPTION", "ENTITY_IS_DELETED"})


@pytest.fixture(scope="module")
def sandboxes() -> Iterator[Sandboxes]:
    with running_sandboxes(leads=150, seed=31) as sb:
        yield sb


def holed_config(sandboxes: Sandboxes, folder: Path, hole: str) -> dict[str, Any]:
    """The sandboxes' config over the shipped mappings, with one hole an admin could leave."""
    data = sandboxes.config_data(f"sqlite:///{folder / 'state.db'}")
    salesforce = default_mapping_path("salesforce").read_text()
    hubspot = default_mapping_path("hubspot").read_text()
    if hole == "contact status unmapped":  # contacts have no standard status: forgotten
        salesforce = re.sub(r'(?m)^status = "Contact_Status__c"\n', "", salesforce)
    elif hole == "hubspot output unmapped":
        hubspot = re.sub(r"\[outputs\.reason\]\n(?:[^\[\n][^\n]*\n)*", "", hubspot)
    elif hole == "hubspot options of another portal":
        hubspot = hubspot.replace('good = { value = "good", label = "Good" }', 'good = "Good"')
    elif hole == "status not a picklist value":
        data["handoff"]["owner_status"] = "Working"
    for name, text in (("salesforce", salesforce), ("hubspot", hubspot)):
        path = folder / f"{name}.toml"
        path.write_text(text)
        data["connectors"][name]["mapping"] = str(path)
    return data


def run_warnings(sandboxes: Sandboxes, data: dict[str, Any]) -> list[dict[str, Any]]:
    """The warnings of a backfill and of a cycle that hands off a lead and a contact."""
    settings = settings_from_dict(data, "test")
    store = Store(settings.store.url)
    engine = build_engine(settings, store, build_connectors(settings))
    org = sandboxes.salesforce.org
    with capture_logs() as logs:
        engine.run(CycleRequest(full=True, no_actions=True))
        for sobject, link in (("Lead", "Lead__c"), ("Contact", "Contact__c")):
            person = next(
                r
                for r in org.records(sobject)
                if r.get("Email")
                and not r.get("IsConverted")
                and r.get("LeadSync_Team__c") == "Marketing"
            )
            org.insert(
                "Form_Submission__c",
                {
                    link: person["Id"],
                    "Form_Name__c": "Contact Us",
                    "Email__c": person["Email"],
                    "Submitted_At__c": datetime.now(UTC),
                },
            )
        engine.run()
    store.close()
    return [e for e in logs if e["log_level"] in ("warning", "error", "critical")]


def reported(warning: Mapping[str, Any], problems: Mapping[str, Sequence[CheckProblem]]) -> bool:
    """Whether a check problem names what the warning is about: its connector, object, field."""
    event = warning["event"]
    if event == "salesforce.reassign.status_unmapped":
        return any(
            p.object_type == warning["object"] and p.field == "status"
            for p in problems["salesforce"]
        )
    connector = str(warning.get("connector"))
    _, object_type, _ = str(warning.get("record", "::")).split(":", 2)
    message = str(warning.get("message", ""))
    unmapped = re.search(r"output '(\w+)' has no \[outputs", message)
    if unmapped:
        return any(p.field == f"[outputs.{unmapped[1]}]" for p in problems[connector])
    fields = set(warning.get("fields") or [])
    # ``handoff.action_rejected`` logs no fields: Salesforce's message ends with the bad value.
    value = repr(message.rsplit(": ", 1)[-1])
    return any(
        p.object_type.lower() == object_type.lower()
        and (p.field in fields or p.field in message or value in p.problem)
        for p in problems[connector]
    )


HOLES = {
    "contact status unmapped": ("salesforce.reassign.status_unmapped", None),
    "hubspot output unmapped": ("sync.rejected", "UNMAPPED_OUTPUT"),
    "hubspot options of another portal": ("sync.rejected", "VALIDATION_ERROR"),
    "status not a picklist value": ("handoff.action_rejected", None),
}


@pytest.mark.parametrize("hole", list(HOLES))
def test_check_reports_every_warning_the_run_logs_about_the_mapping(
    sandboxes: Sandboxes, tmp_path: Path, hole: str
) -> None:
    data = holed_config(sandboxes, tmp_path, hole)
    warnings = run_warnings(sandboxes, data)
    about_mapping = [
        w
        for w in warnings
        if w["event"] not in NOT_ABOUT_THE_MAPPING and w.get("code") not in RECORD_REFUSALS
    ]
    event, code = HOLES[hole]
    # The hole shows in the run ...
    assert any(
        w["event"] == event and (code is None or w.get("code") == code) for w in about_mapping
    ), about_mapping
    settings = settings_from_dict(data, "test")
    connectors = build_connectors(settings)
    try:
        problems = find_problems(settings, connectors)
    finally:
        for connector in connectors.values():
            connector.close()
    # ... and check reported it, and everything else the run warned about, first.
    missed = [w for w in about_mapping if not reported(w, problems)]
    assert missed == [], (missed[:3], problems)


def test_shipped_mappings_and_the_sandbox_config_check_clean(
    sandboxes: Sandboxes, tmp_path: Path
) -> None:
    data = sandboxes.config_data(f"sqlite:///{tmp_path / 'state.db'}")
    settings = settings_from_dict(data, "test")
    connectors = build_connectors(settings)
    try:
        problems = find_problems(settings, connectors)
    finally:
        for connector in connectors.values():
            connector.close()
    assert problems == {"salesforce": [], "hubspot": []}


def test_the_example_config_checks_clean_against_the_sandboxes(
    sandboxes: Sandboxes, tmp_path: Path
) -> None:
    """config.example.toml as shipped, its ids (owners, campaigns, lists) swapped for the
    sandboxes' own: its statuses and the shipped mappings fit a default org."""
    example = read_toml(Path(__file__).resolve().parents[2] / "config.example.toml")
    sandbox = sandboxes.config_data(f"sqlite:///{tmp_path / 'state.db'}")
    org, portal = sandboxes.salesforce.org, sandboxes.hubspot.portal
    reps = sandbox["handoff"]["pools"][0]["members"]
    campaign, nurture_list = org.nurture_campaign_id, str(portal.nurture_list_id)
    data = {k: v for k, v in example.items() if k != "service"}
    data["store"], data["connectors"] = sandbox["store"], sandbox["connectors"]
    handoff = data["handoff"]
    handoff["fallback_owner"] = org.assignment_queue_id
    handoff["pools"] = [{**pool, "members": reps[:1], "weights": [1]} for pool in handoff["pools"]]
    handoff["rep_hours"] = {reps[0]: next(iter(handoff["rep_hours"].values()))}
    data["recycle"] |= {
        "nurture_owner": org.nurture_queue_id,
        "nurture_campaign": campaign,
        "nurture_list": nurture_list,
    }
    data["nurture"]["enrol"] = [
        {**e, "campaign": campaign, "list": nurture_list} for e in data["nurture"]["enrol"]
    ]
    settings = settings_from_dict(data, "config.example.toml")
    connectors = build_connectors(settings)
    try:
        problems = find_problems(settings, connectors)
    finally:
        for connector in connectors.values():
            connector.close()
    assert problems == {"salesforce": [], "hubspot": []}
