"""Describe, check and create fields: does the mapping fit the org, and what fixes it.

``check`` answers one ``CheckProblem`` per problem, each with the fix an admin can act on.
``create_fields`` creates the missing LeadSync output fields with the Tooling API
(``CustomField``); no profile grants a new field, so ``leadsync install`` (``install``)
grants the integration user access to them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any

import structlog

from connectors.salesforce.mapping import FORM_FIELD_KEYS, PEOPLE_OBJECTS, SalesforceMapping
from leadsync.records import CheckProblem, FieldInfo
from mappings import MAPPING_FILE

log = structlog.get_logger(__name__)

#: Said after creating fields: new custom fields are invisible to the API until FLS grants them.
FLS_NOTE = (
    "run `leadsync install`: it grants the integration user Read and Edit on the new fields "
    "(permission set LeadSync_Integration) and makes the Lead list views sales opens; add the "
    "fields to page layouts in Setup"
)

# What each output must be (describe types) and how to create it (Tooling metadata).
OUTPUT_TYPES: dict[str, tuple[set[str], str]] = {
    "fit": ({"picklist", "string"}, "Picklist"),
    "readiness": ({"picklist", "string"}, "Picklist"),
    "team": ({"picklist", "string"}, "Picklist"),
    "score": ({"double", "int", "currency", "percent"}, "Number"),
    "account_score": ({"double", "int", "currency", "percent"}, "Number"),
    "recycle_count": ({"double", "int"}, "Number"),
    "engaged_people": ({"double", "int"}, "Number"),
    "reason": ({"string", "textarea"}, "Text"),
    "recycle_reason": ({"string", "textarea"}, "Text"),
    "scored_at": ({"datetime"}, "DateTime"),
}
_LABELS = {
    "fit": "Fit",
    "score": "Score",
    "readiness": "Readiness",
    "team": "Team",
    "reason": "Reason",
    "scored_at": "Scored At",
    "recycle_count": "Recycle Count",
    "recycle_reason": "Recycle Reason",
    "account_score": "Account Score",
    "engaged_people": "Engaged People",
}
_NUMBER_SHAPE = {
    "score": (8, 2),
    "account_score": (8, 2),
    "recycle_count": (4, 0),
    "engaged_people": (6, 0),
}

Describer = Callable[[str], Mapping[str, Any]]


def field_info(raw: Mapping[str, Any]) -> FieldInfo:
    """One describe ``fields[]`` entry as ``FieldInfo`` (active picklist values only)."""
    values = tuple(
        str(v.get("value"))
        for v in raw.get("picklistValues") or []
        if isinstance(v, Mapping) and v.get("active", True)
    )
    return FieldInfo(
        name=str(raw["name"]),
        type=str(raw.get("type", "")),
        label=str(raw.get("label", "")),
        updateable=bool(raw.get("updateable", False)),
        length=raw.get("length") or None,
        picklist_values=values,
        custom=bool(raw.get("custom", False)),
    )


def resolve(describe: Describer, sobject: str, path: str) -> Mapping[str, Any] | None:
    """The raw describe entry of ``path`` on ``sobject``, following dotted relationships."""
    head, _, rest = path.partition(".")
    fields = describe(sobject).get("fields") or []
    if not rest:
        return next((f for f in fields if f.get("name") == head), None)
    lookup = next((f for f in fields if f.get("relationshipName") == head), None)
    targets = (lookup or {}).get("referenceTo") or []
    if not targets:
        return None
    return resolve(describe, str(targets[0]), rest)


def check(
    mapping: SalesforceMapping, describe: Describer, hidden: AbstractSet[str] = frozenset()
) -> list[CheckProblem]:
    """Every problem with the mapping against the org's describes, each with its fix.

    ``hidden`` names fields (``Lead.Fit__c``) the org has but the integration user does not
    see: each is reported as the grant it lacks."""
    problems: list[CheckProblem] = []
    for sobject, obj in mapping.objects.items():
        if describe(sobject) == {}:
            problems.append(
                CheckProblem(sobject, "*", "object is not visible", _object_access_fix(sobject))
            )
            continue
        identity = {
            "email": obj.email,
            "status": obj.status,
            "owner": obj.owner,
            "opt_out": obj.opt_out,
            "account": obj.account,
        }
        readable = {k: v for k, v in identity.items() if v} | dict(obj.attributes)
        for canonical, path in readable.items():
            where = f"objects.{sobject}" + ("" if canonical in identity else ".attributes")
            raw = resolve(describe, sobject, path)
            if raw is None and f"{sobject}.{path}" in hidden:
                problems.append(no_grant(sobject, path, edit=False))
                continue
            if raw is None:
                problems.append(_missing_read(sobject, f"{where}.{canonical}", path))
                continue
            kind = READ_KINDS.get(canonical, "attribute")
            problems.extend(_check_read_type(sobject, path, raw, kind, f"{where}.{canonical}"))
        for output, field in obj.outputs.items():
            if f"{sobject}.{field}" in hidden:
                problems.append(no_grant(sobject, field, edit=True))
                continue
            problems.extend(_check_output(mapping, sobject, output, field, describe))
    if f"Task.{mapping.task_key_field}" in hidden:
        problems.append(no_grant("Task", mapping.task_key_field, edit=True))
    else:
        problems.extend(_check_task_key(mapping, describe))
    problems.extend(_check_forms(mapping, describe))
    return problems


# -- the type of what is read ----------------------------------------------------------------

#: Describe types each kind of mapped read can hold. Text is fine for what LeadSync reads as
#: text (an id, an address, a status); for a time, a checkbox or a number it is not: free text
#: holds values that cannot be read ("yesterday"), each of which then costs its value.
_FITS: dict[str, frozenset[str]] = {
    "datetime": frozenset({"datetime", "date"}),
    "boolean": frozenset({"boolean"}),
    "email": frozenset({"email", "string"}),
    "id": frozenset({"reference", "id", "string"}),
    "picklist": frozenset({"picklist", "combobox", "string"}),
    "text": frozenset({"string", "textarea", "picklist", "combobox", "url", "email", "phone"}),
    "number": frozenset(
        {"int", "double", "currency", "percent", "string", "textarea", "picklist", "combobox"}
    ),
}
#: What each kind is called in a problem, and the field type that fixes it.
_KIND_WORDS: dict[str, tuple[str, str]] = {
    "datetime": ("a date-time", "Date/Time (or Date)"),
    "boolean": ("a checkbox", "Checkbox"),
    "email": ("an email address", "Email"),
    "id": ("a record id", "Lookup"),
    "picklist": ("a picklist value", "Picklist"),
    "text": ("text", "Text"),
    "number": ("a number or a range", "Number"),
    "attribute": ("a single value", "Text, Number, Picklist or Checkbox"),
}
#: Compound and binary fields: an API read gives an object or a blob, never one value.
_UNREADABLE_TYPES = frozenset({"address", "location", "base64", "complexvalue", "anytype"})

#: The kind of each canonical read; attributes not named here may hold any single value.
READ_KINDS: dict[str, str] = {
    "email": "email",
    "status": "picklist",
    "owner": "id",
    "opt_out": "boolean",
    "account": "id",
    "employees": "number",
    "annual_revenue": "number",
}
_FORM_KINDS: dict[str, str] = {
    "email_field": "email",
    "name_field": "text",
    "url_field": "text",
    "lead_field": "id",
    "contact_field": "id",
    "submitted_at_field": "datetime",
}


def _check_read_type(
    sobject: str, path: str, raw: Mapping[str, Any], kind: str, key: str
) -> Iterator[CheckProblem]:
    """A problem when the field's describe type cannot hold what ``kind`` reads."""
    sf_type = str(raw.get("type") or "").lower()
    fits = _FITS.get(kind)
    wrong = sf_type in _UNREADABLE_TYPES or (fits is not None and sf_type not in fits)
    if not wrong:
        return
    wanted, fix_type = _KIND_WORDS[kind]
    yield CheckProblem(
        sobject,
        path,
        f"is a {sf_type} field; {key} is read as {wanted}, so a value LeadSync cannot "
        "read costs that value (each is listed in `leadsync status`)",
        f"map {key} in {MAPPING_FILE} to a {fix_type} field, or change {path}'s "
        f"type to {fix_type} in Setup (Object Manager > {sobject} > Fields & Relationships)",
    )


def _missing_read(sobject: str, key: str, path: str) -> CheckProblem:
    if key == f"objects.{sobject}.status" and _creatable(path):
        fix = (
            f"run `leadsync fields create` (a picklist with the Lead Status values), or map "
            f"{key} to another field in {MAPPING_FILE}"
        )
        return CheckProblem(sobject, path, f"{key} names {path}, which does not exist", fix)
    return missing_field(sobject, path, key)


def no_grant(sobject: str, field: str, *, edit: bool) -> CheckProblem:
    """A field the org has that field-level security hides from the integration user."""
    need = "Read and Edit" if edit else "Read"
    return CheckProblem(
        sobject,
        field,
        f"the integration user cannot {'edit' if edit else 'read'} it (field-level security "
        "grants it no access)",
        f"run `leadsync install`, or grant {need} on {sobject}.{field} in a permission set "
        "assigned to the integration user",
    )


def missing_field(sobject: str, path: str, key: str) -> CheckProblem:
    """A mapped field the describe does not list. A standard field is in every org, so the
    integration user does not see it (field-level security, or an edition without it), and
    renaming it is never the fix; a custom one may be absent from this org."""
    if is_standard_field(path):
        return CheckProblem(
            sobject,
            path,
            f"{key} names {path}, a standard Salesforce field, but the integration user does "
            "not see it",
            f"grant the integration user's profile or permission set Read access to "
            f"{sobject}.{path} (field-level security) and check the org's edition offers it; "
            f"the name in {MAPPING_FILE} is Salesforce's own, so keep it",
        )
    return CheckProblem(
        sobject,
        path,
        f"{key} names {path}, a custom field this org does not have or does not show to the "
        "integration user",
        f"create {path} in Setup (Object Manager > {sobject} > Fields & Relationships) and grant "
        f"the integration user Read access, or map {key} to another field in {MAPPING_FILE}",
    )


def is_standard_field(path: str) -> bool:
    """Whether every step of ``path`` is a standard field or relationship: custom ones end in
    ``__c`` (fields) or ``__r`` (relationships), managed-package ones too."""
    return not any(part.endswith(("__c", "__r")) for part in path.split("."))


def _creatable(field: str) -> bool:
    """A custom field on the object itself, which the Tooling API can create."""
    return "." not in field and field.endswith("__c")


def check_budget(remaining: int | None, reserve: int) -> list[CheckProblem]:
    """The org's daily API allowance left is above ``api_reserve``, or writes pause (the run
    logs ``salesforce.budget.reserve``)."""
    if remaining is None or remaining > reserve:
        return []
    return [
        CheckProblem(
            "org",
            "API calls",
            f"only {remaining} API calls are left today and api_reserve is {reserve}, so "
            "writes pause until the allowance recovers (salesforce.budget.reserve)",
            "wait for the 24-hour allowance to recover, lower [connectors.salesforce] "
            "api_reserve, or raise the org's API limit",
        )
    ]


# -- statuses LeadSync sets --------------------------------------------------------------------


def check_statuses(
    mapping: SalesforceMapping, describe: Describer, statuses: Sequence[str]
) -> list[CheckProblem]:
    """The statuses LeadSync sets at hand-off and recycle, on every object a person can be.

    A person handed off or recycled may be a Lead or a Contact: an object with no status field
    mapped has the status left out of its reassignment (the run logs
    ``salesforce.reassign.status_unmapped``), and a value the picklist lacks is refused.
    """
    wanted = sorted({s for s in statuses if s})
    if not wanted:
        return []
    quoted = ", ".join(map(repr, wanted))
    problems: list[CheckProblem] = []
    for sobject in PEOPLE_OBJECTS:
        obj = mapping.objects.get(sobject)
        if obj is None or describe(sobject) == {}:
            continue  # reported by ``check``
        if not obj.status:
            problems.append(
                CheckProblem(
                    sobject,
                    "status",
                    f"no status field is mapped, so the status LeadSync sets at hand-off and "
                    f"recycle ({quoted}) is left out for every {sobject} "
                    "(salesforce.reassign.status_unmapped)",
                    f"map objects.{sobject}.status in {MAPPING_FILE} to a picklist "
                    f"holding {quoted} (e.g. {sobject}_Status__c; `leadsync fields create` "
                    "creates a missing custom one)",
                )
            )
            continue
        raw = resolve(describe, sobject, obj.status)
        if raw is None or str(raw.get("type")) not in ("picklist", "combobox"):
            continue  # missing or mistyped: reported by ``check``
        values = field_info(raw).picklist_values
        for status in wanted:
            if status not in values:
                problems.append(
                    CheckProblem(
                        sobject,
                        obj.status,
                        f"LeadSync sets status {status!r}, not an active value here",
                        f"use one of {', '.join(values)} in [handoff] owner_status / "
                        f"[recycle] nurture_status, or add the value to {sobject}.{obj.status} "
                        "in Setup",
                    )
                )
    return problems


def missing_status_bodies(mapping: SalesforceMapping, describe: Describer) -> list[dict[str, Any]]:
    """``CustomField`` bodies for mapped custom status fields the org lacks (a Contact has no
    standard status): picklists holding the Lead Status values, so sales uses one vocabulary."""
    lead = mapping.objects.get("Lead")
    lead_raw = resolve(describe, "Lead", lead.status) if lead and lead.status else None
    values = field_info(lead_raw).picklist_values if lead_raw is not None else ()
    bodies = []
    for sobject in PEOPLE_OBJECTS:
        obj = mapping.objects.get(sobject)
        field = obj.status if obj is not None else None
        if not field or not _creatable(field) or describe(sobject) == {}:
            continue
        if resolve(describe, sobject, field) is None:
            bodies.append(status_field_body(sobject, field, values))
    return bodies


def status_field_body(sobject: str, field: str, values: Sequence[str]) -> dict[str, Any]:
    """The ``CustomField`` body of a status picklist on ``sobject``."""
    metadata: dict[str, Any] = {
        "label": f"{sobject} Status",
        "type": "Picklist",
        "description": "The sales status LeadSync sets at hand-off and recycle.",
        "valueSet": {
            "restricted": True,
            "valueSetDefinition": {
                "sorted": False,
                "value": [{"fullName": v, "label": v, "default": False} for v in values],
            },
        },
    }
    return {"FullName": f"{sobject}.{field}", "Metadata": metadata}


def _check_output(
    mapping: SalesforceMapping, sobject: str, output: str, field: str, describe: Describer
) -> Iterator[CheckProblem]:
    raw = resolve(describe, sobject, field)
    if raw is None:
        key = f"objects.{sobject}.outputs.{output}"
        if not _creatable(field):
            yield missing_field(sobject, field, key)
            return
        yield CheckProblem(
            sobject,
            field,
            f"output field for '{output}' does not exist",
            f"run `leadsync fields create`, or map {key} to another field in {MAPPING_FILE}",
        )
        return
    info = field_info(raw)
    allowed, _ = OUTPUT_TYPES[output]
    if info.type not in allowed:
        yield CheckProblem(
            sobject,
            field,
            f"is a {info.type} field; '{output}' needs {' or '.join(sorted(allowed))}",
            f"map '{output}' to a field of the right type, or recreate {field} as "
            f"{OUTPUT_TYPES[output][1]}",
        )
    if not info.updateable:
        yield CheckProblem(
            sobject,
            field,
            "the integration user cannot edit it (not updateable)",
            f"run `leadsync install`, or grant Edit on {sobject}.{field} in a permission set "
            "assigned to the integration user; a formula or read-only field cannot be "
            "written at all: map the output to another field",
        )
    short = info.length is not None and info.length < 255
    if output in ("reason", "recycle_reason") and info.type == "string" and short:
        yield CheckProblem(
            sobject,
            field,
            f"holds {info.length} characters; reasons are up to 255",
            f"set the length of {field} to 255",
        )
    if info.type == "picklist":
        for canonical, value in mapping.values.get(output, {}).items():
            if value not in info.picklist_values:
                yield CheckProblem(
                    sobject,
                    field,
                    f"picklist lacks the value {value!r} (for '{output}' = {canonical})",
                    f"add picklist value {value!r} to {sobject}.{field}, or change "
                    f"values.{output}.{canonical} in {MAPPING_FILE}",
                )


def _check_task_key(mapping: SalesforceMapping, describe: Describer) -> Iterator[CheckProblem]:
    key = mapping.task_key_field
    raw = resolve(describe, "Task", key)
    if raw is None:
        yield CheckProblem(
            "Task",
            key,
            "hand-off task key field does not exist (retries could duplicate tasks)",
            "run `leadsync fields create` (creates it as Text(80), External ID, Unique)",
        )
    elif not raw.get("externalId"):
        yield CheckProblem(
            "Task",
            key,
            "is not marked External ID, so tasks cannot be upserted on it",
            f"edit Activity field {key}: tick 'External ID' and 'Unique'",
        )


def _check_forms(mapping: SalesforceMapping, describe: Describer) -> Iterator[CheckProblem]:
    forms = mapping.activities.forms
    if forms.source != "custom_object":
        return
    if describe(forms.object) == {}:
        yield CheckProblem(
            forms.object,
            "*",
            "form submission object is not visible",
            f"create {forms.object} or set activities.forms.source to 'campaign_members' or "
            f"'none' in {MAPPING_FILE}; {_object_access_fix(forms.object)}",
        )
        return
    for key in FORM_FIELD_KEYS:
        path = getattr(forms, key)
        if not path:
            continue
        raw = resolve(describe, forms.object, path)
        if raw is None:
            yield missing_field(forms.object, path, f"activities.forms.{key}")
            continue
        yield from _check_read_type(
            forms.object, path, raw, _FORM_KINDS[key], f"activities.forms.{key}"
        )


def _object_access_fix(sobject: str) -> str:
    return f"grant the integration user Read access to {sobject}"


# -- creating fields -------------------------------------------------------------------------


def missing_outputs(mapping: SalesforceMapping, describe: Describer) -> list[tuple[str, str, str]]:
    """``(object, field, output)`` for every mapped output field the org lacks."""
    missing: list[tuple[str, str, str]] = []
    for sobject, obj in mapping.objects.items():
        for output, field in obj.outputs.items():
            if "." in field or not field.endswith("__c"):
                continue
            if describe(sobject) != {} and resolve(describe, sobject, field) is None:
                missing.append((sobject, field, output))
    return missing


def custom_field_body(
    sobject: str, field: str, output: str, mapping: SalesforceMapping
) -> dict[str, Any]:
    """The Tooling API ``CustomField`` create body for one LeadSync output."""
    _, kind = OUTPUT_TYPES[output]
    metadata: dict[str, Any] = {"label": f"LeadSync {_LABELS[output]}", "type": kind}
    metadata["description"] = f"Written by LeadSync ({output}); do not edit by hand."
    if kind == "Picklist":
        values = list(mapping.values.get(output, {}).values())
        metadata["valueSet"] = {
            "restricted": True,
            "valueSetDefinition": {
                "sorted": False,
                "value": [{"fullName": v, "label": v, "default": False} for v in values],
            },
        }
    elif kind == "Number":
        precision, scale = _NUMBER_SHAPE[output]
        metadata.update(precision=precision, scale=scale)
    elif kind == "Text":
        metadata["length"] = 255
    return {"FullName": f"{sobject}.{field}", "Metadata": metadata}


def task_key_body(field: str) -> dict[str, Any]:
    """The ``CustomField`` body for the Task external id (custom Task fields live on Activity)."""
    return {
        "FullName": f"Activity.{field}",
        "Metadata": {
            "label": "LeadSync Key",
            "type": "Text",
            "length": 80,
            "externalId": True,
            "unique": True,
            "caseSensitive": True,
            "description": "Hand-off key: makes LeadSync task creation idempotent.",
        },
    }
