"""Writing back: output values and owners by batch update (hand-off tasks: ``tasks.py``).

Every function answers one ``WriteOutcome`` per input, in input order, for what HubSpot said
about each record: HubSpot's multi-status (207) errors are mapped back to inputs through the
ids in each error's ``context``; a batch HubSpot refuses whole (400, one bad property value) is
split until the bad inputs stand alone, so only they fail, with HubSpot's message and property
name. A call HubSpot never answered about its records raises instead: no connection, a
timeout, 5xx or 429 after the retries, the daily budget spent (``RetriableSyncError``), or a
refused token or missing scope (``FatalSyncError``). An outage then costs no record one of its
attempts: the engine keeps every write owed, as it was, for the next cycle.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import structlog

from connectors.hubspot.client import HubSpotClient, HubSpotRejected
from connectors.hubspot.mapping import HubSpotMapping, UnmappedOutput, output_properties
from leadsync.errors import AuthError
from leadsync.records import (
    OwnerChange,
    RecordError,
    RecordRef,
    RecordUpdate,
    WriteOutcome,
)

log = structlog.get_logger(__name__)

#: HubSpot's batch endpoints take at most this many inputs per call.
BATCH_LIMIT = 100

T = TypeVar("T")


def write_updates(
    client: HubSpotClient, mapping: HubSpotMapping, updates: Sequence[RecordUpdate]
) -> list[WriteOutcome]:
    """Output values to contacts by batch update, at most 100 inputs a call."""
    prepared: list[tuple[RecordRef, dict[str, str] | RecordError]] = []
    for update in updates:
        try:
            prepared.append((update.ref, output_properties(update.values, mapping)))
        except UnmappedOutput as exc:
            prepared.append((update.ref, RecordError(code="UNMAPPED_OUTPUT", message=str(exc))))
    return batch_update_contacts(client, prepared, endpoint="contacts.batch_update")


def reassign(
    client: HubSpotClient, mapping: HubSpotMapping, changes: Sequence[OwnerChange]
) -> list[WriteOutcome]:
    """Owners (``hubspot_owner_id``) and/or lead statuses by batch update.

    ``owner_id=None`` sends only the status, so the contact keeps its owner.
    """
    prepared: list[tuple[RecordRef, dict[str, str] | RecordError]] = []
    for change in changes:
        props: dict[str, str] = {}
        if change.owner_id is not None:
            props[mapping.contact.owner] = change.owner_id
        if change.status is not None:
            props[mapping.contact.status] = change.status
        if not props:
            error = RecordError(
                code="LEADSYNC_NOTHING_TO_CHANGE", message="neither an owner nor a status given"
            )
            prepared.append((change.ref, error))
        else:
            prepared.append((change.ref, props))
    return batch_update_contacts(client, prepared, endpoint="contacts.batch_reassign")


def batch_update_contacts(
    client: HubSpotClient,
    prepared: Sequence[tuple[RecordRef, dict[str, str] | RecordError]],
    *,
    endpoint: str,
) -> list[WriteOutcome]:
    """Send prepared ``(ref, properties)`` pairs; inputs already failed keep their error.

    HubSpot refuses a whole batch (400) when one input has a bad property value. Such a batch
    is split in halves until the bad inputs stand alone with HubSpot's message and property
    name, and every good input is written: k bad inputs among n cost about 2·k·log2(n) extra
    calls. At most ``SPLIT_CALLS`` extra calls are spent per call of this function; inputs
    still unresolved then fail ``BATCH_REFUSED``, retriable, so the next cycle tries them again
    instead of parking good records with a bad neighbour's error.
    """
    outcomes: list[WriteOutcome | None] = [None] * len(prepared)
    sendable = [
        (i, ref, props) for i, (ref, props) in enumerate(prepared) if isinstance(props, dict)
    ]
    for i, (ref, props) in enumerate(prepared):
        if isinstance(props, RecordError):
            outcomes[i] = WriteOutcome(ref=ref, ok=False, error=props)
    sender = _BatchUpdate(client, endpoint, outcomes)
    for chunk in chunks_without_repeats(sendable, key=lambda item: item[1].external_id):
        sender.send(chunk)
    return [o for o in outcomes if o is not None]


#: Extra calls one ``batch_update_contacts`` may spend splitting refused batches: enough to
#: isolate four bad inputs in a batch of 100 (2 x 7 levels each).
SPLIT_CALLS = 56

Pending = tuple[int, RecordRef, dict[str, str]]


class _BatchUpdate:
    """Sends chunks of one batch update, splitting a chunk HubSpot refuses with 400."""

    def __init__(
        self, client: HubSpotClient, endpoint: str, outcomes: list[WriteOutcome | None]
    ) -> None:
        self.client = client
        self.endpoint = endpoint
        self.outcomes = outcomes
        self.split_calls_left = SPLIT_CALLS

    def fail(self, chunk: Sequence[Pending], error: RecordError) -> None:
        for i, ref, _ in chunk:
            self.outcomes[i] = WriteOutcome(ref=ref, ok=False, error=error)

    def send(self, chunk: Sequence[Pending]) -> None:
        body = {"inputs": [{"id": ref.external_id, "properties": p} for _, ref, p in chunk]}
        try:
            answer = self.client.call(self.endpoint, "crm.contacts.batch_api", "update", body)
        except HubSpotRejected as exc:
            if exc.status == 400 and len(chunk) > 1:
                self.split(chunk, exc)
            else:
                self.fail(chunk, batch_error(exc))
            return
        self.settle(chunk, answer)

    def split(self, chunk: Sequence[Pending], exc: HubSpotRejected) -> None:
        if self.split_calls_left < 2:
            self.fail(
                chunk,
                RecordError(
                    code="BATCH_REFUSED",
                    message=f"not written: HubSpot refused the batch of {len(chunk)} it was "
                    f"in ({exc.category}: {exc.hubspot_message}) and the calls for isolating "
                    "the bad records are spent for this cycle; retried next cycle",
                    fields=exc.fields,
                    retriable=True,
                ),
            )
            return
        self.split_calls_left -= 2
        middle = len(chunk) // 2
        log.info(
            "hubspot.batch_update.split",
            connector=self.client.name,
            endpoint=self.endpoint,
            count=len(chunk),
            category=exc.category,
        )
        self.send(chunk[:middle])
        self.send(chunk[middle:])

    def settle(self, chunk: Sequence[Pending], answer: dict[str, Any]) -> None:
        failed = errors_by_id(answer)
        succeeded = {str(r.get("id")) for r in answer.get("results") or []}
        for i, ref, props in chunk:
            oid = ref.external_id
            if oid in failed:
                self.outcomes[i] = WriteOutcome(ref=ref, ok=False, error=failed[oid])
            elif oid in succeeded or not answer.get("errors"):
                self.outcomes[i] = WriteOutcome(ref=ref, ok=True)
            else:
                self.outcomes[i] = WriteOutcome(
                    ref=ref,
                    ok=False,
                    error=RecordError(
                        code="NO_RESULT",
                        message="HubSpot's answer named neither a result nor an error for it",
                        fields=tuple(props),
                        retriable=True,
                    ),
                )
        log.info(
            "hubspot.batch_update",
            connector=self.client.name,
            endpoint=self.endpoint,
            count=len(chunk),
            failed=sum(1 for i, _, _ in chunk if not _ok(self.outcomes[i])),
        )


def errors_by_id(answer: dict[str, Any]) -> dict[str, RecordError]:
    """A multi-status answer's errors, keyed by every id their ``context`` names."""
    out: dict[str, RecordError] = {}
    for err in answer.get("errors") or []:
        context = err.get("context") or {}
        ids = [str(i) for key in ("ids", "id") for i in (context.get(key) or [])]
        fields: list[str] = []
        for key in ("propertyName", "propertyNames", "properties"):
            fields.extend(str(f) for f in context.get(key) or [])
        for detail in err.get("errors") or []:
            detail_ctx = detail.get("context") or {}
            if isinstance(detail_ctx, dict):
                fields.extend(str(f) for f in detail_ctx.get("propertyName") or [])
        status = str(err.get("status") or "")
        category = str(err.get("category") or "ERROR")
        error = RecordError(
            code=category,
            message=str(err.get("message") or status or category),
            fields=tuple(dict.fromkeys(fields)),
            retriable=category in {"RATE_LIMITS", "INTERNAL_ERROR", "LOCKED"},
        )
        for oid in ids:
            out[oid] = error
    return out


def batch_error(exc: HubSpotRejected) -> RecordError:
    """HubSpot's refusal of a whole call as each of its records' error (its category, message
    and blamed properties); a refused token is raised, never turned into record errors."""
    if isinstance(exc, AuthError):
        raise exc
    return RecordError(
        code=exc.category, message=exc.hubspot_message, fields=exc.fields, retriable=False
    )


def _ok(outcome: WriteOutcome | None) -> bool:
    return outcome is not None and outcome.ok


def chunks_without_repeats(items: Sequence[T], *, key: Callable[[T], str]) -> Iterator[list[T]]:
    """Chunks of at most ``BATCH_LIMIT``; a key seen twice starts a new chunk.

    HubSpot refuses a whole batch that names one id twice, so a second update of the same
    record goes in the next call (and so lands after the first).
    """
    chunk: list[T] = []
    keys: set[str] = set()
    for item in items:
        k = key(item)
        if len(chunk) == BATCH_LIMIT or k in keys:
            yield chunk
            chunk, keys = [], set()
        chunk.append(item)
        keys.add(k)
    if chunk:
        yield chunk
