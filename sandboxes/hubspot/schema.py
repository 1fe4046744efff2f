"""Property definitions of the emulated portal and HubSpot's rules for property values.

Every CRM value travels as a string, as in HubSpot: numbers as decimal strings, booleans as
``"true"``/``"false"``, ``datetime`` properties as ISO-8601 instants and ``date`` properties as
``YYYY-MM-DD``. On input HubSpot also accepts epoch milliseconds for both; :func:`coerce_value`
normalises what HubSpot would store, or names the error code HubSpot answers with.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

#: ``type`` -> the ``fieldType`` values HubSpot accepts with it.
FIELD_TYPES: dict[str, frozenset[str]] = {
    "string": frozenset({"text", "textarea", "phonenumber", "html", "file"}),
    "number": frozenset({"number", "calculation_equation"}),
    "date": frozenset({"date"}),
    "datetime": frozenset({"date"}),
    "enumeration": frozenset({"select", "radio", "checkbox", "booleancheckbox"}),
    "bool": frozenset({"booleancheckbox", "calculation_equation"}),
}

EPOCH_ISO = "1970-01-01T00:00:00Z"

# HubSpot accepts numbers written plainly: no thousands separators, no units.
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


class ValueRejected(ValueError):
    """One property value HubSpot would refuse; ``code`` is HubSpot's own error code."""

    def __init__(self, name: str, code: str, message: str) -> None:
        self.name = name
        self.code = code
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class Option:
    value: str
    label: str

    def to_json(self, order: int) -> dict[str, Any]:
        return {
            "label": self.label,
            "value": self.value,
            "displayOrder": order,
            "hidden": False,
            "description": "",
        }


def iso_instant(moment: datetime) -> str:
    """HubSpot's datetime rendering: UTC with milliseconds and a ``Z``."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_instant(text: str) -> datetime:
    """Parse epoch milliseconds or an ISO-8601 instant (as HubSpot accepts them) to UTC."""
    stripped = text.strip()
    if re.fullmatch(r"-?\d+", stripped):
        return datetime.fromtimestamp(int(stripped) / 1000, tz=UTC)
    moment = datetime.fromisoformat(stripped.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def to_millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def coerce_value(prop: dict[str, Any], raw: Any) -> str:
    """The string HubSpot stores for ``raw`` written to ``prop``; raises :class:`ValueRejected`.

    An empty string clears any property, as in HubSpot.
    """
    name = prop["name"]
    if raw is None:
        return ""
    text = str(raw).lower() if isinstance(raw, bool) else str(raw)
    if text == "":
        return ""
    kind = prop["type"]
    if kind == "number":
        if not _NUMBER.match(text.strip()):
            raise ValueRejected(name, "INVALID_INTEGER", f"{text} was not a valid number.")
        return text.strip()
    if kind == "bool":
        if text.lower() not in ("true", "false"):
            raise ValueRejected(
                name, "INVALID_OPTION", f"{text} was not one of the allowed options: [true, false]"
            )
        return text.lower()
    if kind == "enumeration":
        allowed = [o["value"] for o in prop.get("options", [])]
        chosen = text.split(";") if prop.get("fieldType") == "checkbox" else [text]
        for value in chosen:
            if value not in allowed:
                raise ValueRejected(
                    name,
                    "INVALID_OPTION",
                    f"{value} was not one of the allowed options: [{', '.join(allowed)}]",
                )
        return text
    if kind == "datetime":
        try:
            return iso_instant(parse_instant(text))
        except ValueError:
            raise ValueRejected(name, "INVALID_DATE", f"{text} was not a valid date.") from None
    if kind == "date":
        return _coerce_date(name, text)
    return text


def _coerce_date(name: str, text: str) -> str:
    stripped = text.strip()
    try:
        if re.fullmatch(r"-?\d+", stripped):
            moment = datetime.fromtimestamp(int(stripped) / 1000, tz=UTC)
            # HubSpot date properties take midnight UTC only; anything else is refused.
            if (moment.hour, moment.minute, moment.second, moment.microsecond) != (0, 0, 0, 0):
                raise ValueError(stripped)
            return moment.date().isoformat()
        return date.fromisoformat(stripped).isoformat()
    except ValueError:
        raise ValueRejected(
            name, "INVALID_DATE", f"{text} is at not midnight UTC or not a valid date."
        ) from None


def comparable(prop: dict[str, Any] | None, value: str) -> Any:
    """A sort/compare key for a stored or filter value of ``prop`` (numbers, instants, text)."""
    kind = prop["type"] if prop else "string"
    try:
        if kind == "number":
            return float(value)
        if kind == "datetime":
            return to_millis(parse_instant(value))
        if kind == "date":
            if re.fullmatch(r"-?\d+", value.strip()):
                return int(value)
            return to_millis(datetime.combine(date.fromisoformat(value), datetime.min.time(), UTC))
    except ValueError:
        return value.lower()
    return value.lower()


def prop(
    name: str,
    label: str,
    kind: str,
    field_type: str,
    group: str,
    *,
    options: Sequence[Option] = (),
    read_only: bool = False,
    hubspot_defined: bool = True,
    unique: bool = False,
    description: str = "",
) -> dict[str, Any]:
    """A property definition in the JSON shape HubSpot's properties API answers with."""
    return {
        "name": name,
        "label": label,
        "type": kind,
        "fieldType": field_type,
        "groupName": group,
        "description": description,
        "options": [o.to_json(i) for i, o in enumerate(options)],
        "displayOrder": -1,
        "calculated": False,
        "externalOptions": False,
        "hasUniqueValue": unique,
        "hidden": False,
        "hubspotDefined": hubspot_defined,
        "formField": not read_only,
        "modificationMetadata": {
            "archivable": not hubspot_defined,
            "readOnlyDefinition": hubspot_defined,
            "readOnlyValue": read_only,
        },
        "createdAt": EPOCH_ISO,
        "updatedAt": EPOCH_ISO,
        "archived": False,
    }


def owner_prop(group: str, label: str) -> dict[str, Any]:
    """``hubspot_owner_id``: an enumeration whose options are the portal's active owners."""
    definition = prop("hubspot_owner_id", label, "enumeration", "select", group)
    definition["externalOptions"] = True
    definition["referencedObjectType"] = "OWNER"
    return definition


def _opts(*pairs: str) -> list[Option]:
    return [Option(value=p, label=p.replace("_", " ").title()) for p in pairs]


LIFECYCLE_STAGES = (
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
)
_STAGE_LABELS = {
    "marketingqualifiedlead": "Marketing Qualified Lead",
    "salesqualifiedlead": "Sales Qualified Lead",
}


def lifecycle_date_prop(stage: str) -> str:
    """HubSpot's calculated "Date entered '<stage> (Lifecycle Stage Pipeline)'" property."""
    return f"hs_lifecyclestage_{stage}_date"


def lifecycle_dates(
    before: Mapping[str, str], after: Mapping[str, str], stamp: str
) -> dict[str, str]:
    """The stage dates a change of ``lifecyclestage`` sets: the first entry into a stage only."""
    stage = after.get("lifecyclestage", "")
    if stage not in LIFECYCLE_STAGES or stage == before.get("lifecyclestage", ""):
        return {}
    name = lifecycle_date_prop(stage)
    return {} if before.get(name) else {name: stamp}


LEAD_STATUSES = (
    "NEW",
    "OPEN",
    "IN_PROGRESS",
    "OPEN_DEAL",
    "UNQUALIFIED",
    "ATTEMPTED_TO_CONTACT",
    "CONNECTED",
    "BAD_TIMING",
)
#: HubSpot's own ``numemployees`` ranges: an enumeration, not a number.
EMPLOYEE_RANGES = (
    "1-5",
    "5-25",
    "25-50",
    "50-100",
    "100-500",
    "500-1000",
    "1000+",
    "1000-5000",
    "5000-10000",
    "10000+",
)
ANALYTICS_SOURCES = (
    "ORGANIC_SEARCH",
    "PAID_SEARCH",
    "EMAIL_MARKETING",
    "SOCIAL_MEDIA",
    "REFERRALS",
    "OTHER_CAMPAIGNS",
    "DIRECT_TRAFFIC",
    "OFFLINE",
    "PAID_SOCIAL",
)

GROUPS: dict[str, list[tuple[str, str]]] = {
    "contacts": [
        ("contactinformation", "Contact information"),
        ("emailinformation", "Email information"),
        ("analyticsinformation", "Web analytics history"),
        ("conversioninformation", "Conversion information"),
        ("sales_properties", "Sales properties"),
    ],
    "tasks": [("task", "Task information")],
    "meetings": [("meeting", "Meeting information")],
    "calls": [("call", "Call information")],
    "deals": [("dealinformation", "Deal information")],
}

_ENGAGEMENT_COMMON = ("hs_timestamp", "hubspot_owner_id")


def _system(group: str, *, contact: bool) -> list[dict[str, Any]]:
    modified = "lastmodifieddate" if contact else "hs_lastmodifieddate"
    created = "createdate" if contact else "hs_createdate"
    return [
        prop("hs_object_id", "Record ID", "number", "number", group, read_only=True),
        prop(created, "Create Date", "datetime", "date", group, read_only=True),
        prop(modified, "Last Modified Date", "datetime", "date", group, read_only=True),
    ]


def contact_properties() -> list[dict[str, Any]]:
    ci = "contactinformation"
    text = [
        ("firstname", "First Name"),
        ("lastname", "Last Name"),
        ("company", "Company Name"),
        ("jobtitle", "Job Title"),
        ("phone", "Phone Number"),
        ("country", "Country/Region"),
        ("state", "State/Region"),
        ("city", "City"),
        ("website", "Website URL"),
    ]
    props = _system(ci, contact=True)
    props.append(prop("email", "Email", "string", "text", ci, unique=True))
    props += [prop(n, label, "string", "text", ci) for n, label in text]
    props += [
        prop("industry", "Industry", "string", "text", ci),
        prop("annualrevenue", "Annual Revenue", "string", "text", ci),
        prop(
            "numemployees",
            "Number of Employees",
            "enumeration",
            "select",
            ci,
            options=[Option(r, r) for r in EMPLOYEE_RANGES],
        ),
        prop(
            "lifecyclestage",
            "Lifecycle Stage",
            "enumeration",
            "radio",
            ci,
            options=_opts(*LIFECYCLE_STAGES),
        ),
        prop(
            "hs_lead_status",
            "Lead Status",
            "enumeration",
            "radio",
            "sales_properties",
            options=_opts(*LEAD_STATUSES),
        ),
        owner_prop("sales_properties", "Contact owner"),
        prop(
            "hs_email_optout",
            "Unsubscribed from all email",
            "bool",
            "booleancheckbox",
            "emailinformation",
            read_only=True,
        ),
        prop(
            "hs_analytics_source",
            "Original Source",
            "enumeration",
            "select",
            "analyticsinformation",
            options=_opts(*ANALYTICS_SOURCES),
            read_only=True,
        ),
    ]
    # Standard in every portal: HubSpot stamps "Date entered '<stage> (Lifecycle Stage
    # Pipeline)'" (formerly "Became a <stage> Date") the first time a contact
    # enters each lifecycle stage (``lifecycle_dates``), and keeps the primary company's id.
    props += [
        prop(
            lifecycle_date_prop(stage),
            f"Date entered '{_STAGE_LABELS.get(stage, stage.title())} (Lifecycle Stage Pipeline)'",
            "datetime",
            "date",
            ci,
            read_only=True,
        )
        for stage in LIFECYCLE_STAGES
    ]
    props.append(
        prop("associatedcompanyid", "Primary Associated Company ID", "number", "number", ci)
    )
    # Calculated by HubSpot on every form submission (see ``PortalState.add_form_submission``).
    conversion = "conversioninformation"
    props += [
        prop(name, label, kind, field, conversion, read_only=True)
        for name, label, kind, field in (
            ("first_conversion_date", "First Conversion Date", "datetime", "date"),
            ("first_conversion_event_name", "First Conversion", "string", "text"),
            ("recent_conversion_date", "Recent Conversion Date", "datetime", "date"),
            ("recent_conversion_event_name", "Recent Conversion", "string", "text"),
            ("num_conversion_events", "Number of Form Submissions", "number", "number"),
        )
    ]
    return props


def task_properties() -> list[dict[str, Any]]:
    g = "task"
    return [
        *_system(g, contact=False),
        prop("hs_timestamp", "Due date", "datetime", "date", g),
        prop("hs_task_subject", "Task Title", "string", "text", g),
        prop("hs_task_body", "Notes", "string", "textarea", g),
        prop(
            "hs_task_status",
            "Task Status",
            "enumeration",
            "select",
            g,
            options=_opts("NOT_STARTED", "IN_PROGRESS", "WAITING", "COMPLETED", "DEFERRED"),
        ),
        prop(
            "hs_task_priority",
            "Priority",
            "enumeration",
            "select",
            g,
            options=_opts("NONE", "LOW", "MEDIUM", "HIGH"),
        ),
        prop(
            "hs_task_type",
            "Task Type",
            "enumeration",
            "select",
            g,
            options=_opts("CALL", "EMAIL", "TODO"),
        ),
        owner_prop(g, "Assigned to"),
        prop(
            "leadsync_key",
            "LeadSync hand-off key",
            "string",
            "text",
            g,
            hubspot_defined=False,
            unique=True,
            description="Stable key of one LeadSync hand-off, so a retried task upserts.",
        ),
    ]


def meeting_properties() -> list[dict[str, Any]]:
    g = "meeting"
    outcomes = _opts("SCHEDULED", "COMPLETED", "RESCHEDULED", "NO_SHOW", "CANCELED")
    return [
        *_system(g, contact=False),
        prop("hs_timestamp", "Activity date", "datetime", "date", g),
        prop("hs_meeting_title", "Meeting name", "string", "text", g),
        prop("hs_meeting_body", "Meeting description", "string", "textarea", g),
        prop("hs_meeting_start_time", "Start Time", "datetime", "date", g),
        prop("hs_meeting_end_time", "End Time", "datetime", "date", g),
        prop("hs_meeting_outcome", "Outcome", "enumeration", "select", g, options=outcomes),
        owner_prop(g, "Activity assigned to"),
    ]


def call_properties() -> list[dict[str, Any]]:
    g = "call"
    statuses = _opts("BUSY", "CALLING_CRM_USER", "CANCELED", "COMPLETED", "CONNECTING", "FAILED")
    return [
        *_system(g, contact=False),
        prop("hs_timestamp", "Activity date", "datetime", "date", g),
        prop("hs_call_title", "Call Title", "string", "text", g),
        prop("hs_call_body", "Call notes", "string", "textarea", g),
        prop(
            "hs_call_direction",
            "Call direction",
            "enumeration",
            "select",
            g,
            options=_opts("INBOUND", "OUTBOUND"),
        ),
        prop("hs_call_duration", "Call duration", "number", "number", g),
        prop("hs_call_status", "Call status", "enumeration", "select", g, options=statuses),
        owner_prop(g, "Activity assigned to"),
    ]


#: The default pipeline's stages, as HubSpot ships it: (internal value, label).
DEAL_STAGES = (
    ("appointmentscheduled", "Appointment Scheduled"),
    ("qualifiedtobuy", "Qualified To Buy"),
    ("presentationscheduled", "Presentation Scheduled"),
    ("decisionmakerboughtin", "Decision Maker Bought-In"),
    ("contractsent", "Contract Sent"),
    ("closedwon", "Closed Won"),
    ("closedlost", "Closed Lost"),
)


def deal_properties() -> list[dict[str, Any]]:
    g = "dealinformation"
    return [
        prop("hs_object_id", "Record ID", "number", "number", g, read_only=True),
        # Deals keep their create date in ``createdate``, as contacts do.
        prop("createdate", "Create Date", "datetime", "date", g, read_only=True),
        prop("hs_lastmodifieddate", "Last Modified Date", "datetime", "date", g, read_only=True),
        prop("dealname", "Deal Name", "string", "text", g),
        prop("pipeline", "Pipeline", "enumeration", "select", g, options=_opts("default")),
        prop(
            "dealstage",
            "Deal Stage",
            "enumeration",
            "select",
            g,
            options=[Option(value, label) for value, label in DEAL_STAGES],
        ),
        prop("closedate", "Close Date", "datetime", "date", g),
        prop("amount", "Amount", "number", "number", g),
        owner_prop(g, "Deal owner"),
    ]


LEADSYNC_GROUP = ("leadsync", "LeadSync")


def leadsync_output_properties() -> list[dict[str, Any]]:
    """The contact properties LeadSync writes, in the ``leadsync`` group."""
    g = LEADSYNC_GROUP[0]

    def custom(name: str, label: str, kind: str, field: str, **kw: Any) -> dict[str, Any]:
        return prop(name, label, kind, field, g, hubspot_defined=False, **kw)

    return [
        custom("leadsync_fit", "Fit", "enumeration", "select", options=_opts("good", "poor")),
        custom("leadsync_score", "Engagement score", "number", "number"),
        custom(
            "leadsync_readiness",
            "Sales readiness",
            "enumeration",
            "select",
            options=_opts("hand_raiser", "sales_ready", "unready", "do_not_contact"),
        ),
        custom(
            "leadsync_team",
            "Team in charge",
            "enumeration",
            "select",
            options=_opts("sales", "marketing"),
        ),
        custom("leadsync_reason", "Qualification reason", "string", "textarea"),
        custom("leadsync_scored_at", "Scored at", "datetime", "date"),
        custom("leadsync_recycle_count", "Recycle count", "number", "number"),
        custom("leadsync_recycle_reason", "Recycle reason", "string", "text"),
        custom("leadsync_account_score", "Account engagement score", "number", "number"),
        custom("leadsync_engaged_people", "Engaged people at account", "number", "number"),
    ]


def default_properties(object_type: str) -> list[dict[str, Any]]:
    return {
        "contacts": contact_properties,
        "tasks": task_properties,
        "meetings": meeting_properties,
        "calls": call_properties,
        "deals": deal_properties,
    }[object_type]()


#: Properties a v3 object read returns when the caller names none, per object type.
DEFAULT_READ: dict[str, tuple[str, ...]] = {
    "contacts": (
        "createdate",
        "email",
        "firstname",
        "hs_object_id",
        "lastmodifieddate",
        "lastname",
    ),
    "tasks": ("hs_createdate", "hs_lastmodifieddate", "hs_object_id"),
    "meetings": ("hs_createdate", "hs_lastmodifieddate", "hs_object_id"),
    "calls": ("hs_createdate", "hs_lastmodifieddate", "hs_object_id"),
    "deals": (
        "amount",
        "closedate",
        "createdate",
        "dealname",
        "dealstage",
        "hs_lastmodifieddate",
        "hs_object_id",
        "pipeline",
    ),
}

#: The property that tracks last modification, per object type.
MODIFIED_PROP = {"contacts": "lastmodifieddate"}
CREATED_PROP = {"contacts": "createdate", "deals": "createdate"}


def modified_prop(object_type: str) -> str:
    return MODIFIED_PROP.get(object_type, "hs_lastmodifieddate")


def created_prop(object_type: str) -> str:
    return CREATED_PROP.get(object_type, "hs_createdate")


#: v4 HUBSPOT_DEFINED association type ids: (from, to) -> typeId.
ASSOCIATION_TYPES: dict[tuple[str, str], int] = {
    ("contacts", "tasks"): 203,
    ("tasks", "contacts"): 204,
    ("contacts", "meetings"): 199,
    ("meetings", "contacts"): 200,
    ("contacts", "calls"): 193,
    ("calls", "contacts"): 194,
    ("contacts", "deals"): 4,
    ("deals", "contacts"): 3,
}

#: HubSpot's numeric object type ids (used by the lists API).
OBJECT_TYPE_IDS = {
    "contacts": "0-1",
    "deals": "0-3",
    "tasks": "0-27",
    "meetings": "0-47",
    "calls": "0-48",
}
