"""Properties: describe the portal, check the mapping against it, create what is missing.

``check`` reports, per mapped property, whether it exists on contacts, has the mapped type,
is writable (outputs) and offers every canonical option (enumerations); the task key property
must exist on tasks and be unique, or upserts by key would be refused. ``create_fields``
creates the ``leadsync`` property group and the missing properties with the mapped types.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import structlog

from connectors.hubspot.client import HubSpotClient, HubSpotRejected
from connectors.hubspot.mapping import (
    CANONICAL_VALUES,
    OUTPUT_NAMES,
    HubSpotMapping,
)
from leadsync.errors import FatalSyncError
from leadsync.records import CheckProblem, FieldInfo
from mappings import MAPPING_FILE

log = structlog.get_logger(__name__)

_RUN_CREATE = "run `leadsync fields create`"

CONTACTS = "contacts"
TASKS = "tasks"


def read_properties(client: HubSpotClient, object_type: str) -> list[dict[str, Any]]:
    """Every property of ``object_type`` as HubSpot's JSON."""
    answer = client.call(
        f"properties.{object_type}", "crm.properties.core_api", "get_all", object_type
    )
    return list(answer.get("results") or [])


def field_info(prop: dict[str, Any]) -> FieldInfo:
    """One property as a ``FieldInfo``."""
    meta = prop.get("modificationMetadata") or {}
    return FieldInfo(
        name=str(prop["name"]),
        type=str(prop.get("type") or ""),
        label=str(prop.get("label") or ""),
        updateable=not (meta.get("readOnlyValue") or prop.get("calculated")),
        picklist_values=tuple(str(o.get("value")) for o in prop.get("options") or []),
        custom=not prop.get("hubspotDefined", False),
    )


def describe(client: HubSpotClient) -> dict[str, dict[str, FieldInfo]]:
    """Fields of contacts and tasks, the two objects the mapping touches."""
    return {
        object_type: {str(p["name"]): field_info(p) for p in read_properties(client, object_type)}
        for object_type in (CONTACTS, TASKS)
    }


def check(client: HubSpotClient, mapping: HubSpotMapping) -> list[CheckProblem]:
    """Every way the mapping does not fit the live portal, each with its fix."""
    contacts = {str(p["name"]): p for p in read_properties(client, CONTACTS)}
    tasks = {str(p["name"]): p for p in read_properties(client, TASKS)}
    return check_against(mapping, contacts, tasks)


def check_against(
    mapping: HubSpotMapping, contacts: dict[str, dict[str, Any]], tasks: dict[str, dict[str, Any]]
) -> list[CheckProblem]:
    """The checks of :func:`check`, as a pure function of the portal's property lists."""
    problems: list[CheckProblem] = []
    for key, prop in mapping.contact.model_dump().items():
        if prop not in contacts:
            problems.append(missing_read(prop, f"[contact].{key}"))
        else:
            problems += _check_read_type(contacts[prop], _CONTACT_KINDS[key], f"[contact].{key}")
    for name, prop in mapping.attributes.items():
        if prop not in contacts:
            problems.append(missing_read(prop, f"[attributes].{name}"))
        else:
            kind = _ATTRIBUTE_KINDS.get(name, "attribute")
            problems += _check_read_type(contacts[prop], kind, f"[attributes].{name}")
    problems += _check_unmapped_outputs(mapping)
    for name, out in mapping.outputs.items():
        problems.extend(_check_output(mapping, name, contacts.get(out.property)))
    key = mapping.tasks.key_property
    task_key = tasks.get(key)
    if task_key is None:
        problems.append(CheckProblem("task", key, "the task key property is missing", _RUN_CREATE))
    elif not task_key.get("hasUniqueValue"):
        problems.append(
            CheckProblem(
                "task",
                key,
                "the task key property does not require unique values, so tasks cannot be "
                "upserted by it",
                f"archive {key} on tasks and run `leadsync fields create`",
            )
        )
    return problems


# -- properties the portal does not show ------------------------------------------------------

#: HubSpot's default contact properties a mapping is likely to name: every portal has them, so
#: one missing from the describe is hidden from this app (scopes), never misnamed.
STANDARD_CONTACT_PROPERTIES = frozenset(
    {
        "address", "annualrevenue", "associatedcompanyid", "city", "company", "country",
        "createdate", "email", "fax", "first_conversion_date", "first_conversion_event_name",
        "firstname", "hs_analytics_source", "hs_analytics_source_data_1",
        "hs_analytics_source_data_2", "hs_email_optout", "hs_language", "hs_latest_source",
        "hs_lead_status", "hs_object_id", "hs_persona", "hubspot_owner_id", "industry",
        "jobtitle", "lastmodifieddate", "lastname", "lifecyclestage", "mobilephone",
        "num_conversion_events", "numemployees", "phone", "recent_conversion_date",
        "recent_conversion_event_name", "salutation", "state", "website", "zip",
    }
)  # fmt: skip
#: The date HubSpot stamps when a contact first enters each lifecycle stage, custom stages
#: included (``hs_lifecyclestage_customer_date``, and the newer ``hs_v2_date_entered_*``).
_STAGE_DATE = re.compile(r"hs_lifecyclestage_\w+_date|hs_v2_date_entered_\w+")


def is_standard_contact_property(name: str) -> bool:
    """Whether ``name`` is one of HubSpot's own contact properties, present in every portal."""
    return name in STANDARD_CONTACT_PROPERTIES or _STAGE_DATE.fullmatch(name) is not None


def missing_read(prop: str, key: str) -> CheckProblem:
    """A mapped read whose property the portal does not list. HubSpot's own property is there
    in every portal, so renaming it is never the fix: the app does not see it. A custom one
    may be absent from this portal: create it, or map another."""
    if is_standard_contact_property(prop):
        return CheckProblem(
            "contact",
            prop,
            f"{key} names {prop}, a standard HubSpot contact property, but the portal does not "
            "show it to this app",
            "check that the private app has the crm.objects.contacts.read and "
            "crm.schemas.contacts.read scopes (Settings > Integrations > Private Apps) and that "
            f"the portal's subscription offers {prop}; the name in {MAPPING_FILE} is HubSpot's "
            "own, so keep it",
        )
    return CheckProblem(
        "contact",
        prop,
        f"{key} names {prop}, a custom property this portal does not have",
        f"create {prop} in HubSpot (Settings > Properties), or map {key} to another property "
        f"in {MAPPING_FILE}",
    )


# -- the type of what is read ----------------------------------------------------------------

#: Property types each kind of mapped read can hold. Text is fine for what LeadSync reads as
#: text (an id, an address, a status); for a time, a checkbox or a number it is not: free text
#: holds values that cannot be read ("yesterday"), each of which then costs its value.
_FITS: dict[str, frozenset[str]] = {
    "datetime": frozenset({"datetime", "date"}),
    "boolean": frozenset({"bool"}),
    "email": frozenset({"string"}),
    "id": frozenset({"number", "enumeration", "string"}),
    "enumeration": frozenset({"enumeration", "string"}),
    "number": frozenset({"number", "enumeration", "string"}),
}
_KIND_WORDS: dict[str, tuple[str, str]] = {
    "datetime": ("a date-time", "datetime (Date picker)"),
    "boolean": ("a checkbox", "bool (Single checkbox)"),
    "email": ("an email address", "string"),
    "id": ("an id", "number"),
    "enumeration": ("an option value", "enumeration"),
    "number": ("a number or a range", "number"),
    "attribute": ("a single value", "string, number, enumeration or bool"),
}
#: Where the fields every connector needs are read, by their key in [contact].
_CONTACT_KINDS: dict[str, str] = {
    "email": "email",
    "modified": "datetime",
    "owner": "id",
    "status": "enumeration",
    "opted_out": "boolean",
    "lifecycle_stage": "enumeration",
    "converted_at": "datetime",
    "company_id": "id",
    "created": "datetime",
}
_ATTRIBUTE_KINDS: dict[str, str] = {"employees": "number", "annual_revenue": "number"}
#: Property types that do not hold one readable value (a map pin).
_UNREADABLE_TYPES = frozenset({"object_coordinates", "json"})


def _check_read_type(live: dict[str, Any], kind: str, key: str) -> list[CheckProblem]:
    """A problem when the property's type cannot hold what ``kind`` reads."""
    live_type = str(live.get("type") or "")
    fits = _FITS.get(kind)
    # A single checkbox made as an enumeration holds "true"/"false" too.
    checkbox = kind == "boolean" and live.get("fieldType") == "booleancheckbox"
    if checkbox or not (live_type in _UNREADABLE_TYPES or (fits and live_type not in fits)):
        return []
    wanted, fix_type = _KIND_WORDS[kind]
    name = str(live.get("name") or "")
    return [
        CheckProblem(
            "contact",
            name,
            f"type is {live_type!r}; {key} is read as {wanted}, so a value LeadSync cannot "
            "read costs that value (each is listed in `leadsync status`)",
            f"map {key} in {MAPPING_FILE} to a {fix_type} property, or change "
            f"{name}'s type to {fix_type} in HubSpot (Settings > Properties)",
        )
    ]


def _check_output(
    mapping: HubSpotMapping, name: str, live: dict[str, Any] | None
) -> list[CheckProblem]:
    out = mapping.outputs[name]
    if live is None:
        return [
            CheckProblem(
                "contact",
                out.property,
                f"output {name!r} has no property",
                _RUN_CREATE,
            )
        ]
    problems: list[CheckProblem] = []
    live_type = str(live.get("type") or "")
    if live_type != out.type:
        problems.append(
            CheckProblem(
                "contact",
                out.property,
                f"type is {live_type!r}, the mapping writes {out.type!r}",
                f"change the property's type in HubSpot or set type = {live_type!r}",
            )
        )
    if (live.get("modificationMetadata") or {}).get("readOnlyValue"):
        problems.append(
            CheckProblem(
                "contact",
                out.property,
                "the property is read-only",
                "map the output to a writable property",
            )
        )
    if out.type == "enumeration" and live_type == "enumeration":
        problems += _check_options(mapping, name, live)
    return problems


def _check_options(mapping: HubSpotMapping, name: str, live: dict[str, Any]) -> list[CheckProblem]:
    """Every value LeadSync writes to an enumeration output must be one of its options, or
    HubSpot refuses the whole record (``INVALID_OPTION``)."""
    out = mapping.outputs[name]
    options = [o for o in live.get("options") or [] if isinstance(o, dict)]
    offered = [str(o.get("value")) for o in options]
    allowed = ", ".join(offered) or "none"
    table = mapping.option_table(name)
    problems: list[CheckProblem] = []
    for canonical in CANONICAL_VALUES.get(name) or tuple(table):
        written = str(mapping.crm_value(name, canonical))
        if written in offered:
            continue
        where = f"values.{name}.{canonical}"
        option = table.get(canonical)
        names = {_loose(written), _loose(canonical), _loose(option.label if option else "")}
        names.discard("")
        labelled = [o for o in options if _loose(str(o.get("label") or "")) in names]
        if labelled:
            fix = (
                f"set {where} = {str(labelled[0].get('value'))!r} in {MAPPING_FILE} "
                f"(the option labelled {str(labelled[0].get('label'))!r})"
            )
        else:
            fix = (
                f"run `leadsync install` (it adds {written!r} to {out.property}'s options), "
                f"or set {where} in {MAPPING_FILE} to one of {allowed}"
            )
        problems.append(
            CheckProblem(
                "contact",
                out.property,
                f"LeadSync writes {written!r} for {name} = {canonical} ([values.{name}]), not "
                f"one of the property's options ({allowed}): HubSpot refuses every such contact",
                fix,
            )
        )
    return problems


def _loose(text: str) -> str:
    """Text compared as people read it: "Hand-raiser", "hand_raiser" and "HAND RAISER" match."""
    return "".join(ch for ch in text.lower() if ch.isalnum())


def _check_unmapped_outputs(mapping: HubSpotMapping) -> list[CheckProblem]:
    """Outputs LeadSync writes that have no property: each update carrying one is refused."""
    return [
        CheckProblem(
            "contact",
            f"[outputs.{name}]",
            f"output {name!r} is not mapped, so every contact update carrying it is refused "
            "(UNMAPPED_OUTPUT)",
            f"add [outputs.{name}] to {MAPPING_FILE} (see the shipped mapping), then "
            + _RUN_CREATE,
        )
        for name in OUTPUT_NAMES
        if name not in mapping.outputs
    ]


def create_fields(client: HubSpotClient, mapping: HubSpotMapping) -> list[str]:
    """Create the property group and every missing output and task-key property."""
    created: list[str] = []
    contacts = {str(p["name"]) for p in read_properties(client, CONTACTS)}
    tasks = {str(p["name"]) for p in read_properties(client, TASKS)}
    missing_outputs = [n for n, o in mapping.outputs.items() if o.property not in contacts]
    need_task_key = mapping.tasks.key_property not in tasks
    if missing_outputs:
        created += _ensure_group(client, mapping, CONTACTS)
    for name in missing_outputs:
        if _create(client, CONTACTS, output_definition(mapping, name)):
            created.append(f"{CONTACTS}.{mapping.outputs[name].property}")
    if need_task_key:
        created += _ensure_group(client, mapping, TASKS)
        definition = {
            "name": mapping.tasks.key_property,
            "label": mapping.tasks.key_label,
            "type": "string",
            "fieldType": "text",
            "groupName": mapping.group,
            "hasUniqueValue": True,
            "description": "Set by LeadSync: one hand-off, one task, even across retries.",
        }
        if _create(client, TASKS, definition):
            created.append(f"{TASKS}.{mapping.tasks.key_property}")
    log.info("hubspot.fields_created", connector=client.name, created=created)
    return created


def output_definition(mapping: HubSpotMapping, name: str) -> dict[str, Any]:
    """The property-create body for output ``name``; an enumeration gets one option per
    entry of its value table (the option's value and label as the table names them)."""
    out = mapping.outputs[name]
    definition: dict[str, Any] = {
        "name": out.property,
        "label": out.label,
        "type": out.type,
        "fieldType": out.effective_field_type(),
        "groupName": mapping.group,
        "description": out.description or f"Written by LeadSync ({out.label}).",
    }
    if out.type == "enumeration":
        definition["options"] = [
            {"label": option.label, "value": option.value, "displayOrder": i, "hidden": False}
            for i, option in enumerate(mapping.option_table(name).values())
        ]
    return definition


def _ensure_group(client: HubSpotClient, mapping: HubSpotMapping, object_type: str) -> list[str]:
    answer = client.call(
        f"property_groups.{object_type}", "crm.properties.groups_api", "get_all", object_type
    )
    if any(g.get("name") == mapping.group for g in answer.get("results") or []):
        return []
    body = {"name": mapping.group, "label": mapping.group_label, "displayOrder": -1}
    try:
        client.call(
            f"property_groups.{object_type}.create",
            "crm.properties.groups_api",
            "create",
            object_type,
            body,
        )
    except HubSpotRejected as exc:
        if exc.status == 409:
            return []
        raise
    return [f"{object_type} group {mapping.group}"]


def _create(client: HubSpotClient, object_type: str, definition: dict[str, Any]) -> bool:
    try:
        client.call(
            f"properties.{object_type}.create",
            "crm.properties.core_api",
            "create",
            object_type,
            definition,
        )
    except HubSpotRejected as exc:
        if exc.status == 409:  # created meanwhile (or by a retried call): it exists, fine
            return False
        raise
    return True


def check_budget(remaining: int | None, reserve: int) -> list[CheckProblem]:
    """The portal's daily API allowance left is above ``api_reserve``, or a run pauses."""
    if remaining is None or remaining > reserve:
        return []
    return [
        CheckProblem(
            "portal",
            "API calls",
            f"only {remaining} API calls are left today and api_reserve is {reserve}, so a "
            "run pauses its calls until the allowance resets at midnight (portal time zone)",
            "wait for the reset, lower [connectors.hubspot] api_reserve, or raise the "
            "portal's API limit",
        )
    ]


def check_targets(
    client: HubSpotClient, mapping: HubSpotMapping, statuses: Sequence[str], lists: Sequence[str]
) -> list[CheckProblem]:
    """Statuses LeadSync sets are options of the status property; nurture lists exist."""
    problems: list[CheckProblem] = []
    status_property = mapping.contact.status
    wanted = sorted({s for s in statuses if s})
    if wanted and not status_property:
        problems.append(
            CheckProblem(
                "contact", "[contact].status",
                f"no status property is mapped, but LeadSync sets {', '.join(map(repr, wanted))}",
                f"map [contact] status in {MAPPING_FILE} (HubSpot's is hs_lead_status)",
            )
        )  # fmt: skip
    if status_property and wanted:
        props = {str(p["name"]): p for p in read_properties(client, CONTACTS)}
        options = [str(o.get("value")) for o in props.get(status_property, {}).get("options", [])]
        for status in wanted:
            if status not in options:
                problems.append(
                    CheckProblem(
                        "contact", status_property,
                        f"LeadSync sets status {status!r}, not an option of this property",
                        f"use one of {', '.join(options)} in [handoff] owner_status / "
                        "[recycle] nurture_status (internal values, e.g. IN_PROGRESS)",
                    )
                )  # fmt: skip
    for list_id in sorted({x for x in lists if x}):
        try:
            client.call("lists.read", "crm.lists.lists_api", "get_by_id", list_id)
        except FatalSyncError as exc:
            if exc.status not in (400, 404):
                raise
            problems.append(
                CheckProblem(
                    "list", list_id, "no list with this id in the portal",
                    "copy the list's id (Contacts > Lists) into [recycle] nurture_list / "
                    "[[nurture.enrol]] list",
                )
            )  # fmt: skip
    return problems
