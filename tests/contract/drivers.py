"""What the contract suite needs of a CRM besides its connector: an "org driver".

A driver seeds people and activities into the CRM and reads its state directly (the
sandboxes' in-process org and portal models, the memory CRM's dicts), never through the
connector under test, so a check compares what the connector says with what the CRM holds.
Each CRM has one driver; ``conftest.py`` builds them, each around a connected connector.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from connectors.base import Connector
from leadsync.records import NurtureKind, RecordRef


@dataclass(frozen=True, slots=True)
class PersonState:
    """A person record as the CRM holds it: deleted or not, and its modification stamp."""

    deleted: bool
    modified: datetime


@dataclass(frozen=True, slots=True)
class Refusal:
    """An output value this CRM refuses, and the CRM field its refusal names."""

    output: str
    value: Any
    field: str


@dataclass(frozen=True, slots=True)
class TaskState:
    """A LeadSync task as the CRM holds it."""

    record: str
    owner: str
    done: bool


@dataclass(frozen=True, slots=True)
class Owners:
    """Owners to reassign to: one the CRM accepts, and ones it refuses (field named); and
    a status the CRM takes."""

    active: str
    refused: tuple[str, ...]
    field: str
    status: str


@dataclass(frozen=True, slots=True)
class MissingField:
    """A connector whose mapping names a field this CRM lacks, and where it is mapped."""

    connector: Connector
    object_type: str
    field: str


class Driver(Protocol):
    """An org driver: seeds the CRM and observes it, beside a connected ``connector``."""

    #: The suite's id for this CRM (``salesforce-sandbox``, ``hubspot-sandbox``, ``memory``).
    label: str
    connector: Connector
    #: What a person's ``enrol`` joins here (a Salesforce campaign, a HubSpot list ...).
    nurture_kind: NurtureKind
    nurture_target: str
    refusal: Refusal
    owners: Owners
    #: How finely the CRM's query filters read a cursor: a pull since a cursor may also
    #: return what was stamped earlier within this much (Salesforce's SOQL dateTime literals
    #: carry whole seconds), never more.
    cursor_precision: timedelta
    #: A well-formed person ref the CRM never had.
    absent: RecordRef

    def connect(self) -> None:
        """Replace ``connector`` with a newly connected one, so a check starts with no state
        another check left in it."""
        ...

    def new_person(self, email: str) -> RecordRef:
        """Create a live person (a Lead, a contact) the connector may write."""
        ...

    def change(self, ref: RecordRef) -> datetime:
        """Change one of the person's own fields as a user would; the CRM's new stamp."""
        ...

    def delete(self, ref: RecordRef) -> None:
        """Delete the person (to the recycle bin, archived)."""
        ...

    def address_activity(self, email: str) -> None:
        """Record an activity the CRM ties to ``email`` alone (a form submission naming no
        record, an email event)."""
        ...

    def people(self) -> dict[RecordRef, PersonState]:
        """Every person record the CRM holds, deleted ones included."""
        ...

    def log_meeting(self, ref: RecordRef, title: str) -> datetime:
        """Log a meeting with the person, titled ``title``; the activity's stamp."""
        ...

    def output(self, ref: RecordRef, output: str) -> Any:
        """The value the CRM holds for a canonical output, read back as written:
        ``score`` as a float, text as text."""
        ...

    def owner_of(self, ref: RecordRef) -> str | None: ...

    def status_of(self, ref: RecordRef) -> str | None: ...

    def task(self, key: str) -> list[TaskState]:
        """Every task the CRM holds with LeadSync's key ``key``."""
        ...

    def complete_task(self, key: str) -> None:
        """A rep completes the task keyed ``key``."""
        ...

    def members(self, target: str) -> set[str]:
        """Ids of the records in the nurture campaign or list ``target``."""
        ...

    def missing_field(self) -> MissingField:
        """A connector to this CRM whose mapping names one attribute field it lacks."""
        ...
