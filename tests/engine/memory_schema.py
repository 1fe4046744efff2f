"""The fields of the memory CRM's person records, and which values they refuse."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from leadsync.records import FieldInfo, RecordError

#: The fields a person record has, named as the engine names them: what people are read
#: with, and what LeadSync writes (a picklist's allowed values, like the real fields').
ATTRIBUTE_FIELDS = (
    "industry",
    "employees",
    "annual_revenue",
    "country",
    "state",
    "city",
    "title",
    "company",
    "website",
    "lead_source",
    "ownership",
)
PICKLISTS: dict[str, tuple[str, ...]] = {
    "fit": ("good", "poor"),
    "readiness": ("hand_raiser", "sales_ready", "unready", "do_not_contact"),
    "team": ("sales", "marketing"),
}
#: What a CRM answers to a write naming a record it never had.
NO_SUCH_RECORD = RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
NUMBER_FIELDS = ("score", "recycle_count", "account_score", "engaged_people")
TEXT_FIELDS = ("reason", "recycle_reason")


def person_fields() -> dict[str, FieldInfo]:
    """The fields every person record has (Leads and Contacts alike)."""
    fields = {name: FieldInfo(name, "string") for name in ATTRIBUTE_FIELDS}
    fields.update(
        {
            name: FieldInfo(name, "picklist", picklist_values=values, custom=True)
            for name, values in PICKLISTS.items()
        }
    )
    fields.update({name: FieldInfo(name, "double", custom=True) for name in NUMBER_FIELDS})
    fields.update({name: FieldInfo(name, "string", custom=True) for name in TEXT_FIELDS})
    fields["scored_at"] = FieldInfo("scored_at", "datetime", custom=True)
    return fields


def invalid_value(values: Mapping[str, Any]) -> RecordError | None:
    """The refusal of the first value its field does not take: a picklist value it does not
    list, a number field given something else (as Salesforce and HubSpot refuse them)."""
    for name, value in values.items():
        allowed = PICKLISTS.get(name)
        if allowed is not None and value is not None and value not in allowed:
            message = f"{value} was not one of the allowed options: [{', '.join(allowed)}]"
            return RecordError("INVALID_OPTION", message, (name,))
        number = isinstance(value, int | float | Decimal) and not isinstance(value, bool)
        if name in NUMBER_FIELDS and value is not None and not number:
            return RecordError("INVALID_NUMBER", f"{value!r} was not a valid number", (name,))
    return None
