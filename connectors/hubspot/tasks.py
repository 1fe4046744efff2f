"""Hand-off tasks: created once per key, associated to their contact, never re-sent.

A task is created by batch create (100 a call) with its key in the unique task property
``leadsync_key`` and its contact association in the same input, so a new task costs one call
and exists only associated. A retry of a task that exists is refused whole: HubSpot answers
409 ``CONFLICT`` ("... already exists. Existing ID: n", naming only the first conflicting
input) and creates none of the batch. The tasks of that batch are then looked up by their key
(one batch read); those found are that retry's success, with the existing id, and are only
re-associated to their contact (idempotent); the others are created again. Nothing is written
to a task that exists, so a retry never reopens a task the rep completed, nor resets the
owner, subject or due date the rep changed.

A batch HubSpot refuses with 400 (a contact gone since the hand-off was planned, an owner
HubSpot no longer knows) is split until the bad inputs stand alone, so only they fail, with
HubSpot's message. A call HubSpot never answered (no connection, a timeout, 5xx after the
retries) raises: the tasks stay owed without spending an attempt, and a task that this call
did create is found by its key next time.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from connectors.hubspot.client import HubSpotClient, HubSpotRejected
from connectors.hubspot.mapping import TASK_PRIORITY, HubSpotMapping, format_value
from connectors.hubspot.write import (
    SPLIT_CALLS,
    batch_error,
    chunks_without_repeats,
    errors_by_id,
)
from leadsync.records import RecordError, RecordRef, TaskRequest, WriteOutcome

log = structlog.get_logger(__name__)

#: Rounds of "create, refused as existing, look up" one call of ``create_tasks`` allows per
#: task before giving up for this cycle; a second refusal means a concurrent writer.
CONFLICT_ROUNDS = 2

Pending = tuple[int, TaskRequest]


def create_tasks(
    client: HubSpotClient, mapping: HubSpotMapping, tasks: Sequence[TaskRequest]
) -> list[WriteOutcome]:
    """Create hand-off tasks associated to their contacts; one outcome per task, in order."""
    creator = _TaskCreate(client, mapping, len(tasks))
    pending = list(enumerate(tasks))
    for chunk in chunks_without_repeats(pending, key=lambda item: item[1].key):
        creator.send(chunk, CONFLICT_ROUNDS)
    return [o for o in creator.outcomes if o is not None]


def task_properties(task: TaskRequest, key_property: str) -> dict[str, str]:
    """A new ``TaskRequest`` as HubSpot task properties (sent on create only)."""
    return {
        "hs_task_subject": task.subject,
        "hs_task_body": task.body,
        "hs_timestamp": format_value(task.due_at),
        "hubspot_owner_id": task.owner_id,
        "hs_task_status": "NOT_STARTED",
        "hs_task_type": "TODO",
        "hs_task_priority": TASK_PRIORITY.get(task.priority, "MEDIUM"),
        key_property: task.key,
    }


class _TaskCreate:
    """Sends chunks of task creates, settling conflicts and splitting refused batches."""

    def __init__(self, client: HubSpotClient, mapping: HubSpotMapping, count: int) -> None:
        self.client = client
        self.mapping = mapping
        self.key_property = mapping.tasks.key_property
        self.outcomes: list[WriteOutcome | None] = [None] * count
        self.split_calls_left = SPLIT_CALLS

    def ref(self, task: TaskRequest) -> RecordRef:
        return RecordRef(self.client.name, "task", task.key)

    def done(self, index: int, task: TaskRequest, task_id: str) -> None:
        self.outcomes[index] = WriteOutcome(ref=self.ref(task), ok=True, created_id=task_id)

    def fail(
        self, chunk: Sequence[Pending], error: RecordError, created: dict[str, str] | None = None
    ) -> None:
        for index, task in chunk:
            created_id = (created or {}).get(task.key)
            self.outcomes[index] = WriteOutcome(
                ref=self.ref(task), ok=False, error=error, created_id=created_id
            )

    def send(self, chunk: Sequence[Pending], rounds: int) -> None:
        association = {
            "associationCategory": "HUBSPOT_DEFINED",
            "associationTypeId": self.mapping.tasks.contact_association_type_id,
        }
        body = {
            "inputs": [
                {
                    "objectWriteTraceId": task.key,
                    "properties": task_properties(task, self.key_property),
                    "associations": [
                        {"to": {"id": task.person.external_id}, "types": [association]}
                    ],
                }
                for _, task in chunk
            ]
        }
        try:
            answer = self.client.call(
                "tasks.batch_create", "crm.objects.tasks.batch_api", "create", body
            )
        except HubSpotRejected as exc:
            if exc.status == 409 and rounds > 0:
                self.settle_existing(chunk, rounds - 1)
            elif exc.status == 409:
                conflict = RecordError(
                    code=exc.category,
                    message=f"{exc.hubspot_message}; the task was created by another writer "
                    "while this one looked it up; retried next cycle",
                    retriable=True,
                )
                self.fail(chunk, conflict)
            elif exc.status == 400 and len(chunk) > 1 and self.split_calls_left >= 2:
                self.split(chunk, rounds, exc)
            else:
                self.fail(chunk, batch_error(exc))
            return
        created: dict[str, str] = {}
        for row in answer.get("results") or []:
            key = (row.get("properties") or {}).get(self.key_property)
            if key:
                created[str(key)] = str(row["id"])
        failed = errors_by_id(answer)
        for index, task in chunk:
            if task.key in created:
                self.done(index, task, created[task.key])
            else:
                self.fail(
                    [(index, task)],
                    failed.get(task.key)
                    or RecordError(
                        code="NO_RESULT",
                        message="the create answer did not return this task",
                        retriable=True,
                    ),
                )
        log.info("hubspot.tasks_created", connector=self.client.name, count=len(created))

    def split(self, chunk: Sequence[Pending], rounds: int, exc: HubSpotRejected) -> None:
        self.split_calls_left -= 2
        middle = len(chunk) // 2
        log.info(
            "hubspot.tasks.split",
            connector=self.client.name,
            count=len(chunk),
            category=exc.category,
        )
        self.send(chunk[:middle], rounds)
        self.send(chunk[middle:], rounds)

    def settle_existing(self, chunk: Sequence[Pending], rounds: int) -> None:
        """After a 409: tasks found by key succeed as they are; the rest are created again."""
        body = {
            "idProperty": self.key_property,
            "inputs": [{"id": task.key} for _, task in chunk],
            "properties": [self.key_property],
        }
        try:
            answer = self.client.call(
                "tasks.batch_read", "crm.objects.tasks.batch_api", "read", body
            )
        except HubSpotRejected as exc:
            self.fail(chunk, batch_error(exc))
            return
        existing: dict[str, str] = {}
        for row in answer.get("results") or []:
            key = (row.get("properties") or {}).get(self.key_property)
            if key:
                existing[str(key)] = str(row["id"])
        found = [(i, t) for i, t in chunk if t.key in existing]
        missing = [(i, t) for i, t in chunk if t.key not in existing]
        log.info(
            "hubspot.tasks_existing",
            connector=self.client.name,
            found=len(found),
            missing=len(missing),
        )
        if found:
            self.reassociate(found, existing)
        if missing:
            self.send(missing, rounds)

    def reassociate(self, found: Sequence[Pending], existing: dict[str, str]) -> None:
        """Re-assert each existing task's contact association (a no-op when it is there)."""
        spec = {
            "associationCategory": "HUBSPOT_DEFINED",
            "associationTypeId": self.mapping.tasks.contact_association_type_id,
        }
        body = {
            "inputs": [
                {
                    "from": {"id": existing[task.key]},
                    "to": {"id": task.person.external_id},
                    "types": [spec],
                }
                for _, task in found
            ]
        }
        try:
            answer = self.client.call(
                "associations.tasks.create",
                "crm.associations.v4.batch_api",
                "create",
                "tasks",
                "contacts",
                body,
                expect_body=False,
            )
        except HubSpotRejected as exc:
            self.fail(found, batch_error(exc), created=existing)
            return
        failed = errors_by_id(answer) if answer else {}
        for index, task in found:
            task_id = existing[task.key]
            error = failed.get(task_id) or failed.get(task.person.external_id)
            if error is None:
                self.done(index, task, task_id)
            else:
                self.fail([(index, task)], error, created=existing)
