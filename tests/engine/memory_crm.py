"""A CRM that lives in memory or in a JSON file, and a connector for it, for engine tests.

File-backed, it lives outside a process that may be killed with ``kill -9``: every mutation
is written to a temp file and renamed into place, so the file is always a whole state.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from leadsync.errors import RetriableSyncError
from leadsync.records import (
    ActivityRecord,
    ApiUsage,
    CheckProblem,
    CrmUser,
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

    def tick(self) -> datetime:
        self.clock_ticks += 1
        return datetime.fromtimestamp(1_767_225_600 + self.clock_ticks, UTC)

    def add_person(self, pid: str, email: str, **attrs: Any) -> None:
        self.people[pid] = {"email": email, "attrs": attrs, "modified": self.tick().isoformat()}
        self.save()

    def add_activity(self, aid: str, pid: str, kind: str, name: str = "") -> None:
        stamp = self.tick().isoformat()
        self.activities[aid] = {
            "person": pid,
            "kind": kind,
            "name": name,
            "at": stamp,
            "modified": stamp,
        }
        self.save()

    def save(self) -> None:
        if self.path is None:
            return
        tmp = self.path.with_suffix(".tmp")
        state = {
            k: getattr(self, k)
            for k in ("people", "activities", "fields", "write_log", "reject", "clock_ticks")
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

    def pull_people(self, since: datetime | None) -> Iterator[PersonRecord]:
        self.calls += 1
        for pid, p in sorted(self.crm.people.items(), key=lambda kv: kv[1]["modified"]):
            modified = datetime.fromisoformat(p["modified"])
            if since is None or modified >= since:
                yield PersonRecord(
                    RecordRef(self.name, "Lead", pid), p["email"], modified, p["attrs"]
                )

    def pull_activities(self, since: datetime | None) -> Iterator[ActivityRecord]:
        self.calls += 1
        for aid, a in sorted(self.crm.activities.items(), key=lambda kv: kv[1]["modified"]):
            modified = datetime.fromisoformat(a["modified"])
            if since is None or modified >= since:
                yield ActivityRecord(
                    RecordRef(self.name, "Activity", aid),
                    a["kind"],
                    datetime.fromisoformat(a["at"]),
                    modified,
                    person=RecordRef(self.name, "Lead", a["person"]),
                    name=a["name"] or None,
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

    def describe(self) -> dict[str, dict[str, FieldInfo]]:
        return {}

    def check(self) -> list[CheckProblem]:
        return []

    def create_fields(self) -> list[str]:
        return []

    def reassign(self, changes: Sequence[OwnerChange]) -> list[WriteOutcome]:
        return [WriteOutcome(c.ref, True) for c in changes]

    def create_tasks(self, tasks: Sequence[TaskRequest]) -> list[WriteOutcome]:
        return [WriteOutcome(t.person, True) for t in tasks]

    def users(self) -> list[CrmUser]:
        return []

    def usage(self) -> ApiUsage:
        return ApiUsage(calls=self.calls)

    def close(self) -> None:
        pass
