"""What to ask Salesforce for, and how its rows become canonical records. Pure functions.

Rows come either from REST (JSON, relationship fields nested) or from Bulk 2.0 (CSV, flat
dotted headers, every value a string). :func:`flatten` brings both to one shape, flat dotted
keys with ``None`` for empty, so one converter serves both paths.

When each activity happened, and how precisely: :mod:`connectors.salesforce.timing`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
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
from connectors.salesforce.timing import Timing, is_date, member_timing
from leadsync.emails import normalize_email
from leadsync.model.values import on_date
from leadsync.records import ActivityRecord, PersonRecord, RecordRef, UnreadableValue

#: Key prefixes of the record ids a Task's or Event's WhoId can hold.
_WHO_PREFIX = {"00Q": "Lead", "003": "Contact"}

_PERSON_SYSTEM = ("Id", "SystemModstamp", "IsDeleted", "MasterRecordId", "CreatedDate")
_LEAD_CONVERSION = ("IsConverted", "ConvertedDate", "ConvertedContactId")
#: The Lead's converted opportunity, read with the Lead (``[conversion] won_opportunities``).
_LEAD_WON = ("ConvertedOpportunity.IsWon", "ConvertedOpportunity.CloseDate")


@dataclass(frozen=True, slots=True)
class PullPlan:
    """One object's query: fields, and whether it can only be read without ORDER BY (Bulk)."""

    sobject: str
    fields: tuple[str, ...]
    #: A read since a point leaves out records this user changed last (LeadSync's own user:
    #: its write-backs are not read back).
    not_by: str | None = None

    def rest_soql(self, since: datetime | None) -> str:
        return soql.select(
            self.fields, self.sobject, self._since(since), order_by=["SystemModstamp", "Id"]
        )

    def by_id_soql(self, ids: Sequence[str]) -> str:
        return soql.select(self.fields, self.sobject, [soql.is_in("Id", ids)])

    def bulk_soql(self, since: datetime | None) -> str:
        # Bulk API 2.0 documents ORDER BY as unsupported (it disables PK chunking).
        return soql.select(self.fields, self.sobject, self._since(since))

    def _since(self, since: datetime | None) -> list[soql.Condition]:
        if since is None:
            return []
        where = [soql.ge("SystemModstamp", since)]
        if self.not_by:
            where.append(soql.ne("LastModifiedById", self.not_by))
        return where


def person_plan(
    sobject: str, mapping: ObjectMapping, not_by: str | None = None, *, won: bool = False
) -> PullPlan:
    """``won``: a Lead's query also reads its converted opportunity's ``IsWon`` and
    ``CloseDate`` (no call of its own)."""
    fields = list(_PERSON_SYSTEM)
    if sobject == "Lead":
        fields += _LEAD_CONVERSION
        if won:
            fields += _LEAD_WON
    for name in (mapping.email, mapping.status, mapping.owner, mapping.opt_out, mapping.account):
        if name:
            fields.append(name)
    fields += mapping.attributes.values()
    return PullPlan(sobject, tuple(dict.fromkeys(fields)), not_by)


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
                    "LastModifiedDate",
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
    """A Bulk CSV string as the type REST would have returned (by the describe type).

    Text that is not of the type stays text, so the row's reader sees what the org holds and
    reports it (a boolean cell reading "yes" is not silently false)."""
    if not isinstance(value, str) or sf_type is None:
        return value
    if sf_type == "boolean":
        lowered = value.lower()
        return lowered == "true" if lowered in ("true", "false") else value
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
    """Salesforce dateTime (``...000+0000`` / ``...000Z``) or date -> aware UTC datetime.

    Raises ``ValueError`` (or ``OverflowError`` past year 9999 in UTC) for anything else;
    pulls read through :class:`_Reader`, which never raises."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    # Python 3.11+ reads all of Salesforce's shapes itself (``Z``, ``+0000``, a bare date).
    parsed = datetime.fromisoformat(str(value))
    if parsed.tzinfo is UTC:
        return parsed
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# -- reading one row's values ------------------------------------------------------------------

#: What a pull stores as the modification stamp of a row whose own cannot be read: older than
#: anything, so it never moves a cursor and never wins "most recently modified".
UNKNOWN_TIME = datetime(1970, 1, 1, tzinfo=UTC)
#: A record id as a lookup or owner field holds it: letters and digits (15 or 18 in a real org;
#: shorter ones are accepted so that hand-written fixtures keep working).
_RECORD_ID = re.compile(r"[A-Za-z0-9]{1,18}")
#: Longest status LeadSync keeps (the store's column); a longer one is no picklist value.
_STATUS_CHARS = 255


class _Reader:
    """One flat row's values, read without raising: a value that cannot be read is noted
    (field, raw value, what was expected) and read as missing, or as its safe default."""

    __slots__ = ("notes", "ref", "row")

    def __init__(self, ref: RecordRef, row: Mapping[str, Any]) -> None:
        self.ref = ref
        self.row = row
        self.notes: list[UnreadableValue] = []

    def note(self, field: str, value: Any, problem: str) -> None:
        self.notes.append(UnreadableValue.of(self.ref, field, value, problem))

    def time(self, field: str, problem: str = "not a date-time; left empty") -> datetime | None:
        value = self.row.get(field)
        if value is None:
            return None
        if isinstance(value, str | datetime):
            try:
                return parse_datetime(value)
            except (ValueError, OverflowError):
                pass
        self.note(field, value, problem)
        return None

    def flag(self, field: str, unreadable_as: bool, problem: str) -> bool:
        value = self.row.get(field)
        if value is None:
            return False
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        self.note(field, value, problem)
        return unreadable_as

    def text(self, field: str | None, limit: int | None = None) -> str | None:
        value = self.row.get(field) if field else None
        if value is None or field is None:
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

    def record_id(self, field: str | None) -> str | None:
        value = self.row.get(field) if field else None
        if value is None or field is None:
            return None
        if isinstance(value, str) and _RECORD_ID.fullmatch(value):
            return value
        self.note(field, value, "not a Salesforce record id; left empty")
        return None

    def email(self, field: str | None) -> str | None:
        value = self.row.get(field) if field else None
        if value is None or field is None:
            return None
        if isinstance(value, str) and normalize_email(value) is not None:
            return value
        self.note(field, value, "not an email address; left empty")
        return None

    def attribute(self, field: str) -> tuple[bool, Any]:
        """``(True, value)`` for a value the model can read (text, a number, a checkbox,
        nothing), ``(False, None)`` for one it cannot: it is left out of the attributes."""
        value = self.row.get(field)
        if value is None or isinstance(value, str | bool | int):
            return True, value
        if isinstance(value, float):
            if math.isfinite(value):
                return True, value
            self.note(field, value, "not a finite number; left out")
            return False, None
        self.note(field, value, "not a single value; left out")
        return False, None

    def occurred(self, names: Sequence[str]) -> Timing | None:
        """When an activity happened: the first of ``names`` that holds a value decides; a
        date (no time) spans its day.

        None when that value cannot be read, or none holds one: such an activity cannot be
        placed in time, so it must not count (a garbage submission time falling back to
        CreatedDate would place an imported old submission today)."""
        for name in names:
            value = self.row.get(name)
            if value is not None:
                moment = self.time(name, "not a date-time; the activity is not counted")
                if moment is None:
                    return None
                return on_date(moment.date()) if is_date(value) else (moment, 0, 0)
        self.note("/".join(names), None, "no time in any of these fields; not counted")
        return None

    def member_status_set(self, modified: datetime) -> Timing | None:
        """When a campaign member reached its current status (``timing.member_timing``).

        ``modified`` is the row's SystemModstamp, the bound used when LastModifiedDate
        cannot be read; None when the member cannot be placed in time at all."""
        first: Timing | None = None
        if self.row.get("FirstRespondedDate") is not None:
            first = self.occurred(("FirstRespondedDate",))
            if first is None:
                return None
            created = self.time("CreatedDate", "not a date-time; the response date alone used")
        else:
            created = self.time("CreatedDate", "not a date-time; the activity is not counted")
            if created is None:
                if self.row.get("CreatedDate") is None:
                    self.note("CreatedDate", None, "no time in it; not counted")
                return None
        changed = self.time("LastModifiedDate", "not a date-time; SystemModstamp used")
        if changed is None and modified != UNKNOWN_TIME:
            changed = modified
        return member_timing(created, changed, first)

    def modified(self) -> datetime:
        stamp = self.time("SystemModstamp", "not a date-time; read as 1970")
        if stamp is None and self.row.get("SystemModstamp") is None:
            self.note("SystemModstamp", None, "empty; read as 1970")
        return stamp or UNKNOWN_TIME


def earliest(*moments: datetime | None) -> datetime | None:
    """The first of the moments given (None when none is)."""
    return min((m for m in moments if m is not None), default=None)


def _id_text(value: Any) -> str:
    """A row's own Id as text; anything else is "" (the store skips and reports such a row)."""
    return value if isinstance(value, str) else ""


# -- people ----------------------------------------------------------------------------------


def to_person(
    source: str,
    sobject: str,
    row: Mapping[str, Any],
    mapping: ObjectMapping,
) -> PersonRecord:
    """A flat Lead or Contact row as a ``PersonRecord``; never raises (see ``unreadable``)."""
    ref = RecordRef(source, sobject, _id_text(row.get("Id")))
    read = _Reader(ref, row)
    attributes: dict[str, Any] = {}
    for canonical, field in mapping.attributes.items():
        readable, value = read.attribute(field)
        if readable:
            attributes[canonical] = value
    deleted = read.flag("IsDeleted", False, "not a checkbox value; read as not deleted")
    merged_into: RecordRef | None = None
    converted_at: datetime | None = None
    if sobject == "Lead" and read.flag(
        "IsConverted", False, "not a checkbox value; read as not converted"
    ):
        converted_at = read.time("ConvertedDate")
        contact_id = read.record_id("ConvertedContactId")
        if contact_id:
            merged_into = RecordRef(source, "Contact", contact_id)
        # Only in the row when the query asked for it (``person_plan(won=True)``).
        if read.flag("ConvertedOpportunity.IsWon", False, "not a checkbox value; read as not won"):
            converted_at = earliest(converted_at, read.time("ConvertedOpportunity.CloseDate"))
    master = read.record_id("MasterRecordId")
    if deleted and master:
        merged_into = RecordRef(source, sobject, master)
    opted_out = False
    if mapping.opt_out:
        # Compliance: when LeadSync cannot tell, do-not-contact wins.
        opted_out = read.flag(
            mapping.opt_out, True, "not a checkbox value (true or false); read as opted out"
        )
    person = PersonRecord(
        ref=ref,
        email=read.email(mapping.email),
        modified_at=read.modified(),
        attributes=attributes,
        owner_id=read.record_id(mapping.owner),
        status=read.text(mapping.status, _STATUS_CHARS),
        opted_out=opted_out,
        account_id=read.record_id(mapping.account),
        converted_at=converted_at,
        deleted=deleted,
        merged_into=merged_into,
        created_at=read.time("CreatedDate"),
    )
    # A record the CRM deleted or merged away has nothing left to fix.
    if read.notes and not (deleted or merged_into):
        person = replace(person, unreadable=tuple(read.notes))
    return person


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


def _who(read: _Reader, field: str) -> RecordRef | None:
    who_id = read.record_id(field)
    if not who_id:
        return None
    sobject = _WHO_PREFIX.get(who_id[:3])
    return RecordRef(read.ref.source, sobject, who_id) if sobject else None


def _person(read: _Reader, contact_field: str | None, lead_field: str | None) -> RecordRef | None:
    contact, lead = read.record_id(contact_field), read.record_id(lead_field)
    if contact:
        return RecordRef(read.ref.source, "Contact", contact)
    return RecordRef(read.ref.source, "Lead", lead) if lead else None


def to_activity(
    source: str, sobject: str, row: Mapping[str, Any], mapping: SalesforceMapping
) -> ActivityRecord | None:
    """A flat activity row as an ``ActivityRecord``; None for rows about no person.

    Never raises: an activity whose time cannot be read comes ``deleted`` (it cannot count)
    with the problem in ``unreadable``."""
    read = _Reader(RecordRef(source, sobject, _id_text(row.get("Id"))), row)
    deleted = read.flag("IsDeleted", False, "not a checkbox value; read as not deleted")
    activity = _read_activity(read, sobject, mapping, deleted)
    # A row the CRM deleted has nothing left to fix.
    if activity is None or not read.notes or deleted:
        return activity
    return replace(activity, unreadable=tuple(read.notes))


def _read_activity(
    read: _Reader, sobject: str, mapping: SalesforceMapping, deleted: bool
) -> ActivityRecord | None:
    ref, sources = read.ref, mapping.activities
    modified = read.modified()
    if sobject == "CampaignMember":
        responded = read.flag("HasResponded", False, "not a checkbox value; read as false")
        campaign_type = read.text("Campaign.Type")
        status = read.text("Status")
        occurred = read.member_status_set(modified)
        at, early, late = occurred or (modified, 0, 0)
        return ActivityRecord(
            ref=ref,
            kind=campaign_member_kind(
                campaign_type, status, responded, sources.campaign_members, sources.forms
            ),
            occurred_at=at,
            early_s=early,
            late_s=late,
            modified_at=modified,
            person=_person(read, "ContactId", "LeadId"),
            name=read.text("Campaign.Name"),
            campaign_type=campaign_type,
            member_status=status,
            deleted=deleted or occurred is None,
        )
    if sobject == "Task":
        # An open Task is a plan (LeadSync's own hand-off task is one), not a touch: its
        # ActivityDate is a due date, maybe tomorrow's. It counts once completed; a task
        # reopened stops counting, as a deleted one does.
        closed = read.flag("IsClosed", False, "not a checkbox value; read as open")
        occurred = read.occurred(("CompletedDateTime", "ActivityDate", "CreatedDate"))
        at, early, late = occurred or (modified, 0, 0)
        return ActivityRecord(
            ref=ref,
            kind=task_kind(read.text("TaskSubtype"), read.text("Type"), sources.tasks),
            occurred_at=at,
            early_s=early,
            late_s=late,
            modified_at=modified,
            person=_who(read, "WhoId"),
            name=read.text("Subject"),
            actor_id=read.record_id("OwnerId"),
            deleted=deleted or not closed or occurred is None,
        )
    if sobject == "Event":
        occurred = read.occurred(("StartDateTime", "ActivityDateTime", "CreatedDate"))
        at, early, late = occurred or (modified, 0, 0)
        return ActivityRecord(
            ref=ref,
            kind=sources.events.kind,
            occurred_at=at,
            early_s=early,
            late_s=late,
            modified_at=modified,
            person=_who(read, "WhoId"),
            name=read.text("Subject"),
            actor_id=read.record_id("OwnerId"),
            deleted=deleted or occurred is None,
        )
    forms = sources.forms
    person = _person(read, forms.contact_field, forms.lead_field)
    email = read.email(forms.email_field)
    occurred = read.occurred((forms.submitted_at_field, "CreatedDate"))
    # About nobody: skipped, unless something in it could not be read (then it is kept,
    # never linked, so the problem is shown).
    if person is None and not email and not read.notes:
        return None
    at, early, late = occurred or (modified, 0, 0)
    return ActivityRecord(
        ref=ref,
        kind="form_submission",
        occurred_at=at,
        early_s=early,
        late_s=late,
        modified_at=modified,
        person=person,
        email=email,
        name=read.text(forms.name_field),
        url=read.text(forms.url_field),
        deleted=deleted or occurred is None,
    )
