"""The canonical records that cross the boundary between a connector and the engine.

A connector reads CRM objects and hands the engine these values; the engine hands back
updates, tasks and owner changes in the same vocabulary. Nothing here knows a CRM field name:
``attributes`` and ``values`` are keyed by canonical names (``industry``, ``employees``,
``fit``, ``score`` ...) and each connector's mapping translates them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

#: How a CRM keeps nurture programmes: Salesforce campaigns, HubSpot lists.
NurtureKind = Literal["campaign", "list"]


@dataclass(frozen=True, slots=True, order=True)
class RecordRef:
    """Identity of one CRM record: ``("salesforce", "Lead", "00Q...")``."""

    source: str
    object_type: str
    external_id: str

    def __str__(self) -> str:
        return f"{self.source}:{self.object_type}:{self.external_id}"


#: Characters of a raw value an ``UnreadableValue`` keeps: enough to recognise it, never a
#: megabyte pasted into a field.
UNREADABLE_RAW_CHARS = 200


@dataclass(frozen=True, slots=True)
class UnreadableValue:
    """A value a connector could not read, kept so an admin can find and fix it.

    ``field`` is the CRM's name for where it was (``Submitted_At__c``, ``hs_email_optout``),
    ``raw`` the value as text, clipped to ``UNREADABLE_RAW_CHARS``, and ``problem`` what was
    expected and what LeadSync did instead ("not a date-time; the submission is not counted").
    """

    ref: RecordRef
    field: str
    raw: str
    problem: str

    @classmethod
    def of(cls, ref: RecordRef, field: str, value: Any, problem: str) -> UnreadableValue:
        """The value as short text: a string as it is, anything else as its JSON-ish repr."""
        try:
            text = value if isinstance(value, str) else repr(value)
        except ValueError:  # an integer past Python's 4,300-digit conversion limit
            text = f"<{type(value).__name__} too long to show>"
        if len(text) > UNREADABLE_RAW_CHARS:
            text = f"{text[:UNREADABLE_RAW_CHARS]}… ({len(text):,} characters)"
        return cls(ref, field, text, problem)


@dataclass(frozen=True, slots=True)
class PersonRecord:
    """A Lead, Contact or HubSpot contact as read from the CRM.

    ``attributes`` are raw values as the CRM returned them (possibly dirty: "1,200" employees,
    a number in a picklist); the model cleans them when it scores. ``merged_into`` names the
    surviving record when this one was converted or merged, so its history can move there.
    ``unreadable`` lists the values the connector could not read (each is left out, or set
    to its safe default: an unreadable opt-out reads as opted out). ``created_at`` is when the
    record entered the CRM (the report dates a lead by it), ``converted_at`` when it converted.
    """

    ref: RecordRef
    email: str | None
    modified_at: datetime
    attributes: Mapping[str, Any] = field(default_factory=dict)
    owner_id: str | None = None
    status: str | None = None
    opted_out: bool = False
    account_id: str | None = None
    converted_at: datetime | None = None
    deleted: bool = False
    merged_into: RecordRef | None = None
    created_at: datetime | None = None
    unreadable: tuple[UnreadableValue, ...] = ()


@dataclass(frozen=True, slots=True)
class ActivityRecord:
    """Something a person did (or sales did to them), in canonical form.

    ``kind`` is canonical: form_submission, campaign_response, email_open, email_click,
    unsubscribe, page_view, webinar_registered, webinar_attended, meeting, call, task, ...
    ``person`` names the CRM record it belongs to when the CRM says so; otherwise ``email``
    links it (HubSpot email events carry only an address). ``actor_id`` is the CRM user who
    logged it, so the hand-off can tell a sales touch from marketing automation.

    ``unreadable`` lists the values the connector could not read. An activity whose time
    cannot be read cannot be placed in time: it comes ``deleted`` (so it never counts, and
    counts again once a later pull reads its time) with the time's problem in ``unreadable``.
    A record the CRM deleted carries no ``unreadable`` values: there is nothing left to fix.

    ``occurred_at`` is the best estimate of when it happened, from the most precise stamp the
    CRM has; ``early_s`` and ``late_s`` say how many seconds before and after it the true
    instant may lie (0 and 0: an exact instant). A date with no time spans a day and more
    (``leadsync.model.values.on_date``); each connector's module docstring lists its sources.
    """

    ref: RecordRef
    kind: str
    occurred_at: datetime
    modified_at: datetime
    person: RecordRef | None = None
    email: str | None = None
    name: str | None = None
    campaign_type: str | None = None
    member_status: str | None = None
    url: str | None = None
    actor_id: str | None = None
    deleted: bool = False
    unreadable: tuple[UnreadableValue, ...] = ()
    early_s: int = 0
    late_s: int = 0


@dataclass(frozen=True, slots=True)
class RecordUpdate:
    """Output values to write to one record, keyed by canonical output name (fit, score ...).

    ``owner`` is an owner/status change made in the same write as the record's values; the
    engine sends one only to a connector whose capabilities say ``owner_in_write``, as an
    update of its own (no values) so it keeps its own outcome."""

    ref: RecordRef
    values: Mapping[str, Any]
    owner: OwnerChange | None = None


@dataclass(frozen=True, slots=True)
class OwnerChange:
    """Give a record a new owner and/or a new status (hand-off and recycle).

    ``owner_id=None`` changes only the status (a recycle with no nurture owner configured).
    """

    ref: RecordRef
    owner_id: str | None
    status: str | None = None


@dataclass(frozen=True, slots=True)
class TaskRequest:
    """A task for a rep. ``key`` is stable for one hand-off so a retry upserts, never duplicates."""

    key: str
    person: RecordRef
    owner_id: str
    subject: str
    body: str
    due_at: datetime
    priority: str = "Normal"


@dataclass(frozen=True, slots=True)
class Enrolment:
    """Put a record in a nurture campaign or list, or (``remove``) take it out.

    ``target_id`` is a Salesforce Campaign id or a HubSpot list id. Idempotent both ways: adding
    a member that is already in, or removing one that is not, succeeds without a change.
    ``status`` is the CampaignMember status (Salesforce; ``None`` keeps the campaign default).
    """

    ref: RecordRef
    target_id: str
    status: str | None = None
    remove: bool = False


@dataclass(frozen=True, slots=True)
class RecordError:
    """A CRM's refusal of one record: its own code and message, and the fields it named."""

    code: str
    message: str
    fields: tuple[str, ...] = ()
    retriable: bool = False


@dataclass(frozen=True, slots=True)
class WriteOutcome:
    """What became of one record in a batched call."""

    ref: RecordRef
    ok: bool
    error: RecordError | None = None
    created_id: str | None = None


@dataclass(frozen=True, slots=True)
class CrmUser:
    """A user or queue that can own records."""

    id: str
    name: str
    email: str | None = None
    active: bool = True
    is_queue: bool = False
    manager_id: str | None = None
    #: The user the connector itself is logged in as (LeadSync's API user): it never takes
    #: or keeps a lead, whatever it owns.
    integration: bool = False


@dataclass(frozen=True, slots=True)
class FieldInfo:
    """One field of a CRM object as its describe call reports it."""

    name: str
    type: str
    label: str = ""
    updateable: bool = True
    length: int | None = None
    picklist_values: tuple[str, ...] = ()
    custom: bool = False


@dataclass(frozen=True, slots=True)
class CheckProblem:
    """A mapping that does not fit the live org, and how to fix it."""

    object_type: str
    field: str
    problem: str
    fix: str

    def __str__(self) -> str:
        return f"{self.object_type}.{self.field}: {self.problem}; fix: {self.fix}"


@dataclass(frozen=True, slots=True)
class ApiUsage:
    """API calls made by this connector, and the CRM's remaining allowance when it told us."""

    calls: int
    calls_by_endpoint: Mapping[str, int] = field(default_factory=dict)
    remaining: int | None = None
    limit: int | None = None
