"""Pulling: each stream of each connector is read the way this cycle's request chooses.

A pull mode says where a stream's read starts and what it leaves behind:

* ``FromCursor``: what changed since the stream's cursor (a plain sync), optionally re-reading
  a window before the cycle (late commits); the cursor moves after.
* ``Everything``: a backfill, everything (or everything since ``since``), with no cursor to
  start from; the cursor moves after, unless it is a dry run.
* ``Resumable``: a backfill that checkpoints its pages under a key, so the same request after
  a crash carries on from the last committed page (and skips a stream it finished).
* ``ById``: the people a webhook named, read by id. It says nothing of what else changed:
  the cursor stays and the stream's gap (if any) stays open.

People back after ``forget`` are read again by id too (``reread_returning``).

Pulled batches are committed as they arrive; cursors move only after every batch they cover is
committed, and never past the cycle's start.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any, NamedTuple, Protocol

import structlog

from connectors.base import Connector
from leadsync.engine.context import Cycle, EngineParts
from leadsync.engine.pages import PageMarks, Resumption
from leadsync.engine.pipeline import CommitPipeline
from leadsync.engine.report import guarded
from leadsync.engine.request import CycleRequest
from leadsync.records import RecordRef
from leadsync.store import checkpoints
from leadsync.store.ingest import IngestCounts, people_rows, store_people, upsert_activities
from leadsync.store.lookup import record_count
from leadsync.store.returning import (
    any_returning,
    find_returning,
    returning_people_of,
    welcome_back,
)
from leadsync.store.runs import (
    Cursor,
    close_gap,
    open_gap,
    read_cursor,
    set_cursor,
    settle_cursor,
)
from leadsync.store.writes import owes_due

log = structlog.get_logger(__name__)

#: An incremental pull of at least this many records, a tenth of the people known or more,
#: is said so (``CycleReport.notes``).
LARGE_PULL = 1_000


@dataclass(frozen=True, slots=True)
class Stored:
    """How a pulled stream is stored: ``store(conn, prepared, now)`` in a batch's transaction,
    after ``prepare(batch, now)`` (pure, run while the batch before commits; None: the batch
    itself is stored)."""

    store: Callable[[Any, Any, datetime], IngestCounts]
    prepare: Callable[[list[Any], datetime], Any] | None = None


@dataclass(frozen=True, slots=True)
class Reading:
    """One stream's read as its mode began it: the records, the page marks a resumable read
    sets, and where its checkpoints go."""

    items: Iterator[Any]
    resumption: Resumption
    marks: PageMarks = field(default_factory=PageMarks)
    since: datetime | None = None
    #: The stream's cursor when the read began (``FromCursor`` only).
    cursor: Cursor | None = None


class Pulled(NamedTuple):
    """What storing a read's pages came to."""

    counts: IngestCounts
    #: The newest modification stamp among the records stored.
    newest: datetime | None
    #: How many records were stored.
    records: int


class PullMode(Protocol):
    """Where one stream's read starts and what it leaves behind once stored."""

    @property
    def complete(self) -> bool:
        """The read covers everything that changed: a pull gap it follows is closed."""
        ...

    def begin(self, cycle: Cycle, stream: StreamPull) -> Reading | None:
        """The read to store (``None``: nothing left to read)."""
        ...

    def end(self, cycle: Cycle, stream: StreamPull, reading: Reading, pulled: Pulled) -> None:
        """After every page is committed: move what marks the stream's progress."""
        ...


@dataclass(frozen=True, slots=True)
class StreamPull:
    """One stream of one connector to pull and store."""

    connector: str
    stream: str
    pull: Callable[..., Iterator[Any]]
    stored: Stored
    #: How many of its batches may commit at once (see ``store_pages``).
    in_flight: int
    mode: PullMode


@dataclass(frozen=True, slots=True)
class FromCursor:
    """What changed since the stream's cursor, and every record modified within ``reread``
    before the cycle whatever the cursor says (a record stamped before the cursor but
    committed after it moved)."""

    reread: timedelta | None = None
    complete: bool = True
    #: Leave out records whose last change was LeadSync's own write (people streams of CRMs
    #: that can tell; see ``catch_up`` for the edits such a write could hide).
    skip_own_writes: bool = False

    def begin(self, cycle: Cycle, stream: StreamPull) -> Reading:
        with cycle.parts.store.reading() as conn:
            cursor = read_cursor(conn, stream.connector, stream.stream)
        since = _since(cursor, cycle.parts.settings.overlap)
        if since is not None and self.reread is not None:
            since = min(since, cycle.started - self.reread)
        resumption = Resumption(None, stream.connector, stream.stream, 0)
        items = stream.pull(since, skip_own_writes=True) if self.skip_own_writes else None
        items = stream.pull(since) if items is None else items
        return Reading(items, resumption, since=since, cursor=cursor)

    def end(self, cycle: Cycle, stream: StreamPull, reading: Reading, pulled: Pulled) -> None:
        _advance_cursor(cycle, stream, reading.cursor, pulled.newest)


@dataclass(frozen=True, slots=True)
class Everything:
    """Every record (modified since ``since``, if given), whatever the cursor says."""

    since: datetime | None = None
    complete: bool = True

    def begin(self, cycle: Cycle, stream: StreamPull) -> Reading:
        resumption = Resumption(None, stream.connector, stream.stream, 0)
        return Reading(stream.pull(self.since), resumption, since=self.since)

    def end(self, cycle: Cycle, stream: StreamPull, reading: Reading, pulled: Pulled) -> None:
        _advance_cursor(cycle, stream, None, pulled.newest)


@dataclass(frozen=True, slots=True)
class Resumable:
    """``Everything``, its pages checkpointed under ``key``: a stream finished under that key
    is not read again, one cut short carries on from its last committed page."""

    key: str
    since: datetime | None = None
    complete: bool = True

    def begin(self, cycle: Cycle, stream: StreamPull) -> Reading | None:
        name, kind = stream.connector, stream.stream
        with cycle.parts.store.reading() as conn:
            point = checkpoints.read(conn, self.key, name, kind)
        if point is not None and point.done:
            cycle.report.pulled[f"{name}.{kind}"] = {"resumed_done": point.records}
            return None
        before = point.records if point is not None else 0
        resume = point.token if point is not None else None
        if resume is not None:
            log.info("sync.pull_resumed", connector=name, stream=kind, records=before)
        marks = PageMarks()
        items = stream.pull(self.since, resume=resume, checkpoint=marks.mark)
        resumption = Resumption(self.key, name, kind, before)
        return Reading(items, resumption, marks, since=self.since)

    def end(self, cycle: Cycle, stream: StreamPull, reading: Reading, pulled: Pulled) -> None:
        with cycle.parts.store.transaction() as conn:
            checkpoints.save(
                conn,
                self.key,
                stream.connector,
                stream.stream,
                token=None,
                records=reading.resumption.before + pulled.records,
                now=cycle.parts.clock(),
                done=True,
            )
        _advance_cursor(cycle, stream, None, pulled.newest)


@dataclass(frozen=True, slots=True)
class ById:
    """The people a webhook named (``refs``), read by id."""

    refs: tuple[RecordRef, ...]
    complete: bool = False

    def begin(self, cycle: Cycle, stream: StreamPull) -> Reading:
        connector = cycle.parts.connectors[stream.connector]
        items = iter(connector.read_people(self.refs))
        return Reading(items, Resumption(None, stream.connector, stream.stream, 0))

    def end(self, cycle: Cycle, stream: StreamPull, reading: Reading, pulled: Pulled) -> None:
        """A read by id says nothing about what else changed: the cursor stays put."""


def modes_for(request: CycleRequest, name: str) -> tuple[PullMode, PullMode]:
    """How connector ``name``'s people and activities are read for ``request``."""
    if request.full:
        key = request.resume_key if not request.dry_run else None
        mode: PullMode = Everything(request.since) if key is None else Resumable(key, request.since)
        return mode, mode
    incremental = FromCursor(request.reread)
    named = tuple(ref for ref in request.notified if ref.source == name)
    # The daily re-read (``reread``) reads LeadSync's own writes too: an edit that landed on
    # a record in the moment LeadSync wrote to it is seen there at the latest.
    people = FromCursor(request.reread, skip_own_writes=request.reread is None)
    return (ById(named) if named else people), incremental


def pull_connector(cycle: Cycle, name: str) -> None:
    """Pull and store connector ``name``'s people, then its activities. A stream that fails
    leaves a gap: people with data from it wait until a complete read closes it."""
    parts = cycle.parts
    connector = parts.connectors[name]
    people_mode, activities_mode = modes_for(cycle.request, name)
    # People batches create and merge people by email, so they commit one at a time, in
    # order (each batch's rows are prepared while the batch before commits); activity
    # batches only link to people, so two may commit at once.
    people = Stored(partial(_store_people, cycle), people_rows)
    streams = (
        StreamPull(name, "people", connector.pull_people, people, 1, people_mode),
        StreamPull(
            name, "activities", connector.pull_activities, Stored(upsert_activities), 2,
            activities_mode,
        ),
    )  # fmt: skip
    for stream in streams:
        try:
            pull_stream(cycle, stream)
        except BaseException as exc:
            # What this stream stored so far may be half of what changed. A read by id
            # that failed leaves people a webhook said had changed unread: a gap too,
            # closed by the next complete poll.
            _record_gap(parts, stream, exc)
            raise
        if stream.mode.complete:
            with parts.store.transaction() as conn:
                close_gap(conn, name, stream.stream, parts.clock())
            if stream.stream == "people":
                cycle.people_read.add(name)


def catch_up(cycle: Cycle, name: str) -> None:
    """Just before this cycle changes anything in CRM ``name``, read again the people
    someone else changed since its pull.

    A CRM that tells LeadSync's own writes apart (``Capabilities.skips_own_writes``) is
    pulled without them. But a record names only who changed it *last*: a rep's edit that
    lands after LeadSync read the record and before LeadSync writes to it would be hidden
    behind that write and never pulled. Read here, the edit is stored (and its person
    re-scored) before the write; what it could still hide is an edit in the moments of the
    write itself, which the daily re-read (``[sync] reread_hours``) reads. A cycle that
    changes nothing in the CRM skips this read."""
    parts = cycle.parts
    connector = parts.connectors[name]
    if not connector.capabilities.skips_own_writes or cycle.request.dry_run:
        return
    with parts.store.reading() as conn:
        if not owes_due(conn, name, parts.clock()):
            return
    people = Stored(partial(_store_people, cycle), people_rows)
    since = None
    if name in cycle.people_read and cycle.read_began is not None:
        # This cycle read them whole from their cursor: what changed since it began reading.
        since = cycle.read_began - parts.settings.overlap
    mode = CaughtUp(since)
    stream = StreamPull(name, "people", connector.pull_people, people, 1, mode)
    try:
        pull_stream(cycle, stream, label=f"{name}.people (changed while this cycle ran)")
    except BaseException as exc:
        # What it stored may be half of what changed: a gap, as a failed pull leaves.
        _record_gap(parts, stream, exc)
        raise


@dataclass(frozen=True, slots=True)
class CaughtUp:
    """Others' changes (LeadSync's own writes left out) since ``since``, or, for a cycle
    that did not read the people whole, since the cursor, as ``FromCursor`` reads it."""

    since: datetime | None
    complete: bool = False

    def begin(self, cycle: Cycle, stream: StreamPull) -> Reading:
        if self.since is None:
            return FromCursor(skip_own_writes=True).begin(cycle, stream)
        items = stream.pull(self.since, skip_own_writes=True)
        return Reading(
            items, Resumption(None, stream.connector, stream.stream, 0), since=self.since
        )

    def end(self, cycle: Cycle, stream: StreamPull, reading: Reading, pulled: Pulled) -> None:
        if reading.cursor is not None:
            _advance_cursor(cycle, stream, reading.cursor, pulled.newest)


def pull_stream(cycle: Cycle, stream: StreamPull, label: str | None = None) -> None:
    """Read and store one stream as its mode says; its counts are reported under ``label``
    (by default ``connector.stream``); a labelled read that found nothing is not."""
    parts, name, kind = cycle.parts, stream.connector, stream.stream
    parts.progress.phase(f"pull {name} {kind}")
    reading = stream.mode.begin(cycle, stream)
    if reading is None:
        return
    pulled = store_pages(parts, reading, stream.stored, stream.in_flight)
    counts = pulled.counts
    report = {"inserted": counts.inserted, "updated": counts.updated, "unchanged": counts.unchanged}
    if counts.skipped:
        report["skipped"] = counts.skipped
    if counts.unreadable:
        report["unreadable"] = counts.unreadable
    if counts.clipped:
        report["clipped"] = counts.clipped
    if label is None or pulled.records:
        cycle.report.pulled[label or f"{name}.{kind}"] = report
    log.info("sync.pulled", connector=name, stream=kind, since=reading.since, **report)
    if reading.cursor is not None:
        _say_if_large(cycle, stream, reading, pulled)
    stream.mode.end(cycle, stream, reading, pulled)


def _say_if_large(cycle: Cycle, stream: StreamPull, reading: Reading, pulled: Pulled) -> None:
    """An incremental pull that read a large share of the org is said so, with what it was:
    a mass update or an import in the CRM, or records touched without a change LeadSync
    reads (its own write-backs, where the CRM cannot leave them out, or unmapped fields)."""
    records = pulled.records
    if records < LARGE_PULL:
        return
    with cycle.parts.store.reading() as conn:
        known = record_count(conn, stream.connector)
    if records * 10 < known:
        return
    since = f" since {reading.since:%Y-%m-%d %H:%M} UTC" if reading.since else ""
    same = pulled.counts.unchanged
    note = (
        f"{stream.connector} {stream.stream}: a large pull, {records:,} records changed{since} "
        f"(of {known:,} known); {same:,} changed nothing LeadSync reads and were not scored "
        "again (its own write-backs, where the CRM cannot leave them out, or unmapped fields)"
    )
    cycle.report.notes.append(note)
    log.warning("sync.large_pull", connector=stream.connector, stream=stream.stream,
                records=records, unchanged=same, known=known)  # fmt: skip


def store_pages(parts: EngineParts, reading: Reading, upsert: Stored, in_flight: int = 1) -> Pulled:
    """Store ``reading``'s records a batch a transaction, with the newest checkpoint their
    records complete. On PostgreSQL batches commit while the next is read, up to
    ``in_flight`` at once (see :mod:`leadsync.engine.pipeline`).

    With one commit in flight a checkpoint is saved in its batch's transaction. With more,
    a later batch may commit first, so a checkpoint is saved once every batch before it has
    committed, in a transaction of its own: a crash between the two re-reads that batch,
    which stores nothing twice (an unchanged record is a no-op). A batch holding a record
    that a batch in flight also holds waits for it, so that record lands in pull order."""
    store, clock, progress = parts.store, parts.clock, parts.progress
    resumption, marks = reading.resumption, reading.marks
    counts = IngestCounts()
    newest: datetime | None = None
    committed = 0
    in_flight = in_flight if store.concurrent_writers else 0
    ordered_saves = in_flight > 1
    pending_refs: deque[set[Any]] = deque()

    def commit(prepared: Any, token: str | None, records: int) -> IngestCounts:
        with store.transaction() as conn:
            stored = upsert.store(conn, prepared, clock())
            if not ordered_saves:
                # Same transaction as the page's last records: never ahead of them.
                resumption.save(conn, token, records, clock())
        return stored

    def account(batch: list[Any], token: str | None, records: int, stored: IngestCounts) -> None:
        nonlocal newest
        if ordered_saves:
            pending_refs.popleft()
            if resumption.saves(token):
                with store.transaction() as conn:
                    resumption.save(conn, token, records, clock())
        counts.add(stored)
        latest = max(item.modified_at for item in batch)
        newest = latest if newest is None else max(newest, latest)
        progress.advance(len(batch))

    with CommitPipeline[IngestCounts](in_flight) as commits:
        for batch in marks.batches(reading.items, parts.settings.pull_batch):
            committed += len(batch)
            token = marks.released(committed)
            records = resumption.before + committed
            if ordered_saves:
                refs = {item.ref for item in batch}
                if any(not refs.isdisjoint(other) for other in pending_refs):
                    commits.drain()
                pending_refs.append(refs)
            prepared = batch if upsert.prepare is None else upsert.prepare(batch, clock())
            commits.submit(
                partial(commit, prepared, token, records),
                partial(account, batch, token, records),
            )
    return Pulled(counts, newest, committed)


def reread_returning(cycle: Cycle) -> None:
    """People back after ``forget`` are read again whole from every CRM: their records
    by id, their other records by address (those were forgotten too), and every activity
    of them all; then they are welcomed back (``leadsync.store.returning``). If a CRM
    fails, they all wait for the next cycle: a person read from half their CRMs is not
    whole."""
    parts, report = cycle.parts, cycle.report
    with parts.store.reading() as conn:
        if not any_returning(conn):
            return
        found = returning_people_of(conn)
    emails = sorted({email for r in found for email in r.emails})
    errors = len(report.errors)
    for name, connector in parts.connectors.items():
        refs = sorted({ref for r in found for ref in r.refs if ref.source == name})
        guarded(report, name, _reread, parts, connector, refs, emails)
    if len(report.errors) > errors:
        return
    with parts.store.transaction() as conn:
        welcome_back(conn, [r.person_id for r in found], parts.clock())
    log.info("sync.returning_reread", people=len(found))


def _reread(
    parts: EngineParts, connector: Connector, refs: Sequence[RecordRef], emails: Sequence[str]
) -> None:
    people = {p.ref: p for p in connector.read_people(refs)} if refs else {}
    for person in connector.find_people(emails) if emails else ():
        people.setdefault(person.ref, person)
    history = connector.read_activities(list(people.values())) if people else []
    # An address no live record here holds (its contact deleted, or never made) may still
    # carry activities this CRM keeps by address alone (HubSpot's email events).
    held = {(p.email or "").strip().lower() for p in people.values()}
    unheld = [e for e in emails if e.strip().lower() not in held]
    if unheld:
        history += connector.read_address_activities(unheld)
    with parts.store.transaction() as conn:
        now = parts.clock()
        store_people(conn, people_rows(list(people.values()), now), now)
        upsert_activities(conn, history, now)


def _store_people(cycle: Cycle, conn: Any, prepared: Any, now: datetime) -> IngestCounts:
    counts = store_people(conn, prepared, now)
    if cycle.forgotten:
        # A deleted record of a forgotten person brings nothing back to read (seed 3541): its
        # hashes stay until it is undeleted, and then it is read whole with its activities.
        # A merged one joins its survivor's person, which must then be read whole.
        back = {
            uid: row["email_norm"]
            for uid, row in prepared.rows.items()
            if not row["deleted"] or row["merged_into"]
        }
        find_returning(conn, back, now)
    return counts


def _record_gap(parts: EngineParts, stream: StreamPull, exc: BaseException) -> None:
    name, kind = stream.connector, stream.stream
    try:
        with parts.store.transaction() as conn:
            open_gap(conn, name, kind, f"{type(exc).__name__}: {exc}", parts.clock())
    except Exception:  # the store itself failing: the original error is what matters
        log.exception("sync.gap_not_recorded", connector=name, stream=kind)


def _since(cursor: Cursor | None, overlap: timedelta) -> datetime | None:
    """Where an incremental pull starts: an overlap behind the cursor, so a record that
    was committed late (stamped before the newest one seen) is not missed; at the cursor
    once that overlap has been re-read by a pull that began an overlap later. Without the
    second rule a quiet CRM would re-read the last overlap of records every cycle."""
    if cursor is None:
        return None
    return cursor.position if cursor.settled else cursor.position - overlap


def _advance_cursor(
    cycle: Cycle, stream: StreamPull, cursor: Cursor | None, newest: datetime | None
) -> None:
    """Move the stream's cursor to the newest record stored (from ``cursor``, where the pull
    began; ``None``: a read that did not start from it), or settle it."""
    if cycle.request.dry_run:
        return
    parts, name, kind = cycle.parts, stream.connector, stream.stream
    position = None if newest is None else min(newest, cycle.started)
    if position is not None and (cursor is None or position > cursor.position):
        # Never past the cycle's start: a record modified while we paged may carry
        # an earlier stamp than one already seen (Singer's bookmark rule).
        with parts.store.transaction() as conn:
            set_cursor(conn, name, kind, position, parts.clock())
    elif (
        cursor is not None
        and not cursor.settled
        and cycle.started - cursor.moved_at >= parts.settings.overlap
    ):
        # This pull began an overlap after the cursor last moved and re-read the
        # overlap behind it: any late-committed record there is seen by now.
        with parts.store.transaction() as conn:
            settle_cursor(conn, name, kind, cursor.position)
