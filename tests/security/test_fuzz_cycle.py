"""Hostile values in every mapped field, through both connectors and a full engine cycle, into
SQLite and PostgreSQL: the cycle ends ok, every other record is pulled and scored, and each
value that could not be read is in the store with its record, field and raw text.

Where the hostile values live: a real org or portal can hold any text in a Text field (and a
true Date/Time or checkbox field cannot hold garbage, in a real org or in the sandboxes). So the
org and the portal here keep every mapped value in a Text field / string property, and the
mappings read them as what they stand for (a time, a checkbox, an owner id ...), as an admin's
mapping may. Lengths stay within what such a field holds (Salesforce Long Text Area 131,072;
HubSpot string 65,536), and Salesforce text holds no NUL byte; the megabyte and non-text cases
are covered without HTTP by ``test_fuzz_pull``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.salesforce.pull import parse_datetime
from leadsync.config import settings_from_dict
from leadsync.config.loading import read_toml
from leadsync.engine.cycle import SyncEngine
from leadsync.sandboxes import Sandboxes, running_sandboxes
from leadsync.store import Store
from leadsync.store.ingest import ATTRIBUTE_CHARS
from leadsync.store.schema import activities, crm_records, people, scores, unreadable_values
from leadsync.wiring import build_connectors, build_engine
from mappings import default_mapping_path
from sandboxes.hubspot.schema import prop
from sandboxes.salesforce.schema import FieldDef
from tests.conftest import fresh_store_url
from tests.security.hostile_values import hostile_text

SF_TEXT = 131_072
HS_TEXT = 65_536
#: Canonical person fields read from each fuzzed Lead / contact, beside the attributes.
SF_PERSON = ("email", "status", "owner", "opt_out")
HS_PERSON = ("email", "owner", "status", "opted_out", "lifecycle_stage", "converted_at")
FORM_FIELDS = ("email_field", "name_field", "url_field", "lead_field", "submitted_at_field")


def _sf_field(canonical: str) -> str:
    return f"FZ_{canonical.title().replace('_', '')}__c"


def _hs_property(canonical: str) -> str:
    return f"fz_{canonical}"


@dataclass(frozen=True)
class World:
    sandboxes: Sandboxes
    sf_mapping: dict[str, Any]
    hs_mapping: dict[str, Any]
    config_dir: Path

    def engine(self, store: Store) -> SyncEngine:
        data = self.sandboxes.config_data(store.url)
        # Fields only: the hand-off and recycle have their own tests.
        data.pop("handoff", None)
        data.pop("recycle", None)
        data["connectors"]["salesforce"]["mapping"] = str(self.config_dir / "salesforce.toml")
        data["connectors"]["hubspot"]["mapping"] = str(self.config_dir / "hubspot.toml")
        loaded = settings_from_dict(data, "fuzz")
        return build_engine(loaded, store, build_connectors(loaded))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("fuzz-cycle")
    with running_sandboxes(leads=30, seed=13) as sandboxes:
        org, portal = sandboxes.salesforce.org, sandboxes.hubspot.portal
        sf = read_toml(default_mapping_path("salesforce"))
        for sobject in ("Lead", "Contact"):
            obj = sf["objects"][sobject]
            person = [c for c in SF_PERSON if c in obj]
            for name in [*person, *obj["attributes"]]:
                org.add_field(sobject, FieldDef(_sf_field(name), "textarea", name, length=SF_TEXT))
            obj.update({name: _sf_field(name) for name in person})
            obj["attributes"] = {name: _sf_field(name) for name in obj["attributes"]}
        forms = sf["activities"]["forms"]
        for key in FORM_FIELDS:
            field = _sf_field(f"form_{key}")
            org.add_field("Form_Submission__c", FieldDef(field, "textarea", key, length=SF_TEXT))
            forms[key] = field
        forms.pop("contact_field", None)
        hs = read_toml(default_mapping_path("hubspot"))
        for name in [*HS_PERSON, *hs["attributes"]]:
            portal.add_property(
                "contacts",
                prop(_hs_property(name), name, "string", "textarea", "contactinformation"),
            )
        hs["contact"].update({name: _hs_property(name) for name in HS_PERSON})
        hs["attributes"] = {name: _hs_property(name) for name in hs["attributes"]}
        (folder / "salesforce.toml").write_text(tomli_w.dumps(sf))
        (folder / "hubspot.toml").write_text(tomli_w.dumps(hs))
        yield World(sandboxes, sf, hs, folder)


@st.composite
def _values(draw: st.DrawFn, fields: list[str], size: int) -> dict[str, str]:
    chosen = draw(st.dictionaries(st.sampled_from(fields), hostile_text, min_size=1))
    # What the field type holds: its length, and (Salesforce) no NUL byte.
    return {k: v.replace("\x00", "")[:size] for k, v in chosen.items()}


@dataclass
class Case:
    leads: list[dict[str, str]]
    form: dict[str, str]
    contacts: list[dict[str, str]]


@st.composite
def _cases(draw: st.DrawFn, world: World) -> Case:
    lead = world.sf_mapping["objects"]["Lead"]
    lead_fields = [lead[c] for c in SF_PERSON] + list(lead["attributes"].values())
    form_fields = [world.sf_mapping["activities"]["forms"][k] for k in FORM_FIELDS]
    hs_fields = [world.hs_mapping["contact"][c] for c in HS_PERSON] + list(
        world.hs_mapping["attributes"].values()
    )
    return Case(
        leads=draw(st.lists(_values(lead_fields, SF_TEXT), min_size=1, max_size=3)),
        form=draw(_values(form_fields, SF_TEXT)),
        contacts=draw(st.lists(_values(hs_fields, HS_TEXT), min_size=1, max_size=3)),
    )


def _stored(store: Store) -> tuple[dict[str, Any], dict[tuple[str, str], str]]:
    with store.reading() as conn:
        records = {r.uid: r for r in conn.execute(sa.select(crm_records))}
        rows = {(r.record_uid, r.field): r.raw for r in conn.execute(sa.select(unreadable_values))}
    return records, rows


def _read_or_recorded(
    record: Any, uid: str, field: str, value: str, canonical: str, rows: dict[Any, str]
) -> None:
    """The invariant: a hostile value was read into the record, or is recorded with its raw
    text; an opt-out LeadSync could not read reads as opted out."""
    recorded = (uid, field) in rows
    if recorded:
        assert rows[uid, field].startswith(value[:50].replace("\x00", "\\0")), (field, value)
    if value == "":
        return
    if canonical in ("opt_out", "opted_out"):
        assert record.opted_out == (recorded or value.lower() == "true"), (field, value)
        return
    read = {
        "email": record.email_norm,
        "status": record.status,
        "owner": record.owner_id,
        "lifecycle_stage": True,  # read as text into the conversion rule, never stored as is
        "converted_at": record.converted_at,
    }.get(canonical, canonical in record.attributes)
    if canonical == "converted_at":
        return  # a customer stage fills it from the modification time; recorded is enough
    assert bool(read) or recorded, (field, value)
    if canonical in record.attributes and len(value) > ATTRIBUTE_CHARS:
        assert (uid, f"attributes.{canonical}") in rows


def _fuzz(world: World, store: Store, examples: int) -> None:
    engine = world.engine(store)
    org, portal = world.sandboxes.salesforce.org, world.sandboxes.hubspot.portal
    first = engine.run()
    assert first.status == "ok", first.errors
    form_guid = next(iter(portal.forms))

    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(_cases(world))
    def cycle(case: Case) -> None:
        lead_ids = [org.insert("Lead", {"LastName": "Fuzz", **v}) for v in case.leads]
        form_values = dict(case.form)
        form_values[world.sf_mapping["activities"]["forms"]["lead_field"]] = lead_ids[0]
        form_id = org.insert("Form_Submission__c", form_values)
        contact_ids = [str(portal.insert("contacts", v).id) for v in case.contacts]
        portal.add_form_submission(form_guid, {"email": case.contacts[0].get("fz_email", "")})

        report = engine.run()

        assert report.status == "ok", report.errors
        records, rows = _stored(store)
        lead = world.sf_mapping["objects"]["Lead"]
        names = {lead[c]: c for c in SF_PERSON} | {f: c for c, f in lead["attributes"].items()}
        for lead_id, values in zip(lead_ids, case.leads, strict=True):
            uid = f"salesforce:Lead:{lead_id}"
            for field, value in values.items():
                _read_or_recorded(records[uid], uid, field, value, names[field], rows)
        hs = world.hs_mapping
        hs_names = {hs["contact"][c]: c for c in HS_PERSON} | {
            f: c for c, f in hs["attributes"].items()
        }
        for contact_id, values in zip(contact_ids, case.contacts, strict=True):
            uid = f"hubspot:contact:{contact_id}"
            for field, value in values.items():
                _read_or_recorded(records[uid], uid, field, value, hs_names[field], rows)
        _check_form(store, world, form_id, case.form, rows)
        with store.reading() as conn:
            # Everyone else pulled and scored: no person left waiting to be scored.
            waiting = conn.execute(
                sa.select(sa.func.count()).select_from(people).where(people.c.dirty)
            ).scalar_one()
            unscored = conn.execute(
                sa.select(sa.func.count())
                .select_from(people)
                .outerjoin(scores, scores.c.person_id == people.c.id)
                .where(people.c.active, scores.c.person_id.is_(None))
            ).scalar_one()
        assert waiting == 0 and unscored == 0
        assert {str(r["Id"]) for r in org.records("Lead")} <= {
            uid.rsplit(":", 1)[1] for uid in records if uid.startswith("salesforce:Lead:")
        }

    cycle()


def _check_form(
    store: Store, world: World, form_id: str, values: dict[str, str], rows: dict[Any, str]
) -> None:
    uid = f"salesforce:Form_Submission__c:{form_id}"
    field = world.sf_mapping["activities"]["forms"]["submitted_at_field"]
    with store.reading() as conn:
        deleted = conn.execute(
            sa.select(activities.c.deleted).where(activities.c.uid == uid)
        ).scalar_one()
    text = values.get(field)
    try:
        placed = parse_datetime(text) is not None if text else True
    except (ValueError, OverflowError):
        placed = False
    # An unreadable submission time: stored, never counted, and recorded.
    assert deleted == (not placed), (text, deleted)
    assert ((uid, field) in rows) == (not placed), text


@pytest.mark.slow
@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_hostile_values_cost_only_themselves_through_a_full_cycle(
    backend: str, tmp_path: Path, world: World
) -> None:
    for url in fresh_store_url(backend, tmp_path):
        store = Store(url)
        try:
            _fuzz(world, store, examples=12)
        finally:
            store.close()
