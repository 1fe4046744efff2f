"""The contract every CRM connector fulfils. The engine talks to CRMs only through this.

Paging, batching, retries, auth renewal and field mapping live inside the connector; callers
see iterators of canonical records and lists of per-record outcomes. A connector converts its
client library's exceptions into ``leadsync.errors`` at its boundary.

``tests/contract`` holds the checks of this contract, run alike over every connector (each
CRM's sandbox, and the in-memory CRM the engine tests use); a new connector joins them by
adding its org driver there (``tests/contract/drivers.py`` says what a driver does).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from leadsync.records import (
    ActivityRecord,
    ApiUsage,
    CheckProblem,
    CrmUser,
    Enrolment,
    FieldInfo,
    NurtureKind,
    OwnerChange,
    PersonRecord,
    RecordRef,
    RecordUpdate,
    TaskRequest,
    WriteOutcome,
)

#: Called by a resumable pull with the token to resume from; see ``Connector.pull_people``.
Checkpoint = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a CRM offers beyond the contract's calls, so the core chooses by capability and
    never by the CRM's name."""

    #: Which ``[recycle]``/``[[nurture.enrol]]`` target its records join: ``campaign``
    #: (``nurture_campaign``, ``campaign``) or ``list`` (``nurture_list``, ``list``).
    nurture: NurtureKind | None = None
    #: Owner and status changes ride in ``write_pages`` (``RecordUpdate.owner``), in the same
    #: call as the record's field values, instead of ``reassign`` calls of their own; the
    #: engine then sends tasks after the field write (a task follows its owner change).
    owner_in_write: bool = False
    #: ``pull_people(..., skip_own_writes=True)`` leaves out records whose last change was
    #: LeadSync's own write (the CRM says who changed a record last), so a cycle does not
    #: re-read what the cycle before it wrote. A CRM that cannot tell returns them anyway.
    skips_own_writes: bool = False


@dataclass(frozen=True, slots=True)
class ConnectorType:
    """A CRM LeadSync can connect to, as its package registers it in the entry-point group
    ``leadsync.connectors`` (see ``connectors.registry``): a third CRM is a package that
    touches no file of the core."""

    #: Its ``[connectors.<name>]`` section in the config.
    name: str
    #: The pydantic model of that section (``connectors.settings_base.ConnectorSettingsBase``).
    settings: type[Any]
    #: ``build(name, settings, config_dir)``: the connector for one configured connection.
    build: Callable[[str, Any, Path | None], Connector]
    capabilities: Capabilities = Capabilities()
    #: The shipped field mapping used when the section names none.
    default_mapping: Path | None = None
    #: Where it comes among the configured CRMs when the config does not say otherwise
    #: (lower first): the CRM that owns hand-offs by default is the first to know a person.
    rank: int = 100


@dataclass(frozen=True, slots=True)
class InstallStep:
    """One thing ``leadsync install`` or ``uninstall`` makes, changes or removes in a CRM.

    A plan lists every step, those already in place too (``change == "unchanged"``, ``run``
    None), so the admin reads the whole of what LeadSync owns in the org; running a plan's
    steps and planning again yields only unchanged steps (install and uninstall are
    idempotent).
    """

    #: What it is, in the CRM's words: ``permission set LeadSync_Integration``,
    #: ``list view Lead.LeadSync_Hand_raisers``, ``property group leadsync``.
    what: str
    #: ``create``, ``update``, ``assign``, ``unassign``, ``remove`` or ``unchanged``.
    change: str
    #: What the change holds, for the plan the admin reads (``edit on 6 fields, read on 14``).
    detail: str = ""
    #: Makes the change (one or a few CRM calls); None for an unchanged step.
    run: Callable[[], None] | None = None


@runtime_checkable
class Connector(Protocol):
    """One configured CRM connection."""

    #: The connection's name in the config (``salesforce``, ``hubspot``); stored with every record.
    name: str
    #: What it offers beyond the calls below (see ``Capabilities``).
    capabilities: Capabilities

    def pull_people(
        self,
        since: datetime | None,
        *,
        resume: str | None = None,
        checkpoint: Checkpoint | None = None,
        skip_own_writes: bool = False,
    ) -> Iterator[PersonRecord]:
        """People modified at or after ``since`` (all of them when ``None``), deletions included.

        ``since=None`` is a full pull (a backfill): a connector may use its bulk API for it.
        A connector that can resume calls ``checkpoint(token)`` between pages, once every
        record before that point has been yielded, and continues from ``resume`` (a token it
        gave earlier for the same ``since``) without re-reading those pages. One that cannot
        never calls it and starts over. ``skip_own_writes``: leave out records whose last
        change was this connection's own write, where the CRM can tell
        (``Capabilities.skips_own_writes``); ignored otherwise.
        """
        ...

    def read_people(self, refs: Sequence[RecordRef]) -> list[PersonRecord]:
        """The people ``refs`` name, read by id (a webhook's records), in as few calls as the
        CRM allows. A ref the CRM no longer has is left out: the next poll reads deletions."""
        ...

    def pull_activities(
        self,
        since: datetime | None,
        *,
        resume: str | None = None,
        checkpoint: Checkpoint | None = None,
    ) -> Iterator[ActivityRecord]:
        """Activities modified at or after ``since`` (all when ``None``), deletions included;
        ``resume`` and ``checkpoint`` as for ``pull_people``."""
        ...

    def find_people(self, emails: Sequence[str]) -> list[PersonRecord]:
        """Live people whose email is one of ``emails`` (any case), read by address, in as
        few calls as the CRM allows; every record type the connector pulls (Leads and
        Contacts). Used to read a person whole when only their address is known."""
        ...

    def read_activities(self, people: Sequence[PersonRecord]) -> list[ActivityRecord]:
        """Every activity of these people's records, read by id (not by modification time),
        deletions left out, in as few calls as the CRM allows. ``people`` are records this
        connector just returned from ``read_people``/``pull_people`` (so the email is known
        for CRMs that link activities by address)."""
        ...

    def read_address_activities(self, emails: Sequence[str]) -> list[ActivityRecord]:
        """Activities this CRM ties to an address alone (HubSpot's email events and form
        submissions), for ``emails`` (any case), deletions left out; none, and no call, for a
        CRM whose activities all name a record. Reads a person whole when no live record of
        this CRM holds their address (its contact deleted, or never made)."""
        ...

    def describe(self) -> dict[str, dict[str, FieldInfo]]:
        """Fields of every object the mapping touches: ``{object: {field: FieldInfo}}``."""
        ...

    def check(self) -> list[CheckProblem]:
        """Validate the mapping (and the configured owners, queues, statuses) against the org."""
        ...

    def check_targets(
        self, statuses: Sequence[str], campaigns: Sequence[str], lists: Sequence[str]
    ) -> list[CheckProblem]:
        """Statuses LeadSync sets and nurture campaigns (Salesforce) / lists (HubSpot) it
        enrols into, against the org; a connector checks the kinds its CRM has."""
        ...

    def create_fields(self) -> list[str]:
        """Create the mapped output fields that are missing; return what was created."""
        ...

    def plan_install(self, sales_users: Sequence[str]) -> list[InstallStep]:
        """What ``leadsync install`` makes so LeadSync works and sales sees its outputs: the
        integration user's access (read on every mapped input, edit on every output and what
        hand-off changes), read on the outputs for ``sales_users`` (CRM user ids), and the
        views or lists sales and marketing open. Creates no field (``create_fields`` does).
        Reads the CRM; changes nothing until a step runs."""
        ...

    def plan_uninstall(self, remove_fields: bool) -> list[InstallStep]:
        """What ``leadsync uninstall`` removes: everything ``plan_install`` makes, and the
        output fields LeadSync created when ``remove_fields`` (they hold data, so only when
        the admin asks). Reads the CRM; changes nothing until a step runs."""
        ...

    def write(self, updates: Sequence[RecordUpdate]) -> list[WriteOutcome]:
        """Write output values in as few calls as the CRM allows; one outcome per update."""
        ...

    def write_pages(self, pages: Iterable[Sequence[RecordUpdate]]) -> Iterator[list[WriteOutcome]]:
        """``write`` for a stream of pages: one outcome list per page, pages in order.

        A connector whose CRM writes better in large jobs may hold pages back and send them
        together; it yields a page's outcomes once all are known and reads the next page only
        when it needs it. One that cannot gain by it writes each page as it comes
        (``write_each``). If it raises, pages already answered stay answered.
        """
        ...

    def reassign(self, changes: Sequence[OwnerChange]) -> list[WriteOutcome]:
        """Set owners (and statuses) without letting CRM assignment rules override them."""
        ...

    def create_tasks(self, tasks: Sequence[TaskRequest]) -> list[WriteOutcome]:
        """Create tasks idempotently: a retry with the same ``key`` must not duplicate."""
        ...

    def enrol(self, enrolments: Sequence[Enrolment]) -> list[WriteOutcome]:
        """Add records to (or remove them from) nurture campaigns or lists; one outcome each."""
        ...

    def enrol_and_create_tasks(
        self, enrolments: Sequence[Enrolment], tasks: Sequence[TaskRequest]
    ) -> tuple[list[WriteOutcome], list[WriteOutcome]]:
        """``enrol`` and ``create_tasks`` at once, for a CRM that inserts both in the same
        calls; one outcome per enrolment and per task. A CRM that cannot gains nothing by
        it and sends them apart (``enrol_then_create_tasks``)."""
        ...

    def users(self) -> list[CrmUser]:
        """Users and queues that can own records, active and inactive."""
        ...

    def usage(self) -> ApiUsage:
        """API calls made so far by this connector, and the allowance left when known."""
        ...

    def close(self) -> None:
        """Release sessions and pools."""
        ...


def write_each(
    connector: Connector, pages: Iterable[Sequence[RecordUpdate]]
) -> Iterator[list[WriteOutcome]]:
    """``write_pages`` for a connector that gains nothing from holding pages: each in turn."""
    for page in pages:
        yield connector.write(page)


def enrol_then_create_tasks(
    connector: Connector, enrolments: Sequence[Enrolment], tasks: Sequence[TaskRequest]
) -> tuple[list[WriteOutcome], list[WriteOutcome]]:
    """``enrol_and_create_tasks`` for a CRM whose enrolments and tasks are calls apart."""
    enrolled = connector.enrol(enrolments) if enrolments else []
    created = connector.create_tasks(tasks) if tasks else []
    return enrolled, created
