"""What access LeadSync needs in an org, from the mapping and the org's describes.

A field created through the Tooling API is visible to no profile until field-level security
grants it, so describe leaves it out for the integration user; the Metadata API still reads it
(Setup's view). ``hidden_fields`` tells the two apart, so a missing grant is reported as one,
not as a missing field; ``wanted_grants`` lists read and edit per field for the installer's
permission sets, leaving out the fields no grant can name (describe's ``permissionable``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from connectors.salesforce.fields import Describer, resolve
from connectors.salesforce.mapping import FORM_FIELD_KEYS, SalesforceMapping


@dataclass(frozen=True, slots=True)
class FieldRef:
    """A field of an object: ``Lead.LeadSync_Fit__c``."""

    sobject: str
    field: str

    @property
    def qualified(self) -> str:
        return f"{self.sobject}.{self.field}"

    @property
    def metadata_name(self) -> str:
        """Its CustomField full name: custom activity fields live on Activity."""
        owner = "Activity" if self.sobject in ("Task", "Event") else self.sobject
        return f"{owner}.{self.field}"


def inputs(mapping: SalesforceMapping, describe: Describer) -> Iterator[FieldRef]:
    """Every field LeadSync reads from a person's record (relationship paths followed to the
    object that holds the field) and, when forms are a custom object, from submissions."""
    for sobject, obj in mapping.objects.items():
        identity = (obj.email, obj.status, obj.owner, obj.opt_out, obj.account)
        for path in [*(p for p in identity if p), *obj.attributes.values()]:
            yield _holder(describe, sobject, path)
    forms = mapping.activities.forms
    if forms.source == "custom_object":
        for key in FORM_FIELD_KEYS:
            path = getattr(forms, key)
            if path:
                yield _holder(describe, forms.object, path)


def outputs(mapping: SalesforceMapping) -> Iterator[FieldRef]:
    """Every field LeadSync writes: outputs, custom status fields (hand-off and recycle set
    them) and the Task key (hand-off upserts tasks on it)."""
    for sobject, obj in mapping.objects.items():
        for field in obj.outputs.values():
            if "." not in field:
                yield FieldRef(sobject, field)
        if obj.status and "." not in obj.status and obj.status.endswith("__c"):
            yield FieldRef(sobject, obj.status)
    yield FieldRef("Task", mapping.task_key_field)


def score_fields(mapping: SalesforceMapping) -> Iterator[FieldRef]:
    """The outputs sales reads in its views (scores, readiness, team and reasons)."""
    for sobject, obj in mapping.objects.items():
        for field in obj.outputs.values():
            if "." not in field:
                yield FieldRef(sobject, field)


def _holder(describe: Describer, sobject: str, path: str) -> FieldRef:
    """The object and field at the end of ``path`` (``Account.Industry`` from a Contact)."""
    head, _, rest = path.partition(".")
    if not rest:
        return FieldRef(sobject, head)
    fields = describe(sobject).get("fields") or []
    lookup = next((f for f in fields if f.get("relationshipName") == head), None)
    targets = (lookup or {}).get("referenceTo") or []
    if not targets:
        return FieldRef(sobject, path)  # unresolvable: ``check`` reports it
    return _holder(describe, str(targets[0]), rest)


def missing_custom(
    refs: Iterator[FieldRef] | list[FieldRef], describe: Describer
) -> list[FieldRef]:
    """Custom fields the describe does not show: absent from the org, or hidden by FLS."""
    found = []
    for ref in refs:
        if "." in ref.field or not ref.field.endswith("__c"):
            continue
        if describe(ref.sobject) != {} and resolve(describe, ref.sobject, ref.field) is None:
            found.append(ref)
    return list(dict.fromkeys(found))


@dataclass(frozen=True, slots=True)
class Grants:
    """Field access a permission set gives: ``Lead.Fit__c`` -> edit (True) or read (False)."""

    fields: Mapping[str, bool]

    def detail(self) -> str:
        edits = sum(1 for edit in self.fields.values() if edit)
        return f"edit on {edits} fields, read on {len(self.fields) - edits}"


def wanted_grants(
    reads: list[FieldRef], edits: list[FieldRef], describe: Describer, hidden: set[str]
) -> Grants:
    """Read on ``reads``, edit on ``edits``, for the fields that exist and take a grant."""
    fields: dict[str, bool] = {}
    for ref, edit in [*((r, False) for r in reads), *((e, True) for e in edits)]:
        raw = _raw(describe, ref)
        if raw is None and ref.qualified not in hidden:
            continue  # not in the org: ``check`` reports it, ``fields create`` makes outputs
        if raw is not None and not raw.get("permissionable", True):
            continue  # required and system fields: every user with the object sees them
        if edit and raw is not None and raw.get("calculated"):
            edit = False
        fields[ref.qualified] = fields.get(ref.qualified, False) or edit
    return Grants(fields)


def _raw(describe: Describer, ref: FieldRef) -> Mapping[str, Any] | None:
    if describe(ref.sobject) == {}:
        return None
    return resolve(describe, ref.sobject, ref.field)
