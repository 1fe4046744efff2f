"""The live state of a sandbox org: metadata plus records, safe to share between threads.

Records are stored sparsely (a missing key is a null) and replaced, never mutated, on every
write, so a query cursor that holds references to them keeps a consistent snapshot for free.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any

from sandboxes.salesforce.columns import ColumnTable
from sandboxes.salesforce.ids import IdFactory, to18
from sandboxes.salesforce.objects import OPPORTUNITY_STAGES, build_schema
from sandboxes.salesforce.schema import FieldDef, ObjectDef
from sandboxes.salesforce.security import SECURITY_OBJECTS, FieldSecurity

if TYPE_CHECKING:
    from sandboxes.salesforce.listviews import ListView

#: A stored record: a sparse dict, or a read-only view of a columnar row (never mutated).
Row = Mapping[str, Any]
#: Children deleted with their parent, as Salesforce deletes them, and moved to the survivor of
#: a merge: (object, lookup to the parent).
_DELETED_WITH: dict[str, tuple[tuple[str, str], ...]] = {
    "Opportunity": (("OpportunityContactRole", "OpportunityId"),),
    "Contact": (("OpportunityContactRole", "ContactId"),),
}
_RESPONDED = frozenset(
    {"Responded", "Registered", "Attended", "Downloaded", "Submitted", "Clicked", "Opened"}
)


@dataclass(frozen=True, slots=True)
class ValidationRule:
    """A validation rule: when ``applies(old, new)`` is true the write fails with ``message``.

    ``old`` is ``None`` on insert. The error is FIELD_CUSTOM_VALIDATION_EXCEPTION naming
    ``field`` (or no field for a record-level rule), as a real org reports it.
    """

    object_type: str
    name: str
    message: str
    applies: Callable[[Mapping[str, Any] | None, Mapping[str, Any]], bool]
    field: str | None = None


def default_validation_rules() -> list[ValidationRule]:
    """The org's active validation rules (documented in the sandbox README section of serve)."""
    return [
        ValidationRule(
            "Lead",
            "Legal_Hold_Locks_Record",
            "This lead is under legal hold and cannot be edited.",
            lambda old, new: bool(old and old.get("Legal_Hold__c") and new.get("Legal_Hold__c")),
        ),
        ValidationRule(
            "Lead",
            "Convert_To_Close",
            "Use Convert to close a lead; Status 'Closed - Converted' cannot be set directly.",
            lambda old, new: (
                new.get("Status") == "Closed - Converted"
                and not new.get("IsConverted")
                and (old is None or old.get("Status") != "Closed - Converted")
            ),
            field="Status",
        ),
    ]


class OrgState:
    """Metadata and records of one org. Every public method is thread-safe."""

    def __init__(self, *, with_output_fields: bool = True, org_id: str = "") -> None:
        self.ids = IdFactory()
        self.org_id = org_id or self.ids.new("00D")
        self.schema: dict[str, ObjectDef] = build_schema(with_output_fields)
        self._index = {name.lower(): name for name in self.schema}
        self._rows: dict[str, MutableMapping[str, Row]] = {name: {} for name in self.schema}
        self._by_prefix = {d.prefix: d.name for d in self.schema.values()}
        self._unique: dict[tuple[str, str], dict[str, str]] = {}
        self.lock = threading.RLock()
        self.validation_rules: list[ValidationRule] = default_validation_rules()
        #: The running user of API calls and the owner of records created without one.
        self.integration_user_id: str = ""
        #: Who changes records outside the API (``insert``/``update`` called directly: the
        #: org's people, its web forms, its automation); their LastModifiedById. Unset: the
        #: integration user.
        self.background_user_id: str = ""
        #: Where the active Lead assignment rule sends leads (set by the generator).
        self.assignment_queue_id: str | None = None
        self.assignment_rule_id = self.ids.new("01Q")
        #: The campaign recycled leads join, and the queue that owns them (set by the generator).
        self.nurture_campaign_id: str | None = None
        self.nurture_queue_id: str | None = None
        #: The org's default time zone (Setup > Company Information): the calendar in which
        #: Salesforce dates a campaign member's FirstRespondedDate.
        self.time_zone: tzinfo = UTC
        self._last_stamp = datetime(2000, 1, 1, tzinfo=UTC)
        #: Field-level security of the running user (see :mod:`security`).
        self.security = FieldSecurity()
        #: List views by full name (``Lead.AllOpenLeads``), see :mod:`listviews`.
        self.list_views: dict[str, ListView] = {}

    # --- metadata -------------------------------------------------------------------------
    def object_def(self, name: str) -> ObjectDef | None:
        """The object called ``name`` in any letter case, as the API's running user sees it:
        without the fields field-level security hides from it (every API handler asks here;
        ``schema`` holds every field, for the org's own bookkeeping)."""
        canonical = self._index.get(name.lower())
        if not canonical:
            return None
        return self.security.view(self, self.schema[canonical])

    def full_def(self, name: str) -> ObjectDef | None:
        """The object called ``name`` with every field, whoever may see them (Setup's view)."""
        canonical = self._index.get(name.lower())
        return self.schema[canonical] if canonical else None

    def type_of_id(self, record_id: str) -> str | None:
        """The object type an id's key prefix belongs to."""
        return self._by_prefix.get(record_id[:3])

    def add_field(self, object_type: str, definition: FieldDef, *, secured: bool = False) -> None:
        """Add a custom field. ``secured``: made through the Tooling API, so no profile
        grants it and the running user sees it once a permission set does; otherwise a field
        the org's admin made and granted long ago, as the generated org's own are."""
        with self.lock:
            self.schema[object_type].add(definition)
            if secured:
                self.security.secure(object_type, definition.name)

    def remove_field(self, object_type: str, name: str) -> None:
        """Delete a custom field (Metadata deleteMetadata); its values go with it."""
        with self.lock:
            definition = self.schema[object_type]
            spec = definition.field(name)
            if spec is None:
                return
            del definition.fields[spec.name]
            definition.__post_init__()
            self.security.forget(object_type, spec.name)

    def attach(self, table: ColumnTable) -> None:
        """Hold an object's records as a built :class:`ColumnTable` (the object must be empty)."""
        name = table.definition.name
        with self.lock:
            if self._rows[name]:
                raise ValueError(f"{name} already has records")
            self._rows[name] = table
            keyed = [f for f in table.definition.fields.values() if (f.external_id or f.unique)]
            if any(table.stores(f.name) for f in keyed):
                for row in table.values():
                    self._reindex(table.definition, None, row)

    # --- clock ------------------------------------------------------------------------------
    def stamp(self) -> datetime:
        """Now, at millisecond precision, never earlier than the previous stamp."""
        with self.lock:
            now = datetime.now(UTC)
            now = now.replace(microsecond=now.microsecond // 1000 * 1000)
            self._last_stamp = max(now, self._last_stamp)
            return self._last_stamp

    # --- reads ------------------------------------------------------------------------------
    def rows(self, object_type: str) -> list[Row]:
        """The live (immutable by convention) sparse rows of an object, deleted ones included."""
        with self.lock:
            return list(self._rows[object_type].values())

    def raw(self, object_type: str, record_id: str) -> Row | None:
        """The live sparse row, or ``None``."""
        with self.lock:
            return self._rows[object_type].get(record_id)

    def lookup(self, record_id: str) -> Row | None:
        """The live sparse row of any object by id (15 or 18 characters)."""
        full = to18(record_id) if record_id else None
        object_type = self.type_of_id(full) if full else None
        return self.raw(object_type, full) if object_type and full else None

    def records(self, object_type: str, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        """Copies of every record of ``object_type`` with every field present (nulls as None)."""
        definition = self.schema[object_type]
        names = list(definition.fields)
        with self.lock:
            rows = list(self._rows[object_type].values())
        return [
            {n: row.get(n) for n in names}
            for row in rows
            if include_deleted or not row.get("IsDeleted")
        ]

    def get(self, object_type: str, record_id: str) -> dict[str, Any] | None:
        """A copy of one record with every field present, or ``None`` when there is none."""
        full = to18(record_id)
        row = self.raw(object_type, full) if full else None
        if row is None:
            return None
        return {n: row.get(n) for n in self.schema[object_type].fields}

    def find_unique(self, object_type: str, field: str, value: str) -> str | None:
        """The id of the record whose unique/external-id ``field`` equals ``value``."""
        with self.lock:
            return self._unique.get((object_type, field), {}).get(str(value).lower())

    def campaign_member(self, campaign_id: str, person_id: str) -> str | None:
        """The live CampaignMember putting ``person_id`` (a Lead or Contact) in the campaign."""
        campaign, person = to18(campaign_id), to18(person_id)
        with self.lock:
            for row in self._rows["CampaignMember"].values():
                people = (_id18(row.get("LeadId")), _id18(row.get("ContactId")))
                if (
                    not row.get("IsDeleted")
                    and _id18(row.get("CampaignId")) == campaign
                    and person in people
                ):
                    return str(row["Id"])
        return None

    def default_member_status(self, campaign_id: str) -> str:
        """The campaign's default CampaignMemberStatus label (``Sent`` when it defines none)."""
        campaign = to18(campaign_id)
        with self.lock:
            for row in self._rows["CampaignMemberStatus"].values():
                if _id18(row.get("CampaignId")) == campaign and row.get("IsDefault"):
                    return str(row.get("Label"))
        return "Sent"

    def count(self, object_type: str) -> int:
        """How many live (not deleted) records ``object_type`` has."""
        with self.lock:
            return sum(1 for r in self._rows[object_type].values() if not r.get("IsDeleted"))

    # --- writes -----------------------------------------------------------------------------
    def insert(
        self,
        object_type: str,
        values: Mapping[str, Any],
        *,
        created: datetime | None = None,
        modified: datetime | None = None,
        by: str | None = None,
    ) -> str:
        """Store a new record (no API validation) and return its id; ``by`` is who made it
        (the API's running user; by default ``background_user_id``).

        ``created`` backdates CreatedDate and ``modified`` LastModifiedDate/SystemModstamp
        (defaulting to ``created``), so generated history looks lived-in.
        """
        definition = self.schema[object_type]
        row = self._canonical(definition, values)
        with self.lock:
            # Salesforce keeps datetimes to the millisecond: a backdated stamp is cut to it.
            stamp = _to_milliseconds(created) if created else self.stamp()
            record_id = row.get("Id") or self.ids.new(definition.prefix)
            for name, spec in definition.fields.items():
                if row.get(name) is None:
                    if spec.default is not None:
                        row[name] = spec.default
                    elif spec.type == "boolean":
                        row[name] = False  # checkboxes are never null in Salesforce
            touched = _to_milliseconds(modified) if modified else stamp
            row.update(
                Id=record_id, CreatedDate=stamp, LastModifiedDate=touched, SystemModstamp=touched
            )
            if "OwnerId" in definition.fields and not row.get("OwnerId"):
                row["OwnerId"] = self.integration_user_id
            maker = self._maker(by)
            if maker:
                row.setdefault("CreatedById", maker)
                row.setdefault("LastModifiedById", maker)
            self._derive(object_type, None, row)
            self._rows[object_type][record_id] = _sparse(row)
            self._reindex(definition, None, row)
            self._touched(object_type)
        return record_id

    def update(
        self,
        object_type: str,
        record_id: str,
        values: Mapping[str, Any],
        *,
        modified: datetime | None = None,
        by: str | None = None,
    ) -> None:
        """Change fields of a record (no API validation); bumps LastModifiedDate/SystemModstamp
        and sets LastModifiedById to ``by`` (by default ``background_user_id``)."""
        definition = self.schema[object_type]
        changes = self._canonical(definition, values)
        full = to18(record_id) or record_id
        with self.lock:
            old = self._rows[object_type].get(full)
            if old is None:
                raise KeyError(f"{object_type} {record_id} does not exist")
            stamp = modified or self.stamp()
            row = {**old, **changes, "LastModifiedDate": stamp, "SystemModstamp": stamp}
            maker = self._maker(by)
            if maker:
                row["LastModifiedById"] = maker
            for name, value in changes.items():
                if value is None and definition.fields[name].type == "boolean":
                    row[name] = False
            self._derive(object_type, old, row)
            self._rows[object_type][full] = _sparse(row)
            self._reindex(definition, old, row)
            self._touched(object_type)

    def restore(self, object_type: str, record_id: str, row: Row | None) -> None:
        """Put back a row as it was before a write (``None``: the write created it).

        Used to roll back an all-or-none request; the caller holds :attr:`lock` throughout.
        """
        definition = self.schema[object_type]
        with self.lock:
            current = self._rows[object_type].get(record_id)
            if row is None:
                self._rows[object_type].pop(record_id, None)
                if current is not None:
                    self._reindex(definition, current, {"Id": record_id, "IsDeleted": True})
            else:
                self._rows[object_type][record_id] = row
                self._reindex(definition, current, row)
            self._touched(object_type)

    def delete(self, object_type: str, record_id: str, by: str | None = None) -> None:
        """Move a record to the recycle bin (IsDeleted = true; still visible to queryAll),
        with the children Salesforce deletes with it (an opportunity's or a contact's
        contact roles)."""
        with self.lock:
            self.update(object_type, record_id, {"IsDeleted": True}, by=by)
            parent = to18(record_id) or record_id
            for child, link in _DELETED_WITH.get(object_type, ()):
                for row in self.rows(child):
                    if not row.get("IsDeleted") and to18(str(row.get(link))) == parent:
                        self.update(child, str(row["Id"]), {"IsDeleted": True}, by=by)

    def merge(self, object_type: str, master_id: str, victim_id: str) -> None:
        """Merge ``victim`` into ``master``: the victim is deleted and points at its master;
        its contact roles move to the master, as Salesforce reparents related records."""
        with self.lock:
            victim = to18(victim_id) or victim_id
            for child, link in _DELETED_WITH.get(object_type, ()):
                for row in self.rows(child):
                    if not row.get("IsDeleted") and to18(str(row.get(link))) == victim:
                        self.update(child, str(row["Id"]), {link: master_id})
            self.update(object_type, victim_id, {"IsDeleted": True, "MasterRecordId": master_id})

    def convert_lead(
        self, lead_id: str, contact_id: str, account_id: str, when: datetime | None = None
    ) -> None:
        """Mark a lead converted into an existing contact and account (see ``convert_leads``)."""
        self.convert_leads([(lead_id, contact_id, account_id, when)])

    def convert_leads(self, conversions: Sequence[tuple[str, str, str, datetime | None]]) -> None:
        """Mark leads converted, ``(lead, contact, account, when)`` each, and move their
        activities as Salesforce does: Tasks and Events are re-pointed (``WhoId``) at the
        contact, campaign memberships gain its ``ContactId`` (keeping ``LeadId``); custom
        lookups to the lead stay. One pass over the activities for all the conversions, so a
        generated org's thousands of conversions do not each scan them."""
        moved_to: dict[str, tuple[str, datetime]] = {}
        with self.lock:
            for lead_id, contact_id, account_id, when in conversions:
                stamp = when or self.stamp()
                self.update(
                    "Lead",
                    lead_id,
                    {
                        "IsConverted": True,
                        "ConvertedDate": stamp.date(),
                        "Status": "Closed - Converted",
                        "ConvertedContactId": contact_id,
                        "ConvertedAccountId": account_id,
                    },
                    modified=when,
                )
                moved_to[to18(lead_id) or lead_id] = (to18(contact_id) or contact_id, stamp)
            for object_type, link, target in _CONVERSION_MOVES:
                moving = [
                    (str(row["Id"]), *moved_to[lead], row.get("SystemModstamp"))
                    for row in self._rows[object_type].values()
                    if (lead := _id18(row.get(link)) or "") in moved_to and not row.get("IsDeleted")
                ]
                for record_id, contact, stamp, modified in moving:
                    # Never back in time: a generated activity may postdate its conversion.
                    if isinstance(modified, datetime):
                        stamp = max(stamp, modified)
                    self.update(object_type, record_id, {target: contact}, modified=stamp)

    # --- helpers ----------------------------------------------------------------------------
    def _maker(self, by: str | None) -> str:
        return by or self.background_user_id or self.integration_user_id

    def _touched(self, object_type: str) -> None:
        if object_type in SECURITY_OBJECTS:
            self.security.changed()

    def _canonical(self, definition: ObjectDef, values: Mapping[str, Any]) -> dict[str, Any]:
        row: dict[str, Any] = {}
        for key, value in values.items():
            spec = definition.field(key)
            if spec is None:
                raise KeyError(f"No such column '{key}' on entity '{definition.name}'")
            row[spec.name] = value
        return row

    def _derive(self, object_type: str, old: Mapping[str, Any] | None, row: dict[str, Any]) -> None:
        """Fields Salesforce computes: Name, IsClosed, CompletedDateTime, HasResponded,
        FirstRespondedDate, CampaignMember.Email."""
        if object_type in ("Lead", "Contact", "User"):
            row["Name"] = " ".join(p for p in (row.get("FirstName"), row.get("LastName")) if p)
        elif object_type == "Task":
            row["IsClosed"] = row.get("Status") == "Completed"
            was_closed = bool(old and old.get("IsClosed"))
            if not row["IsClosed"]:
                row["CompletedDateTime"] = None
            elif not was_closed or not row.get("CompletedDateTime"):
                row["CompletedDateTime"] = row.get("SystemModstamp")
        elif object_type == "CampaignMember":
            person = self._rows["Lead"].get(row.get("LeadId") or "") or self._rows["Contact"].get(
                row.get("ContactId") or ""
            )
            row["Email"] = person.get("Email") if person else None
            # HasResponded follows the status (it is read-only); FirstRespondedDate, once set,
            # stays: the date of the first response, on the org's calendar.
            responded = self._responds(row.get("CampaignId"), row.get("Status"))
            row["HasResponded"] = responded
            if responded and not row.get("FirstRespondedDate"):
                stamp = row.get("SystemModstamp")
                row["FirstRespondedDate"] = (
                    stamp.astimezone(self.time_zone).date() if isinstance(stamp, datetime) else None
                )
        elif object_type == "Opportunity":
            stages = {stage: (closed, won) for stage, closed, won in OPPORTUNITY_STAGES}
            row["IsClosed"], row["IsWon"] = stages.get(str(row.get("StageName")), (False, False))
        elif object_type == "Form_Submission__c" and old is None:
            number = len(self._rows[object_type]) + 1
            row["Name"] = f"FS-{number:07d}"
        for flag in ("IsDeleted",):
            row.setdefault(flag, False)

    def _responds(self, campaign_id: Any, status: Any) -> bool:
        """Whether ``status`` counts as a response in the campaign: its CampaignMemberStatus
        says so; a campaign that defines none uses the usual responded labels."""
        campaign = _id18(campaign_id)
        defined = False
        for row in self._rows["CampaignMemberStatus"].values():
            if _id18(row.get("CampaignId")) != campaign or row.get("IsDeleted"):
                continue
            defined = True
            if row.get("Label") == status:
                return bool(row.get("HasResponded"))
        return not defined and status in _RESPONDED

    def _reindex(
        self, definition: ObjectDef, old: Mapping[str, Any] | None, new: Mapping[str, Any]
    ) -> None:
        for spec in definition.fields.values():
            if not (spec.external_id or spec.unique):
                continue
            index = self._unique.setdefault((definition.name, spec.name), {})
            if old is not None and old.get(spec.name) is not None:
                index.pop(str(old[spec.name]).lower(), None)
            if new.get(spec.name) is not None and not new.get("IsDeleted"):
                index[str(new[spec.name]).lower()] = new["Id"]


#: What a lead conversion moves: (object, the field naming the lead, the field set to the
#: contact).
_CONVERSION_MOVES = (
    ("Task", "WhoId", "WhoId"),
    ("Event", "WhoId", "WhoId"),
    ("CampaignMember", "LeadId", "ContactId"),
)


def _id18(value: Any) -> str | None:
    return to18(str(value)) if value else None


def _sparse(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if v is not None}


def days_ago(now: datetime, days: float) -> datetime:
    """``now`` minus a (fractional) number of days, at millisecond precision."""
    moment = now - timedelta(days=days)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def as_date(moment: datetime) -> date:
    """The UTC calendar date of a moment."""
    return moment.astimezone(UTC).date()


def _to_milliseconds(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)
