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
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import structlog

from connectors.salesforce.bulk_batch import BulkBatch, Slot
from connectors.salesforce.client import BulkIngestResult, RunningIngest, SalesforceClient
from connectors.salesforce.http import TRANSIENT_CODES
from connectors.salesforce.mapping import SalesforceMapping
from leadsync.errors import RetriableSyncError
from leadsync.records import (
    OwnerChange,
    RecordError,
    RecordRef,
    RecordUpdate,
    TaskRequest,
    WriteOutcome,
)

log = structlog.get_logger(__name__)

COLLECTION_LIMIT = 200
NO_AUTO_ASSIGN = {"Sforce-Auto-Assign": "FALSE"}
REASON_LENGTH = 255


@dataclass(frozen=True, slots=True)
class Pending:
    """One record to send: where its outcome goes, its object, and its field values."""

    indexes: tuple[int, ...]
    ref: RecordRef
    sobject: str
    fields: Mapping[str, Any]
    #: The outcome list of the page this record came in, when not the call's own list.
    sink: list[WriteOutcome | None] | None = None


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


def _save_error(result: Mapping[str, Any]) -> RecordError:
    errors = result.get("errors") or []
    first = errors[0] if errors and isinstance(errors[0], Mapping) else {}
    code = str(first.get("statusCode") or "UNKNOWN")
    message = "; ".join(str(e.get("message", "")) for e in errors if isinstance(e, Mapping))
    fields = tuple(
        str(f) for e in errors if isinstance(e, Mapping) for f in (e.get("fields") or [])
    )
    return RecordError(code, message, fields, retriable=code in TRANSIENT_CODES)


def _no_result() -> RecordError:
    return RecordError(
        "LEADSYNC_NO_RESULT", "Salesforce returned no result for this record", (), True
    )


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


#: Turns a refusal that means "already done" into that record's outcome (else ``None``).
Tolerate = Callable[[Pending, RecordError], WriteOutcome | None]


class TransientRecords(RetriableSyncError):
    """Salesforce answered, but refused some records with a transient code (a locked row):
    raised inside a call so the client's retry loop re-sends just those."""

    def __init__(self, count: int, code: str) -> None:
        super().__init__(f"{count} records refused with {code}; re-sending them")


class Writer:
    """Collections and Bulk writes for one connection."""

    def __init__(self, client: SalesforceClient, mapping: SalesforceMapping) -> None:
        self.client = client
        self.mapping = mapping
        self.settings = client.settings

    # -- public operations ---------------------------------------------------------------------

    def write(self, updates: Sequence[RecordUpdate]) -> list[WriteOutcome]:
        (outcomes,) = self.write_pages([updates])
        return outcomes

    def write_pages(self, pages: Iterable[Sequence[RecordUpdate]]) -> Iterator[list[WriteOutcome]]:
        """Output values of a stream of pages, with one Bulk job per object across pages.

        An object's records wait while they number ``bulk_write_threshold`` or fewer (few
        enough for Collections, 200 a call); past that they go into the object's open Bulk job,
        which is sent when its CSV nears the upload limit or the pages end. A sent job runs on
        the org while later pages fill the next one; it is polled between pages when its poll
        is due. A page's outcomes are yielded, pages in order, once every one is known, so a
        page whose records sit in an unfinished job waits for that job; the next page is read
        only when this one is placed.
        """
        held: deque[tuple[list[RecordRef], list[WriteOutcome | None]]] = deque()
        waiting: dict[str, list[Pending]] = {}
        jobs: dict[str, BulkBatch] = {}
        running: list[tuple[RunningIngest, BulkBatch]] = []
        for page in pages:
            outcomes: list[WriteOutcome | None] = [None] * len(page)
            held.append(([update.ref for update in page], outcomes))
            for sobject, items in self._by_object(page, outcomes).items():
                if sobject not in jobs:
                    queue = waiting.setdefault(sobject, [])
                    queue.extend(items)
                    if len(queue) <= self.settings.bulk_write_threshold:
                        continue
                    items = waiting.pop(sobject)
                    jobs[sobject] = BulkBatch(sobject)
                for item in items:
                    if not jobs[sobject].takes(item.ref, item.fields):
                        running.append(self._bulk_start(jobs[sobject]))
                        jobs[sobject] = BulkBatch(sobject)
                    jobs[sobject].add(_slot(item), item.fields)
            running = [job for job in running if not self._bulk_done(*job)]
            while held and None not in held[0][1]:
                refs, done = held.popleft()
                yield _complete(done, refs)
        for items in waiting.values():
            self._collections(items, "composite/sobjects", [], key_field=None)
        running.extend(self._bulk_start(job) for job in jobs.values())
        while running:
            # Each job is polled when due, and a page is answered as soon as its jobs are.
            self.client.await_poll([job for job, _ in running])
            running = [job for job in running if not self._bulk_done(*job)]
            while held and None not in held[0][1]:
                refs, done = held.popleft()
                yield _complete(done, refs)
        while held:
            refs, outcomes = held.popleft()
            yield _complete(outcomes, refs)

    def _by_object(
        self, updates: Sequence[RecordUpdate], outcomes: list[WriteOutcome | None]
    ) -> dict[str, list[Pending]]:
        """One Pending per record (a record named twice merges its values), by object."""
        merged: dict[RecordRef, tuple[list[int], dict[str, Any]]] = {}
        for index, update in enumerate(updates):
            fields = update_fields(update, self.mapping)
            if isinstance(fields, RecordError):
                outcomes[index] = WriteOutcome(update.ref, ok=False, error=fields)
                continue
            indexes, values = merged.setdefault(update.ref, ([], {}))
            indexes.append(index)
            values.update(fields)
        by_object: dict[str, list[Pending]] = {}
        for ref, (indexes, values) in merged.items():
            if not values:
                for index in indexes:
                    outcomes[index] = WriteOutcome(ref, ok=True)
                continue
            by_object.setdefault(ref.object_type, []).append(
                Pending(tuple(indexes), ref, ref.object_type, values, outcomes)
            )
        return by_object

    def reassign(self, changes: Sequence[OwnerChange]) -> list[WriteOutcome]:
        outcomes: list[WriteOutcome | None] = [None] * len(changes)
        items = []
        for index, change in enumerate(changes):
            fields = owner_change_fields(change, self.mapping)
            if isinstance(fields, RecordError):
                outcomes[index] = WriteOutcome(change.ref, ok=False, error=fields)
                continue
            items.append(Pending((index,), change.ref, change.ref.object_type, fields))
        self._collections(items, "composite/sobjects", outcomes, key_field=None)
        return _complete(outcomes, changes)

    def create_tasks(self, tasks: Sequence[TaskRequest]) -> list[WriteOutcome]:
        """Insert hand-off tasks; a key that already has a task counts as done, untouched.

        One Collections insert per 200 tasks. The key field is unique, so a retry of a task
        that was already created is refused with ``DUPLICATE_VALUE`` naming the key field and
        the existing task's id; that is this task's success. Nothing is re-sent to a task that
        exists, so a rep's changes (Status "Completed", a new owner or due date) survive a
        retry, at no more calls than an upsert and one fewer than checking existence first.
        """
        outcomes: list[WriteOutcome | None] = [None] * len(tasks)
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
            items.append(Pending((index,), task.person, "Task", fields))

        def existing_task(item: Pending, error: RecordError) -> WriteOutcome | None:
            if not _duplicate_of_field(error, key_field):
                return None
            return WriteOutcome(item.ref, ok=True, created_id=_duplicate_id(error))

        self.insert(items, outcomes, tolerate=existing_task)
        return _complete(outcomes, tasks)

    def insert(
        self,
        items: Sequence[Pending],
        outcomes: list[WriteOutcome | None],
        *,
        tolerate: Tolerate | None = None,
    ) -> None:
        """Insert records via Collections POST (200 a call); outcomes land at each item's index."""
        self._collections(
            items, "composite/sobjects", outcomes, None, method="POST", tolerate=tolerate
        )

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
                    error = _save_error(row) if row else _no_result()
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

    # -- Collections --------------------------------------------------------------------------

    def _collections(
        self,
        items: Sequence[Pending],
        path: str,
        outcomes: list[WriteOutcome | None],
        key_field: str | None,
        *,
        method: str = "PATCH",
        tolerate: Tolerate | None = None,
    ) -> None:
        """Send ``items`` 200 a call: PATCH updates by id (or upserts on ``key_field``), POST
        inserts. ``tolerate`` turns a refusal that means "already done" into its outcome."""
        for start in range(0, len(items), COLLECTION_LIMIT):
            chunk = list(items[start : start + COLLECTION_LIMIT])
            self._send_chunk(chunk, path, outcomes, key_field, method, tolerate)

    def _send_chunk(
        self,
        chunk: list[Pending],
        path: str,
        outcomes: list[WriteOutcome | None],
        key_field: str | None,
        method: str,
        tolerate: Tolerate | None,
    ) -> None:
        pending = chunk
        with_id = method == "PATCH" and key_field is None
        transient: list[tuple[Pending, RecordError]] = []

        def attempt() -> None:
            nonlocal pending, transient
            self.client.check_budget(self.settings.api_reserve)
            records = [_record(item, with_id) for item in pending]
            results = self.client.sf.restful(
                path,
                method=method,
                json={"allOrNone": False, "records": records},
                headers=NO_AUTO_ASSIGN,
            )
            results = results if isinstance(results, list) else []
            if len(results) != len(pending):
                log.error(
                    "salesforce.collections.short_answer", sent=len(pending), got=len(results)
                )
                results = results + [{}] * (len(pending) - len(results))
            transient = []
            for item, result in zip(pending, results, strict=True):
                if result.get("success"):
                    inserted = method == "POST" or result.get("created")
                    created = result.get("id") if inserted else None
                    _set(outcomes, item, WriteOutcome(item.ref, ok=True, created_id=created))
                    continue
                error = _save_error(result) if result else _no_result()
                done = tolerate(item, error) if tolerate is not None else None
                if done is not None:
                    _set(outcomes, item, done)
                elif error.retriable:
                    transient.append((item, error))
                else:
                    _set(outcomes, item, WriteOutcome(item.ref, ok=False, error=error))
            if transient:
                code = transient[0][1].code
                log.warning("salesforce.collections.transient", count=len(transient), code=code)
                pending = [item for item, _ in transient]
                raise TransientRecords(len(transient), code)

        try:
            self.client.run(attempt)
        except TransientRecords:
            # Retries spent: each still-refused record keeps Salesforce's word for it.
            for item, error in transient:
                _set(outcomes, item, WriteOutcome(item.ref, ok=False, error=error))

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


def _record(item: Pending, with_id: bool) -> dict[str, Any]:
    record: dict[str, Any] = {"attributes": {"type": item.sobject}}
    if with_id:
        record["id"] = item.ref.external_id
    record.update(item.fields)
    return record


def _set(outcomes: list[WriteOutcome | None], item: Pending, outcome: WriteOutcome) -> None:
    _slot(item, outcomes).set(outcome)


def _slot(item: Pending, outcomes: list[WriteOutcome | None] | None = None) -> Slot:
    sink = item.sink if item.sink is not None else outcomes
    assert sink is not None  # a Pending without a page's list is always given the call's
    return Slot(item.ref, sink, item.indexes)


def _complete(outcomes: list[WriteOutcome | None], requests: Sequence[Any]) -> list[WriteOutcome]:
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
