"""Reading a Salesforce pull's objects: REST pages, or Bulk 2.0 jobs when an object is large,
resumable at Bulk result pages and between objects (``PlanReader``)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import structlog

from connectors.base import Checkpoint
from connectors.salesforce.client import BulkPosition, SalesforceClient, StartedQuery
from connectors.salesforce.pull import COERCED_TYPES, PullPlan, coerce, flatten, parse_datetime

log = structlog.get_logger(__name__)


class PlanReader:
    """The rows of a pull's plans, one object after another (see ``rows``).

    A full pull that finds an object large counts the objects after it and starts their Bulk
    jobs at once; what it counted and started belongs to that pull (``start_pull``)."""

    def __init__(
        self,
        client: SalesforceClient,
        bulk_query_threshold: int,
        all_plans: Callable[[], Sequence[PullPlan]],
        field_types: Callable[[PullPlan], dict[str, str]],
    ) -> None:
        self.client = client
        self.threshold = bulk_query_threshold
        self._all_plans = all_plans
        self._field_types = field_types
        #: Record counts of the objects a full pull has still to read (see _count_the_rest),
        #: and the Bulk jobs started for the large ones; each is taken once.
        self._full_pull_sizes: dict[str, int] = {}
        self._started: dict[str, StartedQuery] = {}

    def start_pull(self) -> None:
        """Forget the counts and jobs of an earlier pull: a later cycle starts afresh."""
        self._full_pull_sizes, self._started = {}, {}

    def rows(
        self,
        plans: Sequence[PullPlan],
        since: datetime | None,
        resume: str | None,
        checkpoint: Checkpoint | None,
    ) -> Iterator[tuple[PullPlan, dict[str, Any]]]:
        """Rows of each plan in turn, starting where ``resume`` says.

        Tokens are JSON: ``{"object": X}`` (objects before X are done) or ``{"object": X,
        "job": id, "locator": L}`` (X's Bulk job, next result page). A REST read is not
        checkpointed inside an object: it only serves pulls below ``bulk_query_threshold``,
        and a REST query locator expires after 15 idle minutes anyway.
        """
        start = json.loads(resume) if resume else {}
        names = [plan.sobject for plan in plans]
        first = names.index(start["object"]) if start.get("object") in names else 0
        for i in range(first, len(plans)):
            plan = plans[i]
            at = None
            if i == first and "job" in start:
                at = BulkPosition(str(start["job"]), str(start["locator"]))

            def on_page(position: BulkPosition, sobject: str = plan.sobject) -> None:
                if checkpoint is not None:
                    token = {"object": sobject, "job": position.job_id}
                    checkpoint(json.dumps({**token, "locator": position.locator}))

            for row in self._rows(plan, since, at, on_page):
                yield plan, row
            if checkpoint is not None and i + 1 < len(plans):
                checkpoint(json.dumps({"object": names[i + 1]}))

    def _rows(
        self,
        plan: PullPlan,
        since: datetime | None,
        resume: BulkPosition | None = None,
        on_page: Callable[[BulkPosition], None] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Flat rows of one object: REST pages, or a Bulk 2.0 job when the pull is large.

        The first REST page costs one call and reports ``totalSize``; only when that exceeds
        ``bulk_query_threshold`` is the REST cursor dropped for a Bulk job. So an idle cycle
        costs exactly one call per object, and a large pull never pays REST's 2,000-row pages.
        """
        if resume is not None:
            yield from self._bulk_rows(plan, since, resume, on_page)
            return
        size = self._full_pull_sizes.pop(plan.sobject, None) if since is None else None
        started = self._started.pop(plan.sobject, None) if since is None else None
        if started is not None and started.soql != plan.bulk_soql(since):
            started = None  # the mapping changed under it: read a job of the current query
        if size is not None and size > self.threshold:
            # Counted large: straight to Bulk. The REST probe would cost a call for nothing,
            # and an ordered queryAll over millions of rows can outlast the read timeout.
            log.info("salesforce.pull.bulk", object=plan.sobject, rows=size, counted=True)
            if started is None:
                started = self.client.start_query(plan.sobject, plan.bulk_soql(since), True, size)
            recent: dict[str, str] = {}
            yield from self._bulk_rows(plan, since, None, on_page, size, started, recent)
            yield from self._since_started(plan, started, recent)
            return
        pages = self.client.query_pages(plan.rest_soql(since), include_deleted=True)
        total, first = next(pages)
        if total > self.threshold and len(first) < total:
            pages.close()
            log.info("salesforce.pull.bulk", object=plan.sobject, rows=total)
            # This object's job first: the org runs a user's Bulk jobs roughly in order.
            own = self.client.start_query(plan.sobject, plan.bulk_soql(since), True, total)
            if since is None and size is None:
                self._count_the_rest(plan.sobject)
            recent = {}
            yield from self._bulk_rows(plan, since, None, on_page, total, own, recent)
            yield from self._since_started(plan, own, recent)
            return
        count = len(first)
        yield from (flatten(record) for record in first)
        for _, records in pages:
            count += len(records)
            log.debug("salesforce.page", object=plan.sobject, count=len(records))
            yield from (flatten(record) for record in records)
        log.info("salesforce.pull.done", object=plan.sobject, count=count, api="rest")

    def _since_started(
        self, plan: PullPlan, started: StartedQuery, recent: Mapping[str, str]
    ) -> Iterator[dict[str, Any]]:
        """What changed after a Bulk job was made: the job answers as of then, and a pull
        answers as of now (a rep's meeting logged while the people were stored; a Lead
        changed while millions of rows were read). Without it, the next cycle's cursor (the
        newest stamp of any object) could pass over those changes. One REST call in the
        usual case. ``recent``: id -> stamp of the job's rows stamped after it was made; such
        a row comes again only if it changed again, so a pull yields a record once."""
        count = 0
        for _, records in self.client.query_pages(
            plan.rest_soql(started.created_at), include_deleted=True
        ):
            for record in records:
                row = flatten(record)
                seen = recent.get(str(row.get("Id")))
                if seen is not None and _same_stamp(seen, row.get("SystemModstamp")):
                    continue
                count += 1
                yield row
        log.info("salesforce.pull.caught_up", object=plan.sobject, count=count)

    def _count_the_rest(self, sobject: str) -> None:
        """A full pull found ``sobject`` large, so the org is: count the objects it pulls after
        it in one call (``limits/recordCount``), so the large ones skip their REST probe. A
        small org never pays this call: its probes are its first (and often only) pages. Only
        later objects: a pull resumed past the first ones must not start jobs for them."""
        plans = self._all_plans()
        names = [plan.sobject for plan in plans]
        others = plans[names.index(sobject) + 1 :] if sobject in names else []
        if not others:
            return
        counted = self.client.record_counts([plan.sobject for plan in others])
        self._full_pull_sizes = {
            p.sobject: counted[p.sobject] for p in others if p.sobject in counted
        }
        # The large ones' Bulk jobs start now and run on the org while the earlier objects are
        # read and stored, so each is finished when its turn comes: one status poll, no wait.
        for plan in others:
            rows = self._full_pull_sizes.get(plan.sobject, 0)
            if rows > self.threshold:
                soql = plan.bulk_soql(None)
                self._started[plan.sobject] = self.client.start_query(
                    plan.sobject, soql, True, rows
                )

    def _bulk_rows(
        self,
        plan: PullPlan,
        since: datetime | None,
        resume: BulkPosition | None,
        on_page: Callable[[BulkPosition], None] | None,
        expected_rows: int | None = None,
        started: StartedQuery | None = None,
        recent: dict[str, str] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """A Bulk job's rows, typed as REST's; ``recent`` hears the id and stamp of each row
        stamped after ``started`` was made (see ``_since_started``)."""
        types = self._field_types(plan)
        # Bulk CSV stamps share one shape ("2024-03-01T12:00:00.000Z"): compared as text.
        made = None
        if recent is not None and started is not None:
            made = started.created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        # Only booleans and numbers change from their CSV text; the rest stay strings.
        typed = {name: kind for name, kind in types.items() if kind in COERCED_TYPES}
        count = 0
        for raw in self.client.bulk_query(
            plan.sobject,
            plan.bulk_soql(since),
            include_deleted=True,
            resume=resume,
            on_page=on_page,
            expected_rows=expected_rows,
            started=started,
        ):
            count += 1
            # A CSV cell is a string and never nested: ``flatten`` has nothing to do but
            # turn "" into None, done here without its per-value type checks.
            row = {k: v or None for k, v in raw.items()}
            stamp = row.get("SystemModstamp")
            if recent is not None and made is not None and stamp is not None and stamp >= made:
                recent[str(row.get("Id"))] = stamp
            for name, kind in typed.items():
                value = row.get(name)
                if value is not None:
                    row[name] = coerce(value, kind)
            yield row
        log.info("salesforce.pull.done", object=plan.sobject, count=count, api="bulk")


def _same_stamp(bulk: str, rest: Any) -> bool:
    """A Bulk CSV stamp and a REST one name the same moment (their shapes differ)."""
    try:
        return parse_datetime(bulk) == parse_datetime(rest)
    except (ValueError, OverflowError):
        return False
