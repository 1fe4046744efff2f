"""sObject Collections calls: up to 200 records of any objects a call, in ten chunks at most.

As documented for ``POST``/``PATCH /composite/sobjects``: a call takes up to 200 records, each
naming its object in ``attributes.type``, objects mixed; Salesforce processes them in chunks,
starting a new chunk wherever the type changes from one record to the next, and a call holds
at most ten chunks. So a write's records are sent ordered by object (one chunk per object in a
call) and fill every call to 200 whatever their object: 1,300 Leads and 300 Contacts are 8
calls, not 7 + 2.

A record named more than once in an update merges into one (later values win), so it is in a
call once. An owner change riding with a record's values keeps its own outcome: when the org
refuses the record for a reason that names only the owner change's fields (an inactive owner,
a status the picklist lacks), the owner change fails with the org's error and the values are
sent again without it (one more call, and only then): a hand-off the CRM refuses never holds a
score write back, and an owner is set only together with the values it rode with.

Records refused with a transient code (``UNABLE_TO_LOCK_ROW``) are re-sent, alone, by the
call's one retry loop (the client's); what still fails is reported ``retriable=True``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog

from connectors.salesforce.bulk_batch import Slot
from connectors.salesforce.client import SalesforceClient
from connectors.salesforce.http import TRANSIENT_CODES
from leadsync.errors import RetriableSyncError
from leadsync.records import RecordError, RecordRef, WriteOutcome

log = structlog.get_logger(__name__)

COLLECTION_LIMIT = 200
#: "A single request can process up to 10 chunks" (a chunk: a run of records of one type).
MAX_CHUNKS = 10
NO_AUTO_ASSIGN = {"Sforce-Auto-Assign": "FALSE"}


@dataclass(slots=True)
class Pending:
    """One record to send: its object, the values to set, and where each part's outcome goes.

    ``slots`` take the outcome of the values; ``owner_slots`` that of an owner change riding
    with them (``owner_fields``: its OwnerId and status field)."""

    ref: RecordRef
    sobject: str
    fields: dict[str, Any]
    slots: list[Slot] = field(default_factory=list)
    owner_fields: dict[str, Any] = field(default_factory=dict)
    owner_slots: list[Slot] = field(default_factory=list)

    @classmethod
    def at(
        cls,
        index: int,
        ref: RecordRef,
        sobject: str,
        fields: Mapping[str, Any],
        sink: list[WriteOutcome | None],
    ) -> Pending:
        """Values whose outcome goes to ``sink[index]``."""
        return cls(ref, sobject, dict(fields), [Slot(ref, sink, (index,))])

    @classmethod
    def owner_change(
        cls, index: int, ref: RecordRef, fields: Mapping[str, Any], sink: list[WriteOutcome | None]
    ) -> Pending:
        """An owner change (OwnerId, status) whose outcome goes to ``sink[index]``."""
        return cls(ref, ref.object_type, {}, [], dict(fields), [Slot(ref, sink, (index,))])

    def absorb(self, later: Pending) -> None:
        """Take a later change of the same record: its values win, its outcomes go with ours."""
        self.fields.update(later.fields)
        self.slots.extend(later.slots)
        self.owner_fields.update(later.owner_fields)
        self.owner_slots.extend(later.owner_slots)

    @property
    def empty(self) -> bool:
        return not self.fields and not self.owner_fields

    def body(self, with_id: bool) -> dict[str, Any]:
        record: dict[str, Any] = {"attributes": {"type": self.sobject}}
        if with_id:
            record["id"] = self.ref.external_id
        record.update(self.fields)
        record.update(self.owner_fields)
        return record

    def set(self, outcome: WriteOutcome) -> None:
        """Every part gets ``outcome``."""
        for slot in (*self.slots, *self.owner_slots):
            slot.set(outcome)

    def owner_refused(self, error: RecordError) -> bool:
        """Whether the org refused only what the riding owner change set (the values did not
        cause it): the error names fields, all of them the owner change's."""
        return bool(
            self.owner_fields
            and self.fields
            and error.fields
            and set(error.fields) <= set(self.owner_fields)
        )

    def values_only(self) -> Pending:
        return Pending(self.ref, self.sobject, self.fields, self.slots)


#: Turns a refusal that means "already done" into that record's outcome (else ``None``).
Tolerate = Callable[[Pending, RecordError], WriteOutcome | None]


class TransientRecords(RetriableSyncError):
    """Salesforce answered, but refused some records with a transient code (a locked row):
    raised inside a call so the client's retry loop re-sends just those."""

    def __init__(self, count: int, code: str) -> None:
        super().__init__(f"{count} records refused with {code}; re-sending them")


def save_error(result: Mapping[str, Any]) -> RecordError:
    """The ``RecordError`` of one refused SaveResult: the first code, every message and field."""
    errors = result.get("errors") or []
    first = errors[0] if errors and isinstance(errors[0], Mapping) else {}
    code = str(first.get("statusCode") or "UNKNOWN")
    message = "; ".join(str(e.get("message", "")) for e in errors if isinstance(e, Mapping))
    fields = tuple(
        str(f) for e in errors if isinstance(e, Mapping) for f in (e.get("fields") or [])
    )
    return RecordError(code, message, fields, retriable=code in TRANSIENT_CODES)


def no_result() -> RecordError:
    return RecordError(
        "LEADSYNC_NO_RESULT", "Salesforce returned no result for this record", (), True
    )


def merged(items: Iterable[Pending]) -> list[Pending]:
    """One Pending per record, in first-seen order; a later change of a record wins."""
    by_ref: dict[RecordRef, Pending] = {}
    for item in items:
        earlier = by_ref.get(item.ref)
        if earlier is None:
            by_ref[item.ref] = item
        else:
            earlier.absorb(item)
    return list(by_ref.values())


def calls(items: Sequence[Pending]) -> list[list[Pending]]:
    """The records in calls of at most 200, ordered by object so an object is one chunk of a
    call; a call closes early only where an eleventh chunk would start."""
    ordered = sorted(items, key=lambda item: item.sobject)  # stable: keeps order within one
    out: list[list[Pending]] = []
    current: list[Pending] = []
    chunks = 0
    for item in ordered:
        starts_chunk = not current or current[-1].sobject != item.sobject
        if len(current) == COLLECTION_LIMIT or (starts_chunk and chunks == MAX_CHUNKS):
            out.append(current)
            current, chunks, starts_chunk = [], 0, True
        current.append(item)
        chunks += starts_chunk
    if current:
        out.append(current)
    return out


class Collections:
    """Sends records through sObject Collections for one connection."""

    def __init__(self, client: SalesforceClient) -> None:
        self.client = client
        self.settings = client.settings

    def send(
        self, items: Sequence[Pending], *, method: str = "PATCH", tolerate: Tolerate | None = None
    ) -> None:
        """PATCH updates records by id (a record named twice merges), POST inserts them; every
        item's slots get their outcomes. ``tolerate`` turns a refusal that means "already
        done" into its outcome."""
        updating = method == "PATCH"
        todo = merged(items) if updating else list(items)
        again: list[Pending] = []
        for call in calls(todo):
            again.extend(self._call(call, method, tolerate))
        for call in calls(again):
            self._call(call, method, tolerate)  # values only: nothing left to split off

    def _call(self, chunk: list[Pending], method: str, tolerate: Tolerate | None) -> list[Pending]:
        """One call (with its retries); returns the values to send again without the owner
        change the org refused."""
        pending = chunk
        with_id = method == "PATCH"
        transient: list[tuple[Pending, RecordError]] = []
        split: list[Pending] = []

        def attempt() -> None:
            nonlocal pending, transient
            self.client.check_budget(self.settings.api_reserve)
            results = self.client.sf.restful(
                "composite/sobjects",
                method=method,
                json={"allOrNone": False, "records": [item.body(with_id) for item in pending]},
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
                    item.set(WriteOutcome(item.ref, ok=True, created_id=created))
                    continue
                error = save_error(result) if result else no_result()
                done = tolerate(item, error) if tolerate is not None else None
                if done is not None:
                    item.set(done)
                elif error.retriable:
                    transient.append((item, error))
                elif item.owner_refused(error):
                    refused = WriteOutcome(item.ref, ok=False, error=error)
                    for slot in item.owner_slots:
                        slot.set(refused)
                    split.append(item.values_only())
                else:
                    item.set(WriteOutcome(item.ref, ok=False, error=error))
            if transient:
                code = transient[0][1].code
                log.warning("salesforce.collections.transient", count=len(transient), code=code)
                pending = [item for item, _ in transient]
                raise TransientRecords(len(transient), code)

        # Retries spent: each still-refused record keeps Salesforce's word for it.
        with contextlib.suppress(TransientRecords):
            self.client.run(attempt)
        for item, error in transient:
            item.set(WriteOutcome(item.ref, ok=False, error=error))
        return split
