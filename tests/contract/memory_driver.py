"""The contract suite's driver for the in-memory CRM the engine tests use."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from leadsync.records import NurtureKind, RecordRef
from tests.contract.drivers import MissingField, Owners, PersonState, Refusal, TaskState
from tests.engine.memory_crm import MemoryConnector, MemoryCRM

NAME = "memory"
#: More people (and half as many activities) than a page of the connector holds, so a full
#: pull checkpoints between pages.
SEEDED = 120


class MemoryDriver:
    label = NAME
    nurture_kind: NurtureKind = "campaign"
    nurture_target = "701-nurture"
    cursor_precision = timedelta(seconds=1)
    refusal = Refusal("fit", "excellent", "fit")

    def __init__(self, crm: MemoryCRM) -> None:
        self.crm = crm
        self.connect()
        crm.add_user("rep-a", "Ann Rep")
        crm.add_user("rep-gone", "Gone Rep", active=False)
        self.owners = Owners("rep-a", ("rep-gone", "nobody"), "OwnerId", "Working")
        self.absent = RecordRef(NAME, "Lead", "00Q999999")
        self._ids = itertools.count(1)
        for n in range(SEEDED):
            ref = self.new_person(f"seeded{n}@example.com")
            if n % 2:
                self.log_meeting(ref, f"Seeded meeting {n}")

    def connect(self) -> None:
        self.connector = MemoryConnector(self.crm, name=NAME)

    def new_person(self, email: str) -> RecordRef:
        pid = f"00Q{next(self._ids):06d}"
        self.crm.add_person(pid, email)
        return RecordRef(NAME, "Lead", pid)

    def change(self, ref: RecordRef) -> datetime:
        self.crm.set_attribute(ref.external_id, "title", f"Title {next(self._ids)}")
        return datetime.fromisoformat(self.crm.people[ref.external_id]["modified"])

    def delete(self, ref: RecordRef) -> None:
        self.crm.touch(ref.external_id, deleted=True)

    def people(self) -> dict[RecordRef, PersonState]:
        return {
            RecordRef(NAME, p.get("object", "Lead"), pid): PersonState(
                bool(p.get("deleted")), datetime.fromisoformat(p["modified"])
            )
            for pid, p in self.crm.people.items()
        }

    def address_activity(self, email: str) -> None:
        self.crm.add_activity(f"00U{next(self._ids):06d}", None, "email_open", email=email)

    def log_meeting(self, ref: RecordRef, title: str) -> datetime:
        aid = f"00U{next(self._ids):06d}"
        self.crm.add_activity(aid, ref.external_id, "meeting", name=title, actor="rep-a")
        return datetime.fromisoformat(self.crm.activities[aid]["modified"])

    def output(self, ref: RecordRef, output: str) -> Any:
        value = self.crm.fields.get(ref.external_id, {}).get(output)
        return float(value) if output == "score" and value is not None else value

    def owner_of(self, ref: RecordRef) -> str | None:
        return self.crm.owners.get(ref.external_id)

    def status_of(self, ref: RecordRef) -> str | None:
        return self.crm.statuses.get(ref.external_id)

    def task(self, key: str) -> list[TaskState]:
        task = self.crm.tasks.get(key)
        if task is None:
            return []
        return [TaskState(task["record"], task["owner"], bool(task.get("done")))]

    def complete_task(self, key: str) -> None:
        self.crm.tasks[key]["done"] = True

    def members(self, target: str) -> set[str]:
        return set(self.crm.members.get(target, []))

    def missing_field(self) -> MissingField:
        connector = MemoryConnector(self.crm, name=NAME, mapping={"title": "no_such_title"})
        return MissingField(connector, "Lead", "no_such_title")


@contextmanager
def memory_driver(tmp: Path) -> Iterator[MemoryDriver]:
    """A memory CRM with enough people to page, and its driver."""
    # A write bumps the record's stamp and names LeadSync as its last changer, as in a CRM.
    yield MemoryDriver(MemoryCRM(stamp_writes=True))
