"""The admin-editable field map (``mappings/hubspot.toml``) and the conversions it drives.

Reading: a HubSpot contact's properties become a ``PersonRecord`` whose ``attributes`` are keyed
by canonical names. Writing: canonical output values (fit, score ...) become HubSpot property
values in the format the API accepts (numbers and enumerations as strings, datetimes as ISO 8601
UTC). Both directions are pure functions of values so they are tested without HTTP.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from leadsync.config.loading import load
from leadsync.records import PersonRecord, RecordRef

PropertyType = Literal["enumeration", "number", "string", "datetime", "date", "bool"]
FieldType = Literal[
    "select", "radio", "checkbox", "booleancheckbox", "number", "text", "textarea", "date"
]

_DEFAULT_FIELD_TYPE: dict[str, str] = {
    "enumeration": "select",
    "number": "number",
    "string": "text",
    "datetime": "date",
    "date": "date",
    "bool": "booleancheckbox",
}

EmailEventType = Literal["OPEN", "CLICK", "STATUSCHANGE"]
_ALL_EMAIL_EVENT_TYPES: tuple[EmailEventType, ...] = ("OPEN", "CLICK", "STATUSCHANGE")

#: Canonical task priorities (``TaskRequest.priority``) to ``hs_task_priority`` values.
TASK_PRIORITY = {"High": "HIGH", "Normal": "MEDIUM", "Medium": "MEDIUM", "Low": "LOW"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ContactFields(_Strict):
    """Where the fields every connector needs live on a HubSpot contact."""

    email: str = "email"
    modified: str = "lastmodifieddate"
    owner: str = "hubspot_owner_id"
    status: str = "hs_lead_status"
    opted_out: str = "hs_email_optout"
    lifecycle_stage: str = "lifecyclestage"
    converted_at: str = "hs_lifecyclestage_customer_date"
    company_id: str = "associatedcompanyid"


class OutputProperty(_Strict):
    """One canonical output written to a contact property LeadSync owns."""

    property: str
    label: str
    type: PropertyType
    field_type: FieldType | None = None
    options: list[str] = Field(default_factory=list)
    description: str = ""

    @model_validator(mode="after")
    def _options_match_type(self) -> OutputProperty:
        if self.type == "enumeration" and not self.options:
            raise ValueError("an enumeration needs options = [...]")
        if self.type != "enumeration" and self.options:
            raise ValueError(f"options are only allowed for enumeration, not {self.type}")
        return self

    def effective_field_type(self) -> str:
        """The HubSpot ``fieldType`` to create the property with."""
        return self.field_type or _DEFAULT_FIELD_TYPE[self.type]


class TaskSettings(_Strict):
    """How hand-off tasks are written."""

    key_property: str = "leadsync_key"
    key_label: str = "LeadSync key"
    #: HUBSPOT_DEFINED association type id for task -> contact.
    contact_association_type_id: int = 204


class ActivitySources(_Strict):
    """Which activity sources ``pull_activities`` reads."""

    forms: bool = True
    email_events: bool = True
    marketing_events: bool = True
    meetings: bool = True
    calls: bool = True
    #: Email event types read from the email events API (STATUSCHANGE carries unsubscribes).
    email_event_types: list[EmailEventType] = Field(
        default_factory=lambda: list(_ALL_EMAIL_EVENT_TYPES)
    )


class HubSpotMapping(_Strict):
    """The whole ``mappings/hubspot.toml``."""

    group: str = "leadsync"
    group_label: str = "LeadSync"
    contact: ContactFields = ContactFields()
    #: canonical attribute name -> contact property read as is.
    attributes: dict[str, str] = Field(default_factory=dict)
    #: canonical output name -> the contact property it is written to.
    outputs: dict[str, OutputProperty] = Field(default_factory=dict)
    tasks: TaskSettings = TaskSettings()
    activities: ActivitySources = ActivitySources()
    #: Lifecycle stages that count as converted (``converted_at`` is read only for these).
    converted_stages: list[str] = Field(default_factory=lambda: ["customer"])

    @field_validator("attributes")
    @classmethod
    def _no_blank_properties(cls, value: dict[str, str]) -> dict[str, str]:
        blank = [k for k, v in value.items() if not v.strip()]
        if blank:
            raise ValueError(f"property name is empty for {', '.join(blank)}")
        return value

    def read_properties(self) -> list[str]:
        """Every contact property ``pull_people`` asks for, without duplicates."""
        c = self.contact
        wanted = [
            c.email,
            c.modified,
            c.owner,
            c.status,
            c.opted_out,
            c.lifecycle_stage,
            c.converted_at,
            c.company_id,
            *self.attributes.values(),
        ]
        return list(dict.fromkeys(wanted))


def load_mapping(path: Path) -> HubSpotMapping:
    """Read and validate a HubSpot mapping file; problems name the file and key."""
    return load(HubSpotMapping, path)


# -- reading ------------------------------------------------------------------------------------


def parse_time(value: Any) -> datetime | None:
    """A HubSpot timestamp (ISO 8601 string, epoch milliseconds, or datetime) as aware UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float) or (isinstance(value, str) and value.isdigit()):
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def to_millis(moment: datetime) -> int:
    """Epoch milliseconds, the unit HubSpot's search filters and legacy APIs use."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return int(aware.timestamp() * 1000)


def person_from_contact(
    connector: str, obj: Mapping[str, Any], mapping: HubSpotMapping
) -> PersonRecord:
    """One contact (search, list or archived-list JSON) as a canonical ``PersonRecord``."""
    props: Mapping[str, Any] = obj.get("properties") or {}
    c = mapping.contact
    archived = bool(obj.get("archived"))
    modified = (
        parse_time(obj.get("archivedAt") if archived else None)
        or parse_time(props.get(c.modified))
        or parse_time(obj.get("updatedAt"))
        or datetime.fromtimestamp(0, tz=UTC)
    )
    attributes = {
        name: props.get(prop)
        for name, prop in mapping.attributes.items()
        if props.get(prop) not in (None, "")
    }
    stage = str(props.get(c.lifecycle_stage) or "")
    converted = parse_time(props.get(c.converted_at))
    if converted is None and stage in mapping.converted_stages:
        converted = modified
    email = props.get(c.email)
    company = props.get(c.company_id)
    return PersonRecord(
        ref=RecordRef(connector, "contact", str(obj["id"])),
        email=str(email).strip() if email else None,
        modified_at=modified,
        attributes=attributes,
        owner_id=str(props[c.owner]) if props.get(c.owner) else None,
        status=str(props[c.status]) if props.get(c.status) else None,
        opted_out=str(props.get(c.opted_out) or "").lower() == "true",
        account_id=str(company) if company else None,
        converted_at=converted,
        deleted=archived,
    )


# -- writing ------------------------------------------------------------------------------------


class UnmappedOutput(ValueError):
    """An update names a canonical output the mapping does not map."""


def format_value(value: Any, prop: OutputProperty | None = None) -> str:
    """A Python value as the string HubSpot's property APIs accept."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if (
        isinstance(value, float)
        and value.is_integer()
        and prop is not None
        and prop.type == "number"
    ):
        return str(int(value))
    return str(value)


def output_properties(values: Mapping[str, Any], mapping: HubSpotMapping) -> dict[str, str]:
    """Canonical output values as ``{property: value}``; an unmapped name raises."""
    out: dict[str, str] = {}
    for name, value in values.items():
        prop = mapping.outputs.get(name)
        if prop is None:
            raise UnmappedOutput(
                f"output {name!r} has no [outputs.{name}] entry in the HubSpot mapping"
            )
        out[prop.property] = format_value(value, prop)
    return out
