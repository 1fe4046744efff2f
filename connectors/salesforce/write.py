"""Writing to Salesforce: sObject Collections (200 a call) and Bulk API 2.0 ingest above a size.

Every write keeps each record's outcome: a Collections answer is a list of SaveResults in the
order sent, a Bulk job answers with successful / failed / unprocessed CSVs keyed by ``sf__Id``.
Records refused with a transient code (``UNABLE_TO_LOCK_ROW``) are re-sent, alone, by the
call's one retry loop (the client's); what still fails is reported ``retriable=True``. A call
that fails whole (no connection, a timeout, 5xx after the retries) raises: the CRM said nothing
about any record, so no record's attempt is spent; the engine keeps them all owed.
Every call carries ``Sforce-Auto-Assign: FALSE`` so an active Lead assignment rule cannot
silently replace the owner LeadSync (or sales) chose.
"""

from __future__ import annotations

import contextlib
import re
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import structlog

from connectors.salesforce.bulk_batch import BulkBatch
from connectors.salesforce.client import BulkIngestResult, RunningIngest, SalesforceClient
from connectors.salesforce.collections import (
    COLLECTION_LIMIT,
    NO_AUTO_ASSIGN,
    Collections,
    Pending,
    Tolerate,
    TransientRecords,
    merged,
    no_result,
    save_error,
)
from connectors.salesforce.http import TRANSIENT_CODES
from connectors.salesforce.mapping import SalesforceMapping
from leadsync.records import (
    OwnerChange,
    RecordError,
    RecordRef,
    RecordUpdate,
    TaskRequest,
    WriteOutcome,
)

log = structlog.get_logger(__name__)

REASON_LENGTH = 255


def sf_value(value: Any) -> Any:
    """A Python value as Salesforce JSON: UTC ``...T...Z`` datetimes, ISO dates, numbers."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        utc = value if value.tzinfo is UTC else value.astimezone(UTC)
        # isoformat is several times faster than strftime; a backfill writes a million stamps.
        return utc.isoformat(timespec="milliseconds")[:23] + "Z"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def update_fields(update: RecordUpdate, mapping: SalesforceMapping) -> dict[str, Any] | RecordError:
    """The Salesforce fields for one update; outputs the object does not map are left out."""
    obj = mapping.objects.get(update.ref.object_type)
    if obj is None:
        return RecordError(
            "LEADSYNC_UNMAPPED_OBJECT",
            f"{update.ref.object_type} has no section in the Salesforce mapping; add "
            f"[objects.{update.ref.object_type}.outputs] to mappings/salesforce.toml",
        )
    fields: dict[str, Any] = {}
    for output, value in update.values.items():
        field = obj.outputs.get(output)
        if field is None:
            continue
        crm = mapping.crm_value(output, value)
        if output in ("reason", "recycle_reason") and isinstance(crm, str):
            crm = crm[:REASON_LENGTH]
        fields[field] = sf_value(crm)
    return fields


def parse_bulk_error(text: str) -> RecordError:
    """``CODE:message:Field1,Field2 --`` (a Bulk 2.0 ``sf__Error`` cell) as a ``RecordError``."""
    body = text.strip()
    if body.endswith("--"):
        body = body[:-2].rstrip()
    code, _, rest = body.partition(":")
    message = rest
    fields: tuple[str, ...] = ()
    head, sep, tail = rest.rpartition(":")
    if sep and tail and all(part.strip().replace("_", "").isalnum() for part in tail.split(",")):
        message, fields = head, tuple(p.strip() for p in tail.split(",") if p.strip())
    code = code.strip() or "UNKNOWN"
    return RecordError(code, message.strip(), fields, retriable=code in TRANSIENT_CODES)


#: ``duplicate value found: <field> duplicates value on record with id: <id>``
_DUPLICATE_ID = re.compile(r"record with id:\s*([A-Za-z0-9]{15,18})")


def _duplicate_of_field(error: RecordError, field: str) -> bool:
    """Whether ``error`` is a unique-field ``DUPLICATE_VALUE`` on ``field``."""
    return error.code == "DUPLICATE_VALUE" and (
        field in error.fields or field.lower() in error.message.lower()
    )


def _duplicate_id(error: RecordError) -> str | None:
    """The id of the record a ``DUPLICATE_VALUE`` message names, when it names one."""
    found = _DUPLICATE_ID.search(error.message)
    return found.group(1) if found else None


def owner_change_fields(
    change: OwnerChange, mapping: SalesforceMapping
) -> dict[str, Any] | RecordError:
    """OwnerId (unless ``owner_id`` is None) and the mapped status field for one change.

    A status the object has no mapped field for is logged and left out when the owner still
    changes; a status-only change with nowhere to put the status is refused.
    """
    fields: dict[str, Any] = {}
    if change.owner_id is not None:
        fields["OwnerId"] = change.owner_id
    if change.status is not None:
        obj = mapping.objects.get(change.ref.object_type)
        if obj is not None and obj.status:
            fields[obj.status] = change.status
        else:
            log.warning(
                "salesforce.reassign.status_unmapped",
                object=change.ref.object_type,
                hint="map objects.<object>.status in mappings/salesforce.toml",
            )
    if not fields:
        return RecordError(
            "LEADSYNC_NOTHING_TO_CHANGE",
            f"no owner given and {change.ref.object_type} has no status field mapped; map "
            f"objects.{change.ref.object_type}.status in mappings/salesforce.toml",
        )
    return fields


class Writer:
    """Collections and Bulk writes for one connection."""

    def __init__(self, client: SalesforceClient, mapping: SalesforceMapping) -> None:
        self.client = client
        self.mapping = mapping
        self.settings = client.settings
        self.collections = Collections(client)

    # -- public operations ---------------------------------------------------------------------

    def write(self, updates: Sequence[RecordUpdate]) -> list[WriteOutcome]:
        (outcomes,) = self.write_pages([updates])
        return outcomes

    def write_pages(self, pages: Iterable[Sequence[RecordUpdate]]) -> Iterator[list[WriteOutcome]]:
        """Output values (and owner changes riding with them) of a stream of pages, with one
        Bulk job per object across pages.

        An object's records wait while they number ``bulk_write_threshold`` or fewer (few
        enough for Collections); past that they go into the object's open Bulk job, which is
        sent when its CSV nears the upload limit or the pages end. A sent job runs on the org
        while later pages fill the next one; it is polled between pages when its poll is due.
        What waits goes out at the end in Collections calls of 200 whatever the object (see
        ``connectors.salesforce.collections``); a record carrying an owner change always does,
        so a hand-off never waits on a Bulk job. A page's outcomes are yielded, pages in order,
        once every one is known, so a page whose records sit in an unfinished job waits for
        that job; the next page is read only when this one is placed.
        """
        held: deque[tuple[list[RecordRef], list[WriteOutcome | None]]] = deque()
        waiting: dict[str, dict[RecordRef, Pending]] = {}
        jobs: dict[str, BulkBatch] = {}
        running: list[tuple[RunningIngest, BulkBatch]] = []
        for page in pages:
            outcomes: list[WriteOutcome | None] = [None] * len(page)
            held.append(([update.ref for update in page], outcomes))
            for item in self._pending(page, outcomes):
                self._place(item, waiting, jobs, running)
            running = [job for job in running if not self._bulk_done(*job)]
            while held and None not in held[0][1]:
                refs, done = held.popleft()
                yield complete(done, refs)
        self.collections.send([item for queue in waiting.values() for item in queue.values()])
        running.extend(self._bulk_start(job) for job in jobs.values())
        while running:
            # Each job is polled when due, and a page is answered as soon as its jobs are.
            self.client.await_poll([job for job, _ in running])
            running = [job for job in running if not self._bulk_done(*job)]
            while held and None not in held[0][1]:
                refs, done = held.popleft()
                yield complete(done, refs)
        while held:
            refs, outcomes = held.popleft()
            yield complete(outcomes, refs)

    def _place(
        self,
        item: Pending,
        waiting: dict[str, dict[RecordRef, Pending]],
        jobs: dict[str, BulkBatch],
        running: list[tuple[RunningIngest, BulkBatch]],
    ) -> None:
        """Hold ``item`` for Collections, or put it in its object's Bulk job once the object's
        records pass the threshold. A record already waiting takes the later change."""
        queue = waiting.setdefault(item.sobject, {})
        earlier = queue.get(item.ref)
        if earlier is not None:
            earlier.absorb(item)
            return
        if item.sobject in jobs and not item.owner_slots:
            self._to_job(item, jobs, running)
            return
        queue[item.ref] = item
        if item.sobject in jobs or len(queue) <= self.settings.bulk_write_threshold:
            return
        jobs[item.sobject] = BulkBatch(item.sobject)
        for ref, each in list(queue.items()):
            if not each.owner_slots:
                del queue[ref]
                self._to_job(each, jobs, running)

    def _to_job(
        self,
        item: Pending,
        jobs: dict[str, BulkBatch],
        running: list[tuple[RunningIngest, BulkBatch]],
    ) -> None:
        job = jobs[item.sobject]
        if not job.takes(item.ref, item.fields):
            running.append(self._bulk_start(job))
            job = jobs[item.sobject] = BulkBatch(item.sobject)
        job.add(item, item.fields)

    def _pending(
        self, updates: Sequence[RecordUpdate], outcomes: list[WriteOutcome | None]
    ) -> list[Pending]:
        """One Pending per record of a page, in first-seen order: a record named twice merges
        (later values win); an update's owner change rides with the record's values."""
        items = []
        for index, update in enumerate(updates):
            fields = update_fields(update, self.mapping)
            if isinstance(fields, RecordError):
                outcomes[index] = WriteOutcome(update.ref, ok=False, error=fields)
                continue
            item = Pending.at(index, update.ref, update.ref.object_type, fields, outcomes)
            if update.owner is not None:
                owner = owner_change_fields(update.owner, self.mapping)
                if isinstance(owner, RecordError):
                    outcomes[index] = WriteOutcome(update.ref, ok=False, error=owner)
                    continue
                # The update's own outcome is the owner change's: its values ride along.
                item.owner_fields, item.owner_slots, item.slots = owner, item.slots, []
            items.append(item)
        pending = []
        for item in merged(items):
            if item.empty:
                item.set(WriteOutcome(item.ref, ok=True))
            else:
                pending.append(item)
        return pending

    def reassign(self, changes: Sequence[OwnerChange]) -> list[WriteOutcome]:
        """Owners and statuses, 200 records a call whatever their object."""
        outcomes: list[WriteOutcome | None] = [None] * len(changes)
        items = []
        for index, change in enumerate(changes):
            fields = owner_change_fields(change, self.mapping)
            if isinstance(fields, RecordError):
                outcomes[index] = WriteOutcome(change.ref, ok=False, error=fields)
                continue
            items.append(Pending.owner_change(index, change.ref, fields, outcomes))
        self.collections.send(items)
        return complete(outcomes, changes)

    def create_tasks(self, tasks: Sequence[TaskRequest]) -> list[WriteOutcome]:
        """Insert hand-off tasks; a key that already has a task counts as done, untouched.

        One Collections insert per 200 tasks. The key field is unique, so a retry of a task
        that was already created is refused with ``DUPLICATE_VALUE`` naming the key field and
        the existing task's id; that is this task's success. Nothing is re-sent to a task that
        exists, so a rep's changes (Status "Completed", a new owner or due date) survive a
        retry, at no more calls than an upsert and one fewer than checking existence first.
        """
        outcomes: list[WriteOutcome | None] = [None] * len(tasks)
        self.insert(self.task_items(tasks, outcomes), tolerate=self.existing_task)
        return complete(outcomes, tasks)

    def task_items(
        self, tasks: Sequence[TaskRequest], outcomes: list[WriteOutcome | None]
    ) -> list[Pending]:
        """The Task inserts for ``tasks``, each answering into its slot of ``outcomes``; a
        task Salesforce cannot take (its person is no Lead or Contact) is answered now."""
        key_field = self.mapping.task_key_field
        items = []
        for index, task in enumerate(tasks):
            if task.person.object_type not in ("Lead", "Contact"):
                outcomes[index] = WriteOutcome(
                    task.person,
                    ok=False,
                    error=RecordError(
                        "LEADSYNC_BAD_WHO",
                        f"a Task can only name a Lead or Contact, not {task.person.object_type}",
                    ),
                )
                continue
            due = task.due_at if task.due_at.tzinfo else task.due_at.replace(tzinfo=UTC)
            fields = {
                key_field: task.key,
                "WhoId": task.person.external_id,
                "OwnerId": task.owner_id,
                "Subject": task.subject[:255],
                "Description": task.body,
                "ActivityDate": due.astimezone(UTC).date().isoformat(),
                "Priority": task.priority,
                "Status": "Not Started",
            }
            items.append(Pending.at(index, task.person, "Task", fields, outcomes))
        return items

    def existing_task(self, item: Pending, error: RecordError) -> WriteOutcome | None:
        """A task insert refused because its key already has a task: that task is this one."""
        if not _duplicate_of_field(error, self.mapping.task_key_field):
            return None
        return WriteOutcome(item.ref, ok=True, created_id=_duplicate_id(error))

    def insert(self, items: Sequence[Pending], *, tolerate: Tolerate | None = None) -> None:
        """Insert records via Collections POST (200 a call); each outcome lands in its slot."""
        self.collections.send(items, method="POST", tolerate=tolerate)

    def delete(self, ids: Sequence[str]) -> dict[str, RecordError | None]:
        """Delete records by id via Collections (200 ids a call, ``allOrNone=false``).

        Answers each id's error (``None`` when deleted); transient refusals are retried alone
        like writes are.
        """
        results: dict[str, RecordError | None] = {}
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), COLLECTION_LIMIT):
            pending = unique[start : start + COLLECTION_LIMIT]

            def attempt() -> None:
                nonlocal pending
                self.client.check_budget(self.settings.api_reserve)
                answer = self.client.sf.restful(
                    "composite/sobjects",
                    method="DELETE",
                    params={"ids": ",".join(pending), "allOrNone": "false"},
                    headers=NO_AUTO_ASSIGN,
                )
                rows = answer if isinstance(answer, list) else []
                transient = []
                for record_id, row in zip(pending, rows + [{}] * len(pending), strict=False):
                    if row.get("success"):
                        results[record_id] = None
                        continue
                    error = save_error(row) if row else no_result()
                    results[record_id] = error
                    if error.retriable:
                        transient.append(record_id)
                if transient:
                    log.warning("salesforce.collections.transient", count=len(transient))
                    pending = transient
                    raise TransientRecords(len(transient), "a transient code")

            # Retries spent: a still-refused record's last error is in ``results``.
            with contextlib.suppress(TransientRecords):
                self.client.run(attempt)
        return results

    # -- Bulk API 2.0 -------------------------------------------------------------------------

    def _bulk_start(self, job: BulkBatch) -> tuple[RunningIngest, BulkBatch]:
        """Send one Bulk update job; it runs on the org until :meth:`_bulk_done` finds it done."""
        self.client.check_budget(self.settings.api_reserve)
        data = job.csv()
        running = self.client.start_update(
            job.sobject, data, len(job), extra_headers=NO_AUTO_ASSIGN
        )
        return running, job

    def _bulk_done(self, running: RunningIngest, job: BulkBatch) -> bool:
        """Whether the job has finished (polled if its poll is due); every record in a
        finished job gets its outcome."""
        result = self.client.poll_update(running)
        if result is None:
            return False
        self._settle_job(job, result)
        return True

    def _settle_job(self, job: BulkBatch, result: BulkIngestResult) -> None:
        sobject, rows = job.sobject, len(job)
        job_id, successful = result.job_id, result.successful
        failed, unprocessed = result.failed, result.unprocessed
        if result.all_succeeded:
            for each in job.slots.values():
                each.set(WriteOutcome(each.ref, ok=True))
            log.info("salesforce.bulk.ingest.done", object=sobject, job=job_id, ok=rows)
            return
        by_id = dict(job.slots)
        for row in successful:
            slot = by_id.pop(row.get("sf__Id", ""), None)
            if slot:
                slot.set(WriteOutcome(slot.ref, ok=True))
        for row in failed:
            slot = by_id.pop(row.get("sf__Id", "") or row.get("Id", ""), None)
            if slot:
                error = parse_bulk_error(row.get("sf__Error", ""))
                slot.set(WriteOutcome(slot.ref, ok=False, error=error))
        for row in unprocessed:
            slot = by_id.pop(row.get("Id", ""), None)
            if slot:
                error = RecordError(
                    "UNPROCESSED", f"Bulk job {job_id} did not process it", (), retriable=True
                )
                slot.set(WriteOutcome(slot.ref, ok=False, error=error))
        implied = len(by_id) if result.others_succeeded else 0
        for slot in by_id.values():
            if result.others_succeeded:
                slot.set(WriteOutcome(slot.ref, ok=True))
                continue
            error = RecordError(
                "LEADSYNC_NO_RESULT", f"Bulk job {job_id} reported nothing for it", (), True
            )
            slot.set(WriteOutcome(slot.ref, ok=False, error=error))
        log.info(
            "salesforce.bulk.ingest.done",
            object=sobject,
            job=job_id,
            ok=len(successful) + implied,
            failed=len(failed),
            unprocessed=len(unprocessed),
        )


def complete(outcomes: list[WriteOutcome | None], requests: Sequence[Any]) -> list[WriteOutcome]:
    """Every request's outcome; one never sent (a bug, or a call cut short) says so.

    ``requests`` are the calls' items (anything with ``ref`` or ``person``) or their refs."""
    done = []
    for outcome, request in zip(outcomes, requests, strict=True):
        if outcome is None:
            ref = (
                request
                if isinstance(request, RecordRef)
                else (getattr(request, "ref", None) or request.person)
            )
            outcome = WriteOutcome(
                ref,
                ok=False,
                error=RecordError("LEADSYNC_NOT_SENT", "not sent in this call", (), True),
            )
        done.append(outcome)
    return done
