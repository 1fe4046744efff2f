"""The admin-editable field map (``mappings/hubspot.toml``) and the conversions it drives.

Reading: a HubSpot contact's properties become a ``PersonRecord`` whose ``attributes`` are keyed
by canonical names. Writing: canonical output values (fit, score ...) become HubSpot property
values in the format the API accepts (numbers and enumerations as strings, datetimes as ISO 8601
UTC). Both directions are pure functions of values so they are tested without HTTP.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, date, datetime
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from leadsync.config.loading import load
from leadsync.emails import normalize_email
from leadsync.model.values import FITS, READINESS_LEVELS, Team
from leadsync.records import PersonRecord, RecordRef, UnreadableValue

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

#: Canonical outputs the engine sends in ``RecordUpdate.values`` (the same names Salesforce maps).
OUTPUT_NAMES = (
    "fit",
    "score",
    "readiness",
    "team",
    "reason",
    "scored_at",
    "recycle_count",
    "recycle_reason",
    "account_score",
    "engaged_people",
)

#: Every value LeadSync writes to each enumeration output: a value table must map each one.
CANONICAL_VALUES: dict[str, tuple[str, ...]] = {
    "fit": FITS,
    "readiness": READINESS_LEVELS,
    "team": get_args(Team),
}

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
    #: When the contact entered the CRM (the report dates a lead by it).
    created: str = "createdate"


class OutputProperty(_Strict):
    """One canonical output written to a contact property LeadSync owns."""

    property: str
    label: str
    type: PropertyType
    field_type: FieldType | None = None
    #: The older form of a value table: option values equal to the canonical values.
    #: ``[values.<output>]`` replaces it and wins when both are given.
    options: list[str] = Field(default_factory=list)
    description: str = ""

    @model_validator(mode="after")
    def _options_match_type(self) -> OutputProperty:
        if self.type != "enumeration" and self.options:
            raise ValueError(f"options are only allowed for enumeration, not {self.type}")
        return self

    def effective_field_type(self) -> str:
        """The HubSpot ``fieldType`` to create the property with."""
        return self.field_type or _DEFAULT_FIELD_TYPE[self.type]


class OptionValue(_Strict):
    """The portal's option for one canonical value: ``value`` is what the API takes (the
    option's internal value), ``label`` what people read (and what ``fields create`` names
    the option). Written ``good = "Good"`` (both) or ``good = { value = "good", label = "Good" }``.
    """

    value: str
    label: str = ""

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, raw: Any) -> Any:
        return {"value": raw} if isinstance(raw, str) else raw

    @model_validator(mode="after")
    def _label_defaults_to_value(self) -> OptionValue:
        if not self.value.strip():
            raise ValueError("an option value cannot be empty")
        if not self.label:
            object.__setattr__(self, "label", self.value)
        return self


def _humane(canonical: str) -> str:
    """``hand_raiser`` -> ``Hand raiser``: the label an option gets when nobody named one."""
    return canonical.replace("_", " ").capitalize()


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


#: A deal stage's internal value: ``closedwon`` in the default pipeline, a number in others.
_STAGE_ID = re.compile(r"[A-Za-z0-9_.:-]{1,100}")


class ConversionSettings(_Strict):
    """What counts as a contact's conversion besides its lifecycle stage."""

    #: Deal stages (internal values) that mean won: a contact on a deal in one of them
    #: converted at the deal's ``closedate`` when that comes first. Empty: deals are not read.
    won_deal_stages: list[str] = Field(default_factory=list)

    @field_validator("won_deal_stages")
    @classmethod
    def _stage_ids(cls, value: list[str]) -> list[str]:
        for stage in value:
            if not _STAGE_ID.fullmatch(stage):
                raise ValueError(
                    f"{stage!r} is not a deal stage's internal value; allowed: letters, digits "
                    "and _ . : - (closedwon in the default pipeline; Settings > Objects > "
                    "Deals > Pipelines shows each stage's internal value)"
                )
        return list(dict.fromkeys(value))


class HubSpotMapping(_Strict):
    """The whole ``mappings/hubspot.toml``."""

    group: str = "leadsync"
    group_label: str = "LeadSync"
    contact: ContactFields = ContactFields()
    #: canonical attribute name -> contact property read as is.
    attributes: dict[str, str] = Field(default_factory=dict)
    #: canonical output name -> the contact property it is written to.
    outputs: dict[str, OutputProperty] = Field(default_factory=dict)
    #: Canonical value -> the portal's option, per enumeration output (fit, readiness, team).
    values: dict[str, dict[str, OptionValue]] = Field(default_factory=dict)
    tasks: TaskSettings = TaskSettings()
    activities: ActivitySources = ActivitySources()
    #: Lifecycle stages that count as converted: a contact converted when it first entered
    #: any of them (HubSpot's ``hs_lifecyclestage_<stage>_date``, or ``contact.converted_at``).
    converted_stages: list[str] = Field(default_factory=lambda: ["customer"])
    conversion: ConversionSettings = ConversionSettings()

    @model_validator(mode="after")
    def _value_tables_fit_outputs(self) -> HubSpotMapping:
        for name, table in self.values.items():
            out = self.outputs.get(name)
            if out is None or out.type != "enumeration":
                enums = [n for n, o in self.outputs.items() if o.type == "enumeration"]
                raise ValueError(
                    f"[values.{name}]: {name!r} is not an enumeration output; value tables "
                    f"are for {', '.join(enums) or 'enumeration outputs'}"
                )
            known = CANONICAL_VALUES.get(name)
            unknown = sorted(set(table) - set(known)) if known else []
            if unknown:
                raise ValueError(
                    f"[values.{name}]: LeadSync never writes {', '.join(map(repr, unknown))}; "
                    f"its values are {', '.join(known or ())}"
                )
        for name, out in self.outputs.items():
            if out.type == "enumeration" and not (out.options or name in self.values):
                raise ValueError(
                    f"[outputs.{name}] is an enumeration: add a [values.{name}] table mapping "
                    "each LeadSync value to the portal's option value"
                )
        return self

    @cached_property
    def _option_tables(self) -> dict[str, dict[str, OptionValue]]:
        tables = {
            name: {v: OptionValue(value=v, label=_humane(v)) for v in out.options}
            for name, out in self.outputs.items()
            if out.type == "enumeration"
        }
        return tables | {name: dict(table) for name, table in self.values.items()}

    def option_table(self, output: str) -> dict[str, OptionValue]:
        """Canonical value -> option for an enumeration output (``[values.*]``, else the
        older ``options = [...]`` list, whose option values are the canonical values)."""
        return self._option_tables.get(output, {})

    def crm_value(self, output: str, value: Any) -> Any:
        """The option value the portal takes for a canonical value (``good`` -> ``Good``);
        anything the table does not name is written as is."""
        if isinstance(value, str):
            option = self._option_tables.get(output, {}).get(value)
            if option is not None:
                return option.value
        return value

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
            *self.stage_date_properties(),
            c.company_id,
            c.created,
            *self.attributes.values(),
        ]
        return list(dict.fromkeys(wanted))

    def stage_date_properties(self) -> list[str]:
        """HubSpot's "date entered <stage>" property of each converted stage."""
        return [f"hs_lifecyclestage_{stage}_date" for stage in self.converted_stages]


def load_mapping(path: Path) -> HubSpotMapping:
    """Read and validate a HubSpot mapping file; problems name the file and key."""
    return load(HubSpotMapping, path)


# -- reading ------------------------------------------------------------------------------------


#: Epoch milliseconds as HubSpot writes them (negative before 1970).
_MILLIS = re.compile(r"-?\d{1,18}")
#: A HubSpot object or owner id: a decimal number (64-bit).
_OBJECT_ID = re.compile(r"\d{1,20}")
#: Longest lead status LeadSync keeps (the store's column); a longer one is no option value.
_STATUS_CHARS = 255
#: What a pull stores as the time of a value it cannot read: older than anything, so it never
#: moves a cursor and never wins "most recently modified".
UNKNOWN_TIME = datetime(1970, 1, 1, tzinfo=UTC)


def read_time(value: Any) -> datetime | None:
    """A HubSpot timestamp (ISO 8601 string, epoch milliseconds, or datetime) as aware UTC;
    None when empty. Raises ``ValueError`` for anything else, an out-of-range year included."""
    if value is None or value == "":
        return None
    try:
        if isinstance(value, datetime):
            return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(value / 1000, tz=UTC)
        if isinstance(value, str):
            if _MILLIS.fullmatch(value):
                return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):
        pass
    raise ValueError(f"not a HubSpot timestamp: {value!r}"[:200])


def parse_time(value: Any) -> datetime | None:
    """:func:`read_time`, with None for a value that is not a timestamp too; never raises."""
    try:
        return read_time(value)
    except ValueError:
        return None


def to_millis(moment: datetime) -> int:
    """Epoch milliseconds, the unit HubSpot's search filters and legacy APIs use."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return int(aware.timestamp() * 1000)


class ValueReader:
    """Reads one object's values without raising: a value that cannot be read is noted
    (field, raw value, what was expected) and read as missing, or as its safe default."""

    __slots__ = ("notes", "ref")

    def __init__(self, ref: RecordRef) -> None:
        self.ref = ref
        self.notes: list[UnreadableValue] = []

    def note(self, field: str, value: Any, problem: str) -> None:
        self.notes.append(UnreadableValue.of(self.ref, field, value, problem))

    def time(
        self, field: str, value: Any, problem: str = "not a date-time; left empty"
    ) -> datetime | None:
        try:
            return read_time(value)
        except ValueError:
            self.note(field, value, problem)
            return None

    def first_time(self, *fields: tuple[str, Any]) -> datetime | None:
        """The first of ``(field, value)`` that holds a value decides; None when that value
        cannot be read, or none holds one (the activity cannot be placed in time)."""
        for field, value in fields:
            if value is not None and value != "":
                return self.time(field, value, "not a date-time; the activity is not counted")
        names = "/".join(field for field, _ in fields)
        self.note(names, None, "no time in any of these fields; not counted")
        return None

    def text(self, field: str, value: Any, limit: int | None = None) -> str | None:
        if value is None or value == "":
            return None
        if isinstance(value, str):
            if limit is None or len(value) <= limit:
                return value
            self.note(field, value, f"longer than {limit:,} characters; left empty")
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, float) and math.isfinite(value):
            return repr(value)
        self.note(field, value, "not text; left empty")
        return None

    def object_id(self, field: str, value: Any) -> str | None:
        if value is None or value == "":
            return None
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            value = str(value)
        if isinstance(value, str) and _OBJECT_ID.fullmatch(value):
            return value
        self.note(field, value, "not a HubSpot id; left empty")
        return None

    def email(self, field: str, value: Any) -> str | None:
        if value is None or value == "":
            return None
        if isinstance(value, str) and normalize_email(value) is not None:
            return value.strip()
        self.note(field, value, "not an email address; left empty")
        return None

    def flag(self, field: str, value: Any, unreadable_as: bool, problem: str) -> bool:
        if value is None or value == "":
            return False
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        self.note(field, value, problem)
        return unreadable_as

    def attribute(self, field: str, value: Any) -> tuple[bool, Any]:
        """``(True, value)`` for a value the model can read (text, a number, a checkbox),
        ``(False, None)`` for one it cannot or for nothing: it is left out of the attributes."""
        if value is None or value == "":
            return False, None
        if isinstance(value, str | bool | int):
            return True, value
        if isinstance(value, float):
            if math.isfinite(value):
                return True, value
            self.note(field, value, "not a finite number; left out")
            return False, None
        self.note(field, value, "not a single value; left out")
        return False, None


def object_id_text(value: Any) -> str:
    """An object's own id as text; anything else is "" (the store skips and reports it)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value if isinstance(value, str) else ""


def person_from_contact(
    connector: str, obj: Mapping[str, Any], mapping: HubSpotMapping
) -> PersonRecord:
    """One contact (search, list or archived-list JSON) as a canonical ``PersonRecord``.

    Never raises: what cannot be read is left out (an unreadable opt-out reads as opted out)
    and listed in ``unreadable``."""
    raw_props = obj.get("properties")
    props: Mapping[str, Any] = raw_props if isinstance(raw_props, Mapping) else {}
    c = mapping.contact
    read = ValueReader(RecordRef(connector, "contact", object_id_text(obj.get("id"))))
    archived = obj.get("archived") is True
    modified = (
        (read.time("archivedAt", obj.get("archivedAt")) if archived else None)
        or read.time(c.modified, props.get(c.modified), "not a date-time; updatedAt used")
        or read.time("updatedAt", obj.get("updatedAt"), "not a date-time; read as 1970")
        or UNKNOWN_TIME
    )
    attributes = {}
    for name, prop in mapping.attributes.items():
        readable, value = read.attribute(prop, props.get(prop))
        if readable:
            attributes[name] = value
    stage = read.text(c.lifecycle_stage, props.get(c.lifecycle_stage)) or ""
    # The first entry into any converted stage: a contact that went opportunity -> customer
    # converted when it became an opportunity, if both count.
    entered = [
        read.time(name, props.get(name))
        for name in dict.fromkeys([c.converted_at, *mapping.stage_date_properties()])
    ]
    converted = min((t for t in entered if t is not None), default=None)
    if converted is None and stage in mapping.converted_stages:
        converted = modified
    person = PersonRecord(
        ref=read.ref,
        email=read.email(c.email, props.get(c.email)),
        modified_at=modified,
        attributes=attributes,
        owner_id=read.object_id(c.owner, props.get(c.owner)),
        status=read.text(c.status, props.get(c.status), _STATUS_CHARS),
        # Compliance: when LeadSync cannot tell, do-not-contact wins.
        opted_out=read.flag(
            c.opted_out,
            props.get(c.opted_out),
            True,
            "not a checkbox value (true or false); read as opted out",
        ),
        account_id=read.object_id(c.company_id, props.get(c.company_id)),
        converted_at=converted,
        deleted=archived,
        created_at=read.time(c.created, props.get(c.created)),
    )
    # An archived contact has nothing left to fix.
    if read.notes and not archived:
        person = replace(person, unreadable=tuple(read.notes))
    return person


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
        out[prop.property] = format_value(mapping.crm_value(name, value), prop)
    return out
