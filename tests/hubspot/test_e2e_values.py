"""Issue 22 #3 and #4 against the HubSpot sandbox: enumeration outputs write the portal's own
option values through ``[values.*]``; ``check`` names every value a property has no option for;
``fields create`` makes the options from the table; hand-off tasks carry the contact's name."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors.hubspot.connector import HubSpotConnector
from connectors.hubspot.mapping import CANONICAL_VALUES, HubSpotMapping, load_mapping
from connectors.hubspot.settings import HubSpotSettings
from leadsync.config import settings_from_dict
from leadsync.engine.request import CycleRequest
from leadsync.records import RecordRef, RecordUpdate
from leadsync.store import Store
from leadsync.wiring import build_connectors, build_engine
from mappings import default_mapping_path
from sandboxes.hubspot import HubSpotSandbox, generate_portal
from sandboxes.hubspot.schema import Option, leadsync_output_properties

SHIPPED = default_mapping_path("hubspot")
#: What a portal admin typed as each option (value = label), as in the refusing portal.
TYPED = {
    "good": "Good",
    "poor": "Poor",
    "hand_raiser": "Hand-raiser",
    "sales_ready": "Sales-ready",
    "unready": "Unready",
    "do_not_contact": "Do not contact",
    "sales": "Sales",
    "marketing": "Marketing",
}
CONTACTS = 82


def typed_portal_sandbox() -> HubSpotSandbox:
    """A portal whose LeadSync dropdowns were made by hand: option values read "Good" ..."""
    portal = generate_portal(contacts=CONTACTS, seed=22, with_output_properties=False)
    portal.groups["contacts"].setdefault("leadsync", {"name": "leadsync", "label": "LeadSync"})
    for definition in leadsync_output_properties():
        if definition["type"] == "enumeration":
            typed = [TYPED[o["value"]] for o in definition["options"]]
            definition["options"] = [Option(v, v).to_json(i) for i, v in enumerate(typed)]
        portal.add_property("contacts", definition)
    return HubSpotSandbox(portal, port=0, tls=False, rate_limit_per_10s=100_000)


@pytest.fixture(scope="module")
def typed() -> Iterator[HubSpotSandbox]:
    with typed_portal_sandbox() as sb:
        yield sb


def connect(sandbox: HubSpotSandbox, mapping: HubSpotMapping) -> HubSpotConnector:
    settings = HubSpotSettings(
        base_url=sandbox.url, access_token=sandbox.access_token, api_reserve=0, max_retries=1
    )
    return HubSpotConnector("hubspot", settings, mapping)


def mapping_with_tables(tmp_path: Path, tables: dict[str, dict[str, str]]) -> HubSpotMapping:
    """The shipped mapping with its [values.*] tables replaced by ``tables``."""
    text = re.sub(r"\[values\.\w+\]\n(?:[^\[\n][^\n]*\n)*\n?", "", SHIPPED.read_text())
    for output, table in tables.items():
        text += f"\n[values.{output}]\n" + "".join(f'{k} = "{v}"\n' for k, v in table.items())
    path = tmp_path / "hubspot.toml"
    path.write_text(text)
    return load_mapping(path)


def random_updates(sandbox: HubSpotSandbox, seed: int) -> list[RecordUpdate]:
    """One update per contact, each output a random canonical value."""
    rng = random.Random(seed)
    return [
        RecordUpdate(
            RecordRef("hubspot", "contact", str(c.id)),
            {name: rng.choice(values) for name, values in CANONICAL_VALUES.items()},
        )
        for c in sandbox.portal.live("contacts")
    ]


def test_canonical_values_are_refused_per_record_and_check_names_each(
    typed: HubSpotSandbox,
) -> None:
    connector = connect(typed, load_mapping(SHIPPED))
    updates = random_updates(typed, seed=1)
    outcomes = connector.write(updates)
    refused = [o for o in outcomes if not o.ok]
    # Every contact is refused, each with its record, the property and HubSpot's message.
    assert len(refused) == len(updates) == CONTACTS
    for outcome in refused:
        assert outcome.error is not None
        assert outcome.error.fields and outcome.error.fields[0].startswith("leadsync_")
        assert "was not one of the allowed options" in outcome.error.message
    problems = [p for p in connector.check() if p.field.startswith("leadsync_")]
    assert len(problems) == sum(len(v) for v in CANONICAL_VALUES.values())
    for output, values in CANONICAL_VALUES.items():
        allowed = ", ".join(TYPED[v] for v in values)
        for value in values:
            (problem,) = [p for p in problems if f"{output} = {value} " in p.problem]
            assert problem.field == f"leadsync_{output}"
            assert f"writes {value!r}" in problem.problem and f"({allowed})" in problem.problem
            # The option labelled as the value reads is offered as the fix.
            assert f"set values.{output}.{value} = {TYPED[value]!r}" in problem.fix
    connector.close()


def test_a_value_table_naming_the_portals_options_writes_every_contact(
    typed: HubSpotSandbox, tmp_path: Path
) -> None:
    tables = {name: {v: TYPED[v] for v in values} for name, values in CANONICAL_VALUES.items()}
    connector = connect(typed, mapping_with_tables(tmp_path, tables))
    assert [p for p in connector.check() if p.field.startswith("leadsync_")] == []
    updates = random_updates(typed, seed=2)
    outcomes = connector.write(updates)
    assert [o.error for o in outcomes if not o.ok] == []
    for update in updates:
        stored = typed.portal.objects["contacts"][int(update.ref.external_id)].properties
        for name, value in update.values.items():
            assert stored[f"leadsync_{name}"] == TYPED[str(value)]
    connector.close()


def test_fields_create_makes_the_options_the_table_names(tmp_path: Path) -> None:
    portal = generate_portal(contacts=5, seed=3, with_output_properties=False)
    text = SHIPPED.read_text().replace(
        'good = { value = "good", label = "Good" }', 'good = { value = "fit", label = "Fits" }'
    )
    path = tmp_path / "hubspot.toml"
    path.write_text(text)
    mapping = load_mapping(path)
    with HubSpotSandbox(portal, port=0, tls=False) as sandbox:
        connector = connect(sandbox, mapping)
        connector.create_fields()
        assert [p for p in connector.check() if p.field.startswith("leadsync_")] == []
        for output in CANONICAL_VALUES:
            made = portal.property("contacts", mapping.outputs[output].property)
            assert made is not None
            wanted = [(o.value, o.label) for o in mapping.option_table(output).values()]
            assert [(o["value"], o["label"]) for o in made["options"]] == wanted
        fit = portal.property("contacts", "leadsync_fit")
        assert fit is not None and fit["options"][0]["label"] == "Fits"
        connector.close()


def test_hand_off_task_subject_names_the_contact(tmp_path: Path) -> None:
    """Issue 22 #3: the shipped mapping reads first and last names, so {name} is a name."""
    portal = generate_portal(contacts=120, seed=5)
    with HubSpotSandbox(portal, port=0, tls=False, rate_limit_per_10s=100_000) as sandbox:
        reps = sorted(o.id for o in portal.owners.values() if not o.archived)[:3]
        data: dict[str, Any] = {
            "store": {"url": f"sqlite:///{tmp_path / 'state.db'}"},
            "connectors": {
                "hubspot": {"base_url": sandbox.url, "access_token": sandbox.access_token}
            },
            "identity": {"sales_crm": "hubspot"},
            "handoff": {
                "enabled": True,
                "owner_status": "IN_PROGRESS",
                "keep_active_owner": False,
                "pools": [{"name": "Reps", "members": reps}],
            },
        }
        settings = settings_from_dict(data, "test")
        store = Store(settings.store.url)
        engine = build_engine(settings, store, build_connectors(settings))
        assert engine.run(CycleRequest(no_actions=True)).status == "ok"
        named = [
            c
            for c in portal.live("contacts")
            if c.properties.get("leadsync_team") == "marketing"
            and c.properties.get("email")
            and c.properties.get("firstname")
            and c.properties.get("lastname")
        ]
        target = named[0]
        form = next(g for g, f in portal.forms.items() if "contact" in f.name.lower())
        portal.add_form_submission(form, {"email": target.properties["email"]})
        handed = engine.run()
        assert handed.actions["handed_off"] == 1, handed.actions
        (task,) = [
            t
            for t in portal.live("tasks")
            if target.id in portal.associated("tasks", t.id, "contacts")
            and str(t.properties.get("hs_task_subject", "")).startswith("LeadSync:")
        ]
        name = f"{target.properties['firstname']} {target.properties['lastname']}"
        subject = str(task.properties["hs_task_subject"])
        assert name in subject and target.properties["email"] not in subject
        store.close()


def test_a_daily_allowance_down_to_the_reserve_is_reported() -> None:
    """A run would stop calling (BudgetExhausted): check says so first."""
    portal = generate_portal(contacts=5, seed=4)
    with HubSpotSandbox(portal, port=0, tls=False, daily_limit=100) as sandbox:
        connector = connect(sandbox, load_mapping(SHIPPED))  # api_reserve 0
        assert connector.check() == []
        reserved = HubSpotSettings(
            base_url=sandbox.url, access_token=sandbox.access_token, api_reserve=1_000
        )
        tight = HubSpotConnector("hubspot", reserved, load_mapping(SHIPPED))
        problems = [p for p in tight.check() if p.field == "API calls"]
        assert len(problems) == 1 and "api_reserve is 1000" in problems[0].problem
        connector.close()
        tight.close()
