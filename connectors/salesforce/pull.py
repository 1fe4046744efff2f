"""What to ask Salesforce for, and how its rows become canonical records. Pure functions.

Rows come either from REST (JSON, relationship fields nested) or from Bulk 2.0 (CSV, flat
dotted headers, every value a string). :func:`flatten` brings both to one shape, flat dotted
keys with ``None`` for empty, so one converter serves both paths.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from connectors.salesforce import soql
from connectors.salesforce.mapping import (
    CampaignMemberSource,
    FormSource,
    ObjectMapping,
    SalesforceMapping,
    TaskSource,
)
from leadsync.records import ActivityRecord, PersonRecord, RecordRef

#: Key prefixes of the record ids a Task's or Event's WhoId can hold.
_WHO_PREFIX = {"00Q": "Lead", "003": "Contact"}

_PERSON_SYSTEM = ("Id", "SystemModstamp", "IsDeleted", "MasterRecordId")
_LEAD_CONVERSION = ("IsConverted", "ConvertedDate", "ConvertedContactId")


@dataclass(frozen=True, slots=True)
class PullPlan:
    """One object's query: fields, and whether it can only be read without ORDER BY (Bulk)."""

    sobject: str
    fields: tuple[str, ...]

    def rest_soql(self, since: datetime | None) -> str:
        where = [soql.ge("SystemModstamp", since)] if since else []
        return soql.select(self.fields, self.sobject, where, order_by=["SystemModstamp", "Id"])

    def by_id_soql(self, ids: Sequence[str]) -> str:
        return soql.select(self.fields, self.sobject, [soql.is_in("Id", ids)])

    def bulk_soql(self, since: datetime | None) -> str:
        # Bulk API 2.0 documents ORDER BY as unsupported (it disables PK chunking).
        where = [soql.ge("SystemModstamp", since)] if since else []
        return soql.select(self.fields, self.sobject, where)


def person_plan(sobject: str, mapping: ObjectMapping) -> PullPlan:
    fields = list(_PERSON_SYSTEM)
    if sobject == "Lead":
        fields += _LEAD_CONVERSION
    for name in (mapping.email, mapping.status, mapping.owner, mapping.opt_out, mapping.account):
        if name:
            fields.append(name)
    fields += mapping.attributes.values()
    return PullPlan(sobject, tuple(dict.fromkeys(fields)))


def activity_plans(mapping: SalesforceMapping) -> list[PullPlan]:
    """One plan per enabled activity source, in a stable order."""
    sources = mapping.activities
    plans = []
    if sources.campaign_members.enabled or sources.forms.source == "campaign_members":
        plans.append(
            PullPlan(
                "CampaignMember",
                (
                    "Id",
                    "SystemModstamp",
                    "IsDeleted",
                    "CreatedDate",
                    "LeadId",
                    "ContactId",
                    "CampaignId",
                    "Campaign.Name",
                    "Campaign.Type",
                    "Status",
                    "HasResponded",
                    "FirstRespondedDate",
                ),
            )
        )
    if sources.tasks.enabled:
        plans.append(
            PullPlan(
                "Task",
                (
                    "Id",
                    "SystemModstamp",
                    "IsDeleted",
                    "CreatedDate",
                    "WhoId",
                    "OwnerId",
                    "Subject",
                    "TaskSubtype",
                    "Type",
                    "ActivityDate",
                    "IsClosed",
                    "CompletedDateTime",
                ),
            )
        )
    if sources.events.enabled:
        plans.append(
            PullPlan(
                "Event",
                (
                    "Id",
                    "SystemModstamp",
                    "IsDeleted",
                    "CreatedDate",
                    "WhoId",
                    "OwnerId",
                    "Subject",
                    "StartDateTime",
                    "ActivityDateTime",
                ),
            )
        )
    forms = sources.forms
    if forms.source == "custom_object":
        fields = ["Id", "SystemModstamp", "IsDeleted", "CreatedDate"]
        fields += [
            f
            for f in (
                forms.email_field,
                forms.name_field,
                forms.url_field,
                forms.lead_field,
                forms.contact_field,
                forms.submitted_at_field,
            )
            if f
        ]
        plans.append(PullPlan(forms.object, tuple(dict.fromkeys(fields))))
    return plans


# -- row shape -------------------------------------------------------------------------------


def flatten(record: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """REST JSON (nested relationships, an ``attributes`` map) or Bulk CSV -> flat dotted keys.

    Empty CSV cells become None so both paths agree on "no value".
    """
    flat: dict[str, Any] = {}
    for key, value in record.items():
        if key == "attributes":
            continue
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = None if value == "" else value
    return flat


#: Describe types whose Bulk CSV text :func:`coerce` turns into another type.
COERCED_TYPES = frozenset({"boolean", "int", "double", "currency", "percent"})


def coerce(value: Any, sf_type: str | None) -> Any:
    """A Bulk CSV string as the type REST would have returned (by the describe type)."""
    if not isinstance(value, str) or sf_type is None:
        return value
    if sf_type == "boolean":
        return value.lower() == "true"
    try:
        if sf_type == "int":
            return int(value)
        if sf_type in ("double", "currency", "percent"):
            return float(value)
    except ValueError:
        return value
    return value


def as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() == "true"
    return bool(value)


def parse_datetime(value: Any) -> datetime | None:
    """Salesforce dateTime (``...000+0000`` / ``...000Z``) or date -> aware UTC datetime."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    # Python 3.11+ reads all of Salesforce's shapes itself (``Z``, ``+0000``, a bare date).
    parsed = datetime.fromisoformat(str(value))
    if parsed.tzinfo is UTC:
        return parsed
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _required_datetime(row: Mapping[str, Any], *names: str) -> datetime:
    for name in names:
        parsed = parse_datetime(row.get(name))
        if parsed is not None:
            return parsed
    raise ValueError(f"row {row.get('Id')} has none of {', '.join(names)}")


# -- people ----------------------------------------------------------------------------------


def to_person(
    source: str,
    sobject: str,
    row: Mapping[str, Any],
    mapping: ObjectMapping,
) -> PersonRecord:
    """A flat Lead or Contact row as a ``PersonRecord``."""
    ref = RecordRef(source, sobject, str(row["Id"]))
    attributes = {canonical: row.get(field) for canonical, field in mapping.attributes.items()}
    deleted = as_bool(row.get("IsDeleted"))
    merged_into: RecordRef | None = None
    converted_at: datetime | None = None
    if sobject == "Lead" and as_bool(row.get("IsConverted")):
        converted_at = parse_datetime(row.get("ConvertedDate"))
        contact_id = row.get("ConvertedContactId")
        if contact_id:
            merged_into = RecordRef(source, "Contact", str(contact_id))
    master = row.get("MasterRecordId")
    if deleted and master:
        merged_into = RecordRef(source, sobject, str(master))

    def text(field: str | None) -> str | None:
        value = row.get(field) if field else None
        return None if value is None else str(value)

    return PersonRecord(
        ref=ref,
        email=text(mapping.email),
        modified_at=_required_datetime(row, "SystemModstamp"),
        attributes=attributes,
        owner_id=text(mapping.owner),
        status=text(mapping.status),
        opted_out=as_bool(row.get(mapping.opt_out)) if mapping.opt_out else False,
        account_id=text(mapping.account),
        converted_at=converted_at,
        deleted=deleted,
        merged_into=merged_into,
    )


# -- activities ------------------------------------------------------------------------------


def campaign_member_kind(
    campaign_type: str | None,
    member_status: str | None,
    responded: bool,
    rules: CampaignMemberSource,
    forms: FormSource,
) -> str:
    """The canonical kind of one campaign membership: form source, then rules, then default."""
    if forms.source == "campaign_members" and responded and campaign_type in forms.campaign_types:
        return "form_submission"
    for rule in rules.rules:
        if rule.campaign_type is not None and rule.campaign_type != campaign_type:
            continue
        if rule.member_status is not None and rule.member_status != member_status:
            continue
        if rule.responded is not None and rule.responded != responded:
            continue
        return rule.kind
    return rules.responded_kind if responded else rules.member_kind


def task_kind(subtype: str | None, task_type: str | None, tasks: TaskSource) -> str:
    """Call / email / task from TaskSubtype, falling back to Type."""
    for key in (subtype, task_type):
        if key and key in tasks.kinds:
            return tasks.kinds[key]
    return tasks.default_kind


def _who(source: str, who_id: Any) -> RecordRef | None:
    if not who_id:
        return None
    sobject = _WHO_PREFIX.get(str(who_id)[:3])
    return RecordRef(source, sobject, str(who_id)) if sobject else None


def to_activity(
    source: str, sobject: str, row: Mapping[str, Any], mapping: SalesforceMapping
) -> ActivityRecord | None:
    """A flat activity row as an ``ActivityRecord``; None for rows about no person."""
    ref = RecordRef(source, sobject, str(row["Id"]))
    modified = _required_datetime(row, "SystemModstamp")
    deleted = as_bool(row.get("IsDeleted"))
    sources = mapping.activities
    if sobject == "CampaignMember":
        responded = as_bool(row.get("HasResponded"))
        contact, lead = row.get("ContactId"), row.get("LeadId")
        person = (
            RecordRef(source, "Contact", str(contact))
            if contact
            else RecordRef(source, "Lead", str(lead))
            if lead
            else None
        )
        campaign_type = row.get("Campaign.Type")
        status = row.get("Status")
        return ActivityRecord(
            ref=ref,
            kind=campaign_member_kind(
                campaign_type, status, responded, sources.campaign_members, sources.forms
            ),
            occurred_at=_required_datetime(row, "FirstRespondedDate", "CreatedDate"),
            modified_at=modified,
            person=person,
            name=row.get("Campaign.Name"),
            campaign_type=campaign_type,
            member_status=status,
            deleted=deleted,
        )
    if sobject == "Task":
        # An open Task is a plan (LeadSync's own hand-off task is one), not a touch: its
        # ActivityDate is a due date, maybe tomorrow's. It counts once completed; a task
        # reopened stops counting, as a deleted one does.
        return ActivityRecord(
            ref=ref,
            kind=task_kind(row.get("TaskSubtype"), row.get("Type"), sources.tasks),
            occurred_at=_required_datetime(row, "CompletedDateTime", "ActivityDate", "CreatedDate"),
            modified_at=modified,
            person=_who(source, row.get("WhoId")),
            name=row.get("Subject"),
            actor_id=row.get("OwnerId"),
            deleted=deleted or not as_bool(row.get("IsClosed")),
        )
    if sobject == "Event":
        return ActivityRecord(
            ref=ref,
            kind=sources.events.kind,
            occurred_at=_required_datetime(row, "StartDateTime", "ActivityDateTime", "CreatedDate"),
            modified_at=modified,
            person=_who(source, row.get("WhoId")),
            name=row.get("Subject"),
            actor_id=row.get("OwnerId"),
            deleted=deleted,
        )
    forms = sources.forms
    contact = row.get(forms.contact_field) if forms.contact_field else None
    lead = row.get(forms.lead_field) if forms.lead_field else None
    person = (
        RecordRef(source, "Contact", str(contact))
        if contact
        else RecordRef(source, "Lead", str(lead))
        if lead
        else None
    )
    email = row.get(forms.email_field)
    if person is None and not email:
        return None
    return ActivityRecord(
        ref=ref,
        kind="form_submission",
        occurred_at=_required_datetime(row, forms.submitted_at_field, "CreatedDate"),
        modified_at=modified,
        person=person,
        email=email,
        name=row.get(forms.name_field),
        url=row.get(forms.url_field) if forms.url_field else None,
        deleted=deleted,
    )
