"""A CRM that lives in memory or in a JSON file, and a connector for it, for engine tests.

File-backed, it lives outside a process that may be killed with ``kill -9``: every mutation
is written to a temp file and renamed into place, so the file is always a whole state.

It does to records what the real CRMs do: a Lead converts to a Contact (``merged_into``), two
records merge (the loser is deleted, pointing at the survivor, its activities move over), a
record is deleted and undeleted, a person opts out, an email event carries only an address.
Faults are armed per connector call (:class:`Fault`) and raise what the real connectors raise
at their boundary (``leadsync.errors``); per-record rejections answer as theirs do.

It keeps the connector contract as the real connectors do, checked by the same suite
(``tests/contract``): an output value its field does not allow is refused naming the field, a
retried task is left as the rep left it, an inactive or unknown owner is refused, and ``check``
reports a mapped field the CRM does not have.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connectors.base import Capabilities, InstallStep, enrol_then_create_tasks, write_each
from leadsync.errors import RetriableSyncError
from leadsync.records import (
    ActivityRecord,
    ApiUsage,
    CheckProblem,
    CrmUser,
    Enrolment,
    FieldInfo,
    OwnerChange,
    PersonRecord,
    RecordError,
    RecordRef,
    RecordUpdate,
    TaskRequest,
    WriteOutcome,
)
from tests.engine.memory_faults import BUG, FAULT_KINDS, Fault, Fired
from tests.engine.memory_schema import (
    ATTRIBUTE_FIELDS,
    NO_SUCH_RECORD,
    invalid_value,
    person_fields,
)

# Faults live in their own module; engine tests import them from here.
__all__ = ["BUG", "FAULT_KINDS", "Fault", "Fired", "MemoryCRM", "MemoryConnector"]

#: Who changed a record last when it was LeadSync's write (``people[pid]["by"]``).
OWN_WRITE = "leadsync"

#: Record-level codes the real connectors mark retriable (Salesforce's TRANSIENT_CODES).
RETRIABLE_CODES = frozenset({"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE"})

_STATE_KEYS = (
    "people",
    "activities",
    "fields",
    "write_log",
    "reject",
    "reject_next",
    "clock_ticks",
    "epoch",
    "stamp_writes",
    "owners",
    "statuses",
    "owner_log",
    "tasks",
    "task_log",
    "task_moves",
    "members",
    "users",
    "installed",
)


@dataclass
class MemoryCRM:
    people: dict[str, dict[str, Any]] = field(default_factory=dict)
    activities: dict[str, dict[str, Any]] = field(default_factory=dict)
    fields: dict[str, dict[str, Any]] = field(default_factory=dict)  # written output values
    write_log: list[list[str]] = field(default_factory=list)  # ids per write call
    reject: dict[str, str] = field(default_factory=dict)  # id -> error code, every attempt
    #: id -> codes answered to the next attempts, one each (a row lock that clears).
    reject_next: dict[str, list[str]] = field(default_factory=dict)
    path: Path | None = None
    clock_ticks: int = 0
    #: Stamps are ``epoch + clock_ticks`` seconds; ``set_clock`` moves the epoch forward.
    epoch: float = 1_767_225_600
    #: Whether LeadSync's own writes bump the record's modstamp, as the real CRMs' do.
    stamp_writes: bool = False
    owners: dict[str, str] = field(default_factory=dict)
    statuses: dict[str, str] = field(default_factory=dict)
    owner_log: list[list[Any]] = field(default_factory=list)  # [id, owner, status] per change
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)  # by idempotency key
    task_log: list[str] = field(default_factory=list)  # key per create/upsert call item
    #: [key, old record, new record] when a retry of an existing task's key named another
    #: record (the task stays where it is, as the real connectors leave it).
    task_moves: list[list[str]] = field(default_factory=list)
    members: dict[str, list[str]] = field(default_factory=dict)  # campaign -> record ids
    users: list[dict[str, Any]] = field(default_factory=list)
    #: What ``install`` made: thing -> its detail (access grants, views), as a CRM keeps them.
    installed: dict[str, str] = field(default_factory=dict)

    def tick(self) -> datetime:
        self.clock_ticks += 1
        return datetime.fromtimestamp(self.epoch + self.clock_ticks, UTC)

    def set_clock(self, now: datetime) -> None:
        """Stamp what happens from here at ``now`` and after (never before an earlier stamp)."""
        self.epoch = max(self.epoch, now.timestamp() - self.clock_ticks)

    def add_person(self, pid: str, email: str, object_type: str = "Lead", **attrs: Any) -> None:
        stamp = self.tick().isoformat()
        self.people[pid] = {
            "email": email,
            "attrs": attrs,
            "modified": stamp,
            "created": stamp,
            "object": object_type,
        }
        self.save()

    def add_activity(
        self,
        aid: str,
        pid: str | None,
        kind: str,
        name: str = "",
        actor: str | None = None,
        **extra: Any,
    ) -> None:
        """An activity on record ``pid``, or (``pid=None``) one that names only ``email=``;
        ``extra`` may carry ``email``, ``campaign_type``, ``member_status`` and ``url``."""
        stamp = self.tick().isoformat()
        self.activities[aid] = {
            "person": pid,
            "kind": kind,
            "name": name,
            "at": stamp,
            "modified": stamp,
            "actor": actor,
            **extra,
        }
        self.save()

    def touch(self, pid: str, **changes: Any) -> None:
        """Change a record's own columns (``opted_out``, ``deleted`` ...) and bump its stamp."""
        self.people[pid].update(changes)
        self.people[pid]["modified"] = self.tick().isoformat()
        self.people[pid].pop("by", None)  # someone other than LeadSync changed it last
        self.save()

    def set_attribute(self, pid: str, name: str, value: Any) -> None:
        self.people[pid]["attrs"][name] = value
        self.touch(pid)

    def set_status(self, pid: str, status: str) -> None:
        """Sales changes a lead's status in the CRM (bumps its modstamp)."""
        self.statuses[pid] = status
        self.touch(pid)

    def convert(self, lead: str, contact: str) -> None:
        """Salesforce's lead conversion: a Contact with the lead's data and owner; the lead
        stays, converted, pointing at it; its tasks move to the contact."""
        source = self.people[lead]
        self.add_person(contact, source["email"], "Contact", **dict(source["attrs"]))
        self.people[contact]["opted_out"] = source.get("opted_out", False)
        if lead in self.owners:
            self.owners[contact] = self.owners[lead]
        self.touch(lead, converted_at=self.tick().isoformat(), merged_into=["Contact", contact])
        self._move_activities(lead, contact)

    def merge(self, loser: str, survivor: str) -> None:
        """A merge (Salesforce, HubSpot): the loser is deleted, naming the survivor, and its
        activities are re-parented to the survivor."""
        self.touch(loser, deleted=True, merged_into=[self.people[survivor]["object"], survivor])
        self._move_activities(loser, survivor)
        self.touch(survivor)

    def _move_activities(self, old: str, new: str) -> None:
        for activity in self.activities.values():
            if activity["person"] == old:
                activity["person"] = new
                activity["modified"] = self.tick().isoformat()
        self.save()

    def add_user(
        self,
        uid: str,
        name: str,
        *,
        active: bool = True,
        queue: bool = False,
        manager: str | None = None,
    ) -> None:
        self.users.append(
            {"id": uid, "name": name, "active": active, "queue": queue, "manager": manager}
        )
        self.save()

    def refusal(self, pid: str) -> str | None:
        """The code this record is refused with now (a transient one is used up), if any."""
        pending = self.reject_next.get(pid)
        if pending:
            code = pending.pop(0)
            if not pending:
                del self.reject_next[pid]
            return code
        record = self.people.get(pid)
        if record is not None and record.get("deleted"):
            return "ENTITY_IS_DELETED"
        if record is not None and record.get("converted_at"):
            return "CANNOT_UPDATE_CONVERTED_LEAD"
        return self.reject.get(pid)

    def save(self) -> None:
        if self.path is None:
            return
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({k: getattr(self, k) for k in _STATE_KEYS}))
        os.replace(tmp, self.path)

    @classmethod
    def load(cls, path: Path) -> MemoryCRM:
        crm = cls(path=path)
        for key, value in json.loads(path.read_text()).items():
            setattr(crm, key, value)
        return crm


class MemoryConnector:
    def __init__(
        self,
        crm: MemoryCRM,
        name: str = "mem",
        fail_writes: int = 0,
        capabilities: Capabilities | None = None,
        mapping: Mapping[str, str] | None = None,
    ) -> None:
        self.crm = crm
        self.name = name
        #: Canonical attribute -> the CRM field it is read from (by default, the field of the
        #: same name), as a real connector's mapping file says; ``check`` validates it.
        self.mapping = dict(mapping or {name: name for name in ATTRIBUTE_FIELDS})
        # A test double stands in for either CRM: its programmes are lists when it plays
        # HubSpot, campaigns otherwise (the real connectors declare theirs).
        # Like the real ones, it tells its own writes from others' unless it plays HubSpot.
        self.capabilities = capabilities or Capabilities(
            nurture="list" if name == "hubspot" else "campaign",
            skips_own_writes=name != "hubspot",
        )
        self.calls = 0
        self.fail_writes = fail_writes
        self.page_size = 50
        self.pages_read = 0
        #: The refs of every ``read_people`` call, in order.
        self.read_by_id: list[list[RecordRef]] = []
        #: Every ``read_people`` call, answered or not: its refs and whether it answered.
        self.read_attempts: list[tuple[list[RecordRef], bool]] = []
        #: Changes made in the CRM when the next activities pull starts (after the people
        #: pull): edits that land while a cycle runs, between its read and its writes.
        self.during_activities_pull: list[Callable[[], None]] = []
        #: ``pull_people`` calls so far (a test resets it per cycle with ``fired``).
        self.people_pulls = 0
        #: Armed faults per call name (``pull_people``, ``write``, ``create_tasks`` ...).
        self.faults: dict[str, list[Fault]] = {}
        self.fired: list[Fired] = []
        self._countdown: dict[str, int] = {}

    # -- faults ---------------------------------------------------------------------------

    def arm(self, call: str, fault: Fault) -> None:
        """Make the next ``call`` (after ``fault.after`` pages or calls) fail with ``fault``."""
        self.faults.setdefault(call, []).append(fault)

    def disarm(self) -> list[tuple[str, Fault]]:
        """Remove the faults no call has met; returns them."""
        left = [(call, f) for call, faults in self.faults.items() for f in faults]
        self.faults.clear()
        self._countdown.clear()
        return left

    def _due_fault(self, call: str) -> Fault | None:
        """The fault this call of ``call`` meets, counting down its ``after`` calls."""
        armed = self.faults.get(call)
        if not armed:
            return None
        fault = armed[0]
        left = self._countdown.get(call, fault.after)
        if left > 0:
            self._countdown[call] = left - 1
            return None
        armed.pop(0)
        self._countdown.pop(call, None)
        return fault

    def _fire(self, call: str, fault: Fault, after: int = 0) -> None:
        if fault.kind == BUG:
            self.fired.append(Fired(call, fault.kind, True, after, self._nth(call)))
            raise RuntimeError(f"{self.name}: a bug in the connector's {call}")
        error = fault.error(self.name)
        self.fired.append(Fired(call, fault.kind, error is not None, after, self._nth(call)))
        if error is not None:
            raise error

    def _meet(self, call: str, *, changes: bool = False) -> Fault | None:
        """Raise the fault armed for this call, except ``lost_reply`` on a call that
        ``changes`` the CRM: that one is returned, to raise once the change is applied."""
        fault = self._due_fault(call)
        if fault is None:
            return None
        if fault.kind == "lost_reply" and changes:
            return fault
        self._fire(call, fault)
        return None

    # -- reading ----------------------------------------------------------------------------

    def pull_people(
        self,
        since: datetime | None,
        *,
        resume: str | None = None,
        checkpoint: Callable[[str], None] | None = None,
        skip_own_writes: bool = False,
    ) -> Iterator[PersonRecord]:
        self.calls += 1
        self.people_pulls += 1
        rows = sorted(self.crm.people.items(), key=lambda kv: kv[1]["modified"])
        fault = self._pull_fault("pull_people")
        # Filtered by the CRM, as a query's WHERE: pages hold only what it returns.
        if since is not None:
            rows = [(pid, p) for pid, p in rows if datetime.fromisoformat(p["modified"]) >= since]
        if skip_own_writes and since is not None and self.capabilities.skips_own_writes:
            rows = [(pid, p) for pid, p in rows if p.get("by") != OWN_WRITE]
        for pid, p in self._paged(rows, resume, checkpoint, "pull_people", fault):
            yield self._person(pid, p, datetime.fromisoformat(p["modified"]))

    def _nth(self, call: str) -> int:
        return self.people_pulls if call == "pull_people" else 0

    def _pull_fault(self, call: str) -> Fault | None:
        armed = self.faults.get(call)
        return armed.pop(0) if armed else None

    def _paged(
        self,
        rows: list[tuple[str, dict[str, Any]]],
        resume: str | None,
        checkpoint: Callable[[str], None] | None,
        call: str = "",
        fault: Fault | None = None,
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """Rows in pages of ``page_size``: a checkpoint (the next offset) after each page,
        and ``resume`` starting at such an offset; ``pages_read`` counts the pages served.
        An armed ``fault`` goes off once its ``after`` pages were served (at the end of a
        shorter pull: the stream still fails)."""
        served = 0
        for start in range(int(resume or 0), len(rows), self.page_size):
            if fault is not None and served >= fault.after:
                self._fire(call, fault, served)
            self.pages_read += 1
            served += 1
            yield from rows[start : start + self.page_size]
            if checkpoint is not None and start + self.page_size < len(rows):
                checkpoint(str(start + self.page_size))
        if fault is not None:
            self._fire(call, fault, served)

    def read_people(self, refs: Sequence[RecordRef]) -> list[PersonRecord]:
        self.calls += 1
        try:
            self._meet("read_people")
        except Exception:
            self.read_attempts.append((list(refs), False))
            raise
        self.read_attempts.append((list(refs), True))
        self.read_by_id.append(list(refs))
        people = self.crm.people
        return [
            self._person(r.external_id, people[r.external_id], None)
            for r in dict.fromkeys(refs)
            if r.source == self.name and r.external_id in people
        ]

    def find_people(self, emails: Sequence[str]) -> list[PersonRecord]:
        """Live records whose address is one of ``emails`` (the contract's read by email)."""
        self.calls += 1
        self._meet("find_people")
        wanted = {e.strip().lower() for e in emails if e}
        return [
            self._person(pid, p, None)
            for pid, p in sorted(self.crm.people.items())
            if (p.get("email") or "").strip().lower() in wanted and not p.get("deleted")
        ]

    def read_activities(self, people: Sequence[PersonRecord]) -> list[ActivityRecord]:
        """Every live activity of these records, and those linked only by their address."""
        self.calls += 1
        self._meet("read_activities")
        ids = {p.ref.external_id for p in people if p.ref.source == self.name}
        emails = {(p.email or "").strip().lower() for p in people} - {""}
        return [
            self._activity(aid, a, datetime.fromisoformat(a["modified"]))
            for aid, a in sorted(self.crm.activities.items())
            if not a.get("deleted")
            and (
                a["person"] in ids
                or (a["person"] is None and (a.get("email") or "").strip().lower() in emails)
            )
        ]

    def read_address_activities(self, emails: Sequence[str]) -> list[ActivityRecord]:
        """Live activities linked only by one of these addresses."""
        wanted = {e.strip().lower() for e in emails} - {""}
        if not wanted:
            return []
        self.calls += 1
        self._meet("read_activities")
        return [
            self._activity(aid, a, datetime.fromisoformat(a["modified"]))
            for aid, a in sorted(self.crm.activities.items())
            if not a.get("deleted")
            and a["person"] is None
            and (a.get("email") or "").strip().lower() in wanted
        ]

    def _person(self, pid: str, p: dict[str, Any], modified: datetime | None) -> PersonRecord:
        merged = p.get("merged_into")
        converted = p.get("converted_at")
        attributes = dict(p["attrs"])
        for canonical, crm_field in self.mapping.items():
            if crm_field != canonical:
                attributes.pop(canonical, None)
                if crm_field in p["attrs"]:
                    attributes[canonical] = p["attrs"][crm_field]
        return PersonRecord(
            RecordRef(self.name, p.get("object", "Lead"), pid),
            p["email"],
            modified or datetime.fromisoformat(p["modified"]),
            attributes,
            owner_id=self.crm.owners.get(pid),
            status=self.crm.statuses.get(pid, "Open"),
            opted_out=bool(p.get("opted_out", False)),
            converted_at=datetime.fromisoformat(converted) if converted else None,
            deleted=bool(p.get("deleted", False)),
            merged_into=RecordRef(self.name, merged[0], merged[1]) if merged else None,
            created_at=datetime.fromisoformat(p["created"]) if "created" in p else None,
        )

    def pull_activities(
        self,
        since: datetime | None,
        *,
        resume: str | None = None,
        checkpoint: Callable[[str], None] | None = None,
    ) -> Iterator[ActivityRecord]:
        self.calls += 1
        while self.during_activities_pull:
            # Someone works in the CRM while the cycle runs: after it read the people.
            self.during_activities_pull.pop(0)()
        rows = sorted(self.crm.activities.items(), key=lambda kv: kv[1]["modified"])
        fault = self._pull_fault("pull_activities")
        for aid, a in self._paged(rows, resume, checkpoint, "pull_activities", fault):
            modified = datetime.fromisoformat(a["modified"])
            if since is None or modified >= since:
                yield self._activity(aid, a, modified)

    def _activity(self, aid: str, a: dict[str, Any], modified: datetime) -> ActivityRecord:
        pid = a["person"]
        person = None
        if pid is not None:
            owner = self.crm.people.get(pid, {})
            person = RecordRef(self.name, owner.get("object", "Lead"), pid)
        return ActivityRecord(
            RecordRef(self.name, "Activity", aid),
            a["kind"],
            datetime.fromisoformat(a["at"]),
            modified,
            person=person,
            email=a.get("email"),
            name=a["name"] or None,
            campaign_type=a.get("campaign_type"),
            member_status=a.get("member_status"),
            url=a.get("url"),
            actor_id=a.get("actor"),
            deleted=bool(a.get("deleted", False)),
        )

    # -- writing ----------------------------------------------------------------------------

    def _refused(self, ref: RecordRef, fields: tuple[str, ...]) -> WriteOutcome | None:
        code = self.crm.refusal(ref.external_id)
        if code is None:
            return None
        error = RecordError(code, f"{code} says no", fields, retriable=code in RETRIABLE_CODES)
        return WriteOutcome(ref, False, error)

    def _stamp(self, pid: str) -> None:
        if self.crm.stamp_writes and pid in self.crm.people:
            self.crm.people[pid]["modified"] = self.crm.tick().isoformat()
            self.crm.people[pid]["by"] = OWN_WRITE

    def write(self, updates: Sequence[RecordUpdate]) -> list[WriteOutcome]:
        if self.fail_writes:
            self.fail_writes -= 1
            raise RetriableSyncError("503 Service Unavailable", connector=self.name, status=503)
        lost = self._meet("write", changes=True)
        outcomes = []
        for start in range(0, len(updates), 200):
            batch = updates[start : start + 200]
            self.calls += 1
            self.crm.write_log.append([u.ref.external_id for u in batch])
            for update in batch:
                refused = self._refused(update.ref, ("Score",))
                if refused is None and update.ref.external_id not in self.crm.people:
                    refused = WriteOutcome(update.ref, False, NO_SUCH_RECORD)
                invalid = invalid_value(update.values) if refused is None else None
                if invalid is not None:
                    refused = WriteOutcome(update.ref, False, invalid)
                if refused is not None:
                    outcomes.append(refused)
                    continue
                current = self.crm.fields.setdefault(update.ref.external_id, {})
                current.update(
                    {
                        k: (v.isoformat() if isinstance(v, datetime) else v)
                        for k, v in update.values.items()
                    }
                )
                self._stamp(update.ref.external_id)
                outcomes.append(WriteOutcome(update.ref, True))
        self.crm.save()
        if lost is not None:
            self._fire("write", lost)
        return outcomes

    def write_pages(self, pages: Iterable[Sequence[RecordUpdate]]) -> Iterator[list[WriteOutcome]]:
        return write_each(self, pages)

    def describe(self) -> dict[str, dict[str, FieldInfo]]:
        """The fields every person record has (Leads and Contacts alike)."""
        return {"Lead": person_fields(), "Contact": person_fields()}

    def check(self) -> list[CheckProblem]:
        """Each mapped attribute whose field the CRM does not have."""
        have = self.describe()["Lead"]
        return [
            CheckProblem(
                "Lead",
                crm_field,
                f"attribute {canonical!r} reads a field the CRM does not have",
                "create the field in the CRM or map the attribute to one it has",
            )
            for canonical, crm_field in self.mapping.items()
            if crm_field not in have
        ]

    def check_targets(
        self, statuses: Sequence[str], campaigns: Sequence[str], lists: Sequence[str]
    ) -> list[CheckProblem]:
        return []

    def create_fields(self) -> list[str]:
        return []

    def plan_install(self, sales_users: Sequence[str]) -> list[InstallStep]:
        """Access for the integration user and for ``sales_users``, and one view of the
        outputs: as a CRM keeps them, in ``crm.installed``."""
        wanted = {
            "access for the integration user": f"read on {len(self.mapping)} fields",
            "view of hand-raisers": "Fit, Score, Readiness",
        }
        wanted.update({f"read on the outputs for {user}": "outputs" for user in sales_users})
        return [self._install_step(what, detail) for what, detail in wanted.items()]

    def _install_step(self, what: str, detail: str) -> InstallStep:
        have = self.crm.installed.get(what)
        if have == detail:
            return InstallStep(what, "unchanged", detail)

        def run() -> None:
            self.calls += 1
            self.crm.installed[what] = detail
            self.crm.save()

        return InstallStep(what, "create" if have is None else "update", detail, run)

    def plan_uninstall(self, remove_fields: bool) -> list[InstallStep]:
        def remover(what: str) -> Callable[[], None]:
            def run() -> None:
                self.calls += 1
                del self.crm.installed[what]
                self.crm.save()

            return run

        return [InstallStep(what, "remove", "", remover(what)) for what in self.crm.installed]

    def reassign(self, changes: Sequence[OwnerChange]) -> list[WriteOutcome]:
        self.calls += 1
        lost = self._meet("reassign", changes=True)
        outcomes = []
        for change in changes:
            pid = change.ref.external_id
            refused = self._refused(change.ref, ("OwnerId",))
            if refused is None and pid not in self.crm.people:
                error = RecordError("ENTITY_IS_DELETED", "entity is deleted", ("OwnerId",))
                refused = WriteOutcome(change.ref, False, error)
            if refused is None and change.owner_id is not None:
                owner_error = self._owner_error(change.owner_id)
                if owner_error is not None:
                    refused = WriteOutcome(change.ref, False, owner_error)
            if refused is not None:
                outcomes.append(refused)
                continue
            if change.owner_id is not None:
                self.crm.owners[pid] = change.owner_id
            if change.status is not None:
                self.crm.statuses[pid] = change.status
            self.crm.owner_log.append([pid, change.owner_id, change.status])
            self._stamp(pid)
            outcomes.append(WriteOutcome(change.ref, True))
        self.crm.save()
        if lost is not None:
            self._fire("reassign", lost)
        return outcomes

    def _owner_error(self, owner_id: str) -> RecordError | None:
        """Why the CRM refuses ``owner_id`` as an owner: a user who left, or (once the CRM
        has a user directory) an id it never issued."""
        users = {u["id"]: u for u in self.crm.users}
        user = users.get(owner_id)
        if user is None and users:
            return RecordError(
                "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", ("OwnerId",)
            )
        if user is not None and not user["active"]:
            return RecordError(
                "INACTIVE_OWNER_OR_USER",
                f"operation performed with inactive user [{owner_id}] as owner of lead",
                ("OwnerId",),
            )
        return None

    def create_tasks(self, tasks: Sequence[TaskRequest]) -> list[WriteOutcome]:
        """Creates each task once per ``key``, as the real connectors do with a unique key:
        a retry of a key that has a task succeeds and leaves it as the rep left it."""
        self.calls += 1
        lost = self._meet("create_tasks", changes=True)
        outcomes = []
        for task in tasks:
            record = task.person.external_id
            refused = self._refused(task.person, ("WhoId",)) if record in self.crm.people else None
            if refused is not None:
                outcomes.append(refused)
                continue
            self.crm.task_log.append(task.key)
            before = self.crm.tasks.get(task.key)
            if before is not None:
                if before["record"] != record:
                    self.crm.task_moves.append([task.key, before["record"], record])
                outcomes.append(WriteOutcome(task.person, True))
                continue
            self.crm.tasks[task.key] = {
                "record": record,
                "owner": task.owner_id,
                "subject": task.subject,
                "body": task.body,
                "due": task.due_at.isoformat(),
                "priority": task.priority,
            }
            outcomes.append(WriteOutcome(task.person, True))
        self.crm.save()
        if lost is not None:
            self._fire("create_tasks", lost)
        return outcomes

    def enrol_and_create_tasks(
        self, enrolments: Sequence[Enrolment], tasks: Sequence[TaskRequest]
    ) -> tuple[list[WriteOutcome], list[WriteOutcome]]:
        """Lists and tasks are different APIs here: the calls go apart."""
        return enrol_then_create_tasks(self, enrolments, tasks)

    def enrol(self, enrolments: Sequence[Enrolment]) -> list[WriteOutcome]:
        self.calls += 1
        lost = self._meet("enrol", changes=True)
        outcomes = []
        for item in enrolments:
            pid = item.ref.external_id
            refused = self._refused(item.ref, ("CampaignId",)) if pid in self.crm.people else None
            if refused is not None:
                outcomes.append(refused)
                continue
            members = self.crm.members.setdefault(item.target_id, [])
            if item.remove and pid in members:
                members.remove(pid)
            elif not item.remove and pid not in members:
                members.append(pid)
            outcomes.append(WriteOutcome(item.ref, True))
        self.crm.save()
        if lost is not None:
            self._fire("enrol", lost)
        return outcomes

    def users(self) -> list[CrmUser]:
        self.calls += 1
        self._meet("users")
        return [
            CrmUser(
                u["id"], u["name"], active=u["active"], is_queue=u["queue"], manager_id=u["manager"]
            )
            for u in self.crm.users
        ]

    def usage(self) -> ApiUsage:
        return ApiUsage(calls=self.calls)

    def close(self) -> None:
        pass
