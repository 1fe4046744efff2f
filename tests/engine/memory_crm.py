"""A CRM that lives in memory or in a JSON file, and a connector for it, for engine tests.

File-backed, it lives outside a process that may be killed with ``kill -9``: every mutation
is written to a temp file and renamed into place, so the file is always a whole state.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connectors.base import write_each
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


@dataclass
class MemoryCRM:
    people: dict[str, dict[str, Any]] = field(default_factory=dict)
    activities: dict[str, dict[str, Any]] = field(default_factory=dict)
    fields: dict[str, dict[str, Any]] = field(default_factory=dict)  # written output values
    write_log: list[list[str]] = field(default_factory=list)  # ids per write call
    reject: dict[str, str] = field(default_factory=dict)  # id -> error code
    path: Path | None = None
    clock_ticks: int = 0
    owners: dict[str, str] = field(default_factory=dict)
    statuses: dict[str, str] = field(default_factory=dict)
    owner_log: list[list[Any]] = field(default_factory=list)  # [id, owner, status] per change
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)  # by idempotency key
    task_log: list[str] = field(default_factory=list)  # key per create/upsert call item
    members: dict[str, list[str]] = field(default_factory=dict)  # campaign -> record ids
    users: list[dict[str, Any]] = field(default_factory=list)

    def tick(self) -> datetime:
        self.clock_ticks += 1
        return datetime.fromtimestamp(1_767_225_600 + self.clock_ticks, UTC)

    def add_person(self, pid: str, email: str, object_type: str = "Lead", **attrs: Any) -> None:
        self.people[pid] = {
            "email": email,
            "attrs": attrs,
            "modified": self.tick().isoformat(),
            "object": object_type,
        }
        self.save()

    def add_activity(
        self, aid: str, pid: str, kind: str, name: str = "", actor: str | None = None
    ) -> None:
        stamp = self.tick().isoformat()
        self.activities[aid] = {
            "person": pid,
            "kind": kind,
            "name": name,
            "at": stamp,
            "modified": stamp,
            "actor": actor,
        }
        self.save()

    def set_status(self, pid: str, status: str) -> None:
        """Sales changes a lead's status in the CRM (bumps its modstamp)."""
        self.statuses[pid] = status
        self.people[pid]["modified"] = self.tick().isoformat()
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

    def save(self) -> None:
        if self.path is None:
            return
        tmp = self.path.with_suffix(".tmp")
        state = {
            k: getattr(self, k)
            for k in (
                "people",
                "activities",
                "fields",
                "write_log",
                "reject",
                "clock_ticks",
                "owners",
                "statuses",
                "owner_log",
                "tasks",
                "task_log",
                "members",
                "users",
            )
        }
        tmp.write_text(json.dumps(state))
        os.replace(tmp, self.path)

    @classmethod
    def load(cls, path: Path) -> MemoryCRM:
        crm = cls(path=path)
        for key, value in json.loads(path.read_text()).items():
            setattr(crm, key, value)
        return crm


class MemoryConnector:
    def __init__(self, crm: MemoryCRM, name: str = "mem", fail_writes: int = 0) -> None:
        self.crm = crm
        self.name = name
        self.calls = 0
        self.fail_writes = fail_writes
        self.page_size = 50
        self.pages_read = 0
        #: The refs of every ``read_people`` call, in order.
        self.read_by_id: list[list[RecordRef]] = []

    def pull_people(
        self,
        since: datetime | None,
        *,
        resume: str | None = None,
        checkpoint: Callable[[str], None] | None = None,
    ) -> Iterator[PersonRecord]:
        self.calls += 1
        rows = sorted(self.crm.people.items(), key=lambda kv: kv[1]["modified"])
        for pid, p in self._paged(rows, resume, checkpoint):
            modified = datetime.fromisoformat(p["modified"])
            if since is None or modified >= since:
                yield self._person(pid, p, modified)

    def _paged(
        self,
        rows: list[tuple[str, dict[str, Any]]],
        resume: str | None,
        checkpoint: Callable[[str], None] | None,
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """Rows in pages of ``page_size``: a checkpoint (the next offset) after each page,
        and ``resume`` starting at such an offset; ``pages_read`` counts the pages served."""
        for start in range(int(resume or 0), len(rows), self.page_size):
            self.pages_read += 1
            yield from rows[start : start + self.page_size]
            if checkpoint is not None and start + self.page_size < len(rows):
                checkpoint(str(start + self.page_size))

    def read_people(self, refs: Sequence[RecordRef]) -> list[PersonRecord]:
        self.calls += 1
        self.read_by_id.append(list(refs))
        people = self.crm.people
        return [
            self._person(r.external_id, people[r.external_id], None)
            for r in dict.fromkeys(refs)
            if r.source == self.name and r.external_id in people
        ]

    def _person(self, pid: str, p: dict[str, Any], modified: datetime | None) -> PersonRecord:
        return PersonRecord(
            RecordRef(self.name, p.get("object", "Lead"), pid),
            p["email"],
            modified or datetime.fromisoformat(p["modified"]),
            p["attrs"],
            owner_id=self.crm.owners.get(pid),
            status=self.crm.statuses.get(pid, "Open"),
        )

    def pull_activities(
        self,
        since: datetime | None,
        *,
        resume: str | None = None,
        checkpoint: Callable[[str], None] | None = None,
    ) -> Iterator[ActivityRecord]:
        self.calls += 1
        rows = sorted(self.crm.activities.items(), key=lambda kv: kv[1]["modified"])
        for aid, a in self._paged(rows, resume, checkpoint):
            modified = datetime.fromisoformat(a["modified"])
            if since is None or modified >= since:
                yield ActivityRecord(
                    RecordRef(self.name, "Activity", aid),
                    a["kind"],
                    datetime.fromisoformat(a["at"]),
                    modified,
                    person=RecordRef(self.name, "Lead", a["person"]),
                    name=a["name"] or None,
                    actor_id=a.get("actor"),
                )

    def write(self, updates: Sequence[RecordUpdate]) -> list[WriteOutcome]:
        if self.fail_writes:
            self.fail_writes -= 1
            raise RetriableSyncError("503 Service Unavailable", connector=self.name, status=503)
        outcomes = []
        for start in range(0, len(updates), 200):
            batch = updates[start : start + 200]
            self.calls += 1
            self.crm.write_log.append([u.ref.external_id for u in batch])
            for update in batch:
                code = self.crm.reject.get(update.ref.external_id)
                if code:
                    outcomes.append(
                        WriteOutcome(
                            update.ref, False, RecordError(code, f"{code} says no", ("Score",))
                        )
                    )
                    continue
                current = self.crm.fields.setdefault(update.ref.external_id, {})
                current.update(
                    {
                        k: (v.isoformat() if isinstance(v, datetime) else v)
                        for k, v in update.values.items()
                    }
                )
                outcomes.append(WriteOutcome(update.ref, True))
        self.crm.save()
        return outcomes

    def write_pages(self, pages: Iterable[Sequence[RecordUpdate]]) -> Iterator[list[WriteOutcome]]:
        return write_each(self, pages)

    def describe(self) -> dict[str, dict[str, FieldInfo]]:
        return {}

    def check(self) -> list[CheckProblem]:
        return []

    def create_fields(self) -> list[str]:
        return []

    def reassign(self, changes: Sequence[OwnerChange]) -> list[WriteOutcome]:
        self.calls += 1
        outcomes = []
        for change in changes:
            pid = change.ref.external_id
            code = self.crm.reject.get(pid)
            if code or pid not in self.crm.people:
                error = RecordError(code or "ENTITY_IS_DELETED", f"{code} says no", ("OwnerId",))
                outcomes.append(WriteOutcome(change.ref, False, error))
                continue
            if change.owner_id is not None:
                self.crm.owners[pid] = change.owner_id
            if change.status is not None:
                self.crm.statuses[pid] = change.status
            self.crm.owner_log.append([pid, change.owner_id, change.status])
            outcomes.append(WriteOutcome(change.ref, True))
        self.crm.save()
        return outcomes

    def create_tasks(self, tasks: Sequence[TaskRequest]) -> list[WriteOutcome]:
        """Upserts on ``key``, as the real connectors do with an external id."""
        self.calls += 1
        for task in tasks:
            self.crm.task_log.append(task.key)
            self.crm.tasks[task.key] = {
                "record": task.person.external_id,
                "owner": task.owner_id,
                "subject": task.subject,
                "body": task.body,
                "due": task.due_at.isoformat(),
                "priority": task.priority,
            }
        self.crm.save()
        return [WriteOutcome(t.person, True) for t in tasks]

    def enrol(self, enrolments: Sequence[Enrolment]) -> list[WriteOutcome]:
        self.calls += 1
        for item in enrolments:
            members = self.crm.members.setdefault(item.target_id, [])
            pid = item.ref.external_id
            if item.remove and pid in members:
                members.remove(pid)
            elif not item.remove and pid not in members:
                members.append(pid)
        self.crm.save()
        return [WriteOutcome(e.ref, True) for e in enrolments]

    def users(self) -> list[CrmUser]:
        self.calls += 1
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
