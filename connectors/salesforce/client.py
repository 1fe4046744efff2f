"""A thin, retrying, accounting client over simple-salesforce for the calls LeadSync makes.

Every call runs under the one retry policy and leaves only ``leadsync.errors``. Queries are
streamed page by page (REST ``nextRecordsUrl``, Bulk 2.0 result locators), so a million rows
never sit in memory at once.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, TypeVar

import structlog
from simple_salesforce import Salesforce
from simple_salesforce.bulk2 import (
    ColumnDelimiter,
    LineEnding,
    Operation,
    QueryResult,
    _Bulk2Client,
)

from connectors.salesforce import auth
from connectors.salesforce.http import RetryPolicy, SalesforceSession, Timeouts, call
from connectors.salesforce.pull import parse_datetime as parse_sf_datetime
from connectors.salesforce.settings import SalesforceSettings
from leadsync.errors import AuthError, BudgetExhausted, FatalSyncError, RetriableSyncError

log = structlog.get_logger(__name__)

#: Subrequests a Composite call takes (of which at most 5 may be queries or Collections).
COMPOSITE_LIMIT = 25

T = TypeVar("T")

_BULK_DONE = {"JobComplete", "Failed", "Aborted"}
#: Starting guess of Bulk ingest speed (records/s) until the org's own jobs teach us better.
_INITIAL_BULK_RATE = 5_000.0
#: The same for query jobs (rows/s), whose first poll waits for the REST probe's row count.
_INITIAL_QUERY_RATE = 50_000.0
#: Until a job of its kind has finished, an ingest job's size says little about its time (orgs
#: run from ~2,000 to ~40,000 records/s, by their triggers and flows): its first poll comes at
#: this fraction of the time the starting guess gives it, its second at the whole of it.
_UNLEARNED_FIRST_POLL = 0.25
#: Bounds of the wait between status polls of a running Bulk job (seconds).
_MIN_POLL_WAIT = 0.25
_MAX_POLL_WAIT = 30.0


#: How far our clock may run ahead of the org's, where a time of the org's is guessed from ours.
CLOCK_MARGIN = timedelta(minutes=5)


def _our_guess_of_now() -> datetime:
    """The org's time when it did not tell: ours, less the skew it may have on us."""
    return datetime.now(UTC) - CLOCK_MARGIN


@dataclass(frozen=True, slots=True)
class StartedQuery:
    """A Bulk query job created ahead of reading it: it runs on the org meanwhile."""

    soql: str
    job_id: str
    expected_rows: int | None
    started: float  # time.monotonic() at creation
    #: The job's ``createdDate`` as the org answered it (its clock, not ours; ours less
    #: ``CLOCK_MARGIN`` if it did not say): the job holds nothing modified after it.
    created_at: datetime


@dataclass(frozen=True, slots=True)
class BulkIngestResult:
    """One finished ingest job. ``all_succeeded`` means the job's own counters prove every
    record was written, so its per-record result files were not downloaded."""

    job_id: str
    all_succeeded: bool
    successful: list[dict[str, str]]
    failed: list[dict[str, str]]
    unprocessed: list[dict[str, str]]
    #: The job processed every record, so each one not in ``failed`` succeeded (and
    #: ``successful`` was not downloaded).
    others_succeeded: bool = False


@dataclass(slots=True)
class JobWatch:
    """A running Bulk job's poll schedule (``time.monotonic()`` seconds)."""

    job_id: str
    is_query: bool
    started: float
    due: float  # the next status poll
    deadline: float  # past this a still-running job is given up on, for the next cycle
    records: int | None = None
    #: The client's rate version this schedule was planned with (see ``SalesforceClient``).
    planned_with: int = 0
    polls: int = 0

    def wait(self) -> float:
        """Seconds until the next poll is due."""
        return max(0.0, self.due - time.monotonic())


@dataclass(frozen=True, slots=True)
class RunningIngest:
    """An ingest job uploaded and closed, running on the org (see ``start_update``)."""

    bulk: _Bulk2Client
    records: int
    watch: JobWatch


class SalesforceClient:
    """One authenticated connection to one org."""

    def __init__(
        self,
        name: str,
        settings: SalesforceSettings,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.name = name
        self.settings = settings
        self.policy = RetryPolicy.from_settings(settings.max_retries, settings.connect_retries)
        self._sleep = sleep
        verify: str | bool = str(settings.ca_bundle) if settings.ca_bundle else True
        timeouts = Timeouts(
            connect=settings.connect_timeout_seconds,
            read=settings.timeout_seconds,
            bulk=settings.bulk_timeout_seconds,
        )
        self.session = SalesforceSession(
            connector=name,
            verify=verify,
            timeouts=timeouts,
            renew=self._renew if auth.can_renew(settings) else None,
        )
        self._sf: Salesforce | None = None
        #: The user LeadSync is logged in as (known once logged in, unless given a token).
        self.own_user_id: str | None = None
        #: Records a second the org's Bulk jobs run at, learned per kind (ingest, query).
        self._bulk_rates = {False: _INITIAL_BULK_RATE, True: _INITIAL_QUERY_RATE}
        #: Bumped each time a finished job teaches a rate, so schedules planned before re-plan.
        self._rates_version = 0
        #: Whether an ingest job has finished yet (until then its rate is the starting guess).
        self._ingest_rate_learned = False

    # -- connection -------------------------------------------------------------------------

    @property
    def sf(self) -> Salesforce:
        """The simple-salesforce client, logging in on first use."""
        if self._sf is None:
            token = self._call(
                lambda: auth.fetch_token(self.settings, self.session, connector=self.name)
            )
            self.session.bind(token.instance_url, token.access_token)
            self.own_user_id = token.user_id
            self._sf = Salesforce(
                instance_url=token.instance_url,
                session_id=token.access_token,
                version=self.settings.api_version,
                session=self.session,
            )
        return self._sf

    def login_user_id(self) -> str | None:
        """The user LeadSync acts as: from the login's identity URL, else (a token given as
        ``access_token`` carries none) from the org's OpenID Connect UserInfo endpoint."""
        sf = self.sf
        if self.own_user_id is None:
            url = f"https://{sf.sf_instance}/services/oauth2/userinfo"
            response = self._call(lambda: sf.session.get(url, headers=sf.headers))
            if response.status_code == 200:
                self.own_user_id = auth.user_of(response.json().get("user_id"))
        return self.own_user_id

    def _renew(self) -> str:
        token = auth.fetch_token(self.settings, self.session, connector=self.name)
        if self._sf is not None:
            self._sf.session_id = token.access_token
            self._sf._generate_headers()
        return token.access_token

    def close(self) -> None:
        self.session.close()

    # -- the retry/translation boundary -------------------------------------------------------

    def _with_retry(self, fn: Callable[[], T]) -> T:
        # Log in before, not inside, ``fn``'s retry loop: a login inside it would run the
        # token call's own loop in each of its attempts (6 x 6 tries of a refused host).
        self.sf  # noqa: B018
        return self._call(fn)

    def _call(self, fn: Callable[[], T]) -> T:
        try:
            return call(fn, policy=self.policy, session=self.session, sleep=self._sleep)
        except AuthError as exc:
            if self.settings.auth == "access_token":
                raise auth.auth_error(self.settings, str(exc), self.name) from exc
            raise

    def run(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` as one call under the retry loop. ``fn`` makes raw simple-salesforce
        calls through :attr:`sf` (never the retrying methods here, which would nest a second
        loop) and may raise a ``RetriableSyncError`` of its own to be tried again."""
        return self._with_retry(fn)

    def check_budget(self, reserve: int) -> None:
        """Raise ``BudgetExhausted`` before a write when the org's allowance is down to reserve."""
        remaining = self.session.remaining()
        if remaining is not None and remaining - reserve <= 0:
            log.warning("salesforce.budget.reserve", remaining=remaining, reserve=reserve)
            raise BudgetExhausted(
                f"only {remaining} API calls left today and api_reserve is {reserve}; writes "
                f"pause until the allowance recovers (nothing pending is dropped)",
                connector=self.name,
            )

    # -- REST ---------------------------------------------------------------------------------

    def rest(self, method: str, path: str, **kwargs: Any) -> Any:
        """One REST call relative to ``/services/data/vXX.X/``."""
        return self._with_retry(lambda: self.sf.restful(path, method=method, **kwargs))

    def query_pages(
        self, soql: str, *, include_deleted: bool = False
    ) -> Generator[tuple[int, list[dict[str, Any]]], None, None]:
        """``(totalSize, records)`` per page: ``query``/``queryAll`` then ``nextRecordsUrl``."""
        page = self._with_retry(lambda: self.sf.query(soql, include_deleted=include_deleted))
        while True:
            yield int(page.get("totalSize", 0)), list(page.get("records", []))
            next_url = page.get("nextRecordsUrl")
            if page.get("done", True) or not next_url:
                return
            page = self._with_retry(partial(self.sf.query_more, next_url, identifier_is_url=True))

    # -- Bulk API 2.0 -------------------------------------------------------------------------

    def _bulk(self, sobject: str, extra_headers: Mapping[str, str] | None = None) -> _Bulk2Client:
        # simple-salesforce's public bulk2 helpers wrap create/poll/fetch in one call, so one
        # failed page would restart the whole job; driving the job step by step lets each HTTP
        # call retry on its own. The session stamps the current token on every request.
        headers = {"Content-Type": "application/json", "X-PrettyPrint": "1"}
        headers["Authorization"] = "Bearer " + self.sf.session_id
        headers.update(extra_headers or {})
        return _Bulk2Client(sobject, self.sf.bulk2_url, headers, self.session)

    def bulk_query(
        self,
        sobject: str,
        soql: str,
        *,
        include_deleted: bool,
        resume: BulkPosition | None = None,
        on_page: Callable[[BulkPosition], None] | None = None,
        expected_rows: int | None = None,
        started: StartedQuery | None = None,
    ) -> Iterator[dict[str, str]]:
        """Rows of a Bulk 2.0 query (or queryAll) job as CSV dicts, one result page at a time.

        ``expected_rows`` (a REST probe's ``totalSize``) times the job's first status poll.
        ``started`` (from :meth:`start_query`, same SOQL) reads that job instead of a new one.

        ``on_page`` hears, once every row of a page has been taken, where the next page
        starts; ``resume`` starts there (no new job: Salesforce keeps a query job's results
        for days and its locators can be read again). A job that is gone starts over.
        """
        bulk = self._bulk(sobject)
        if resume is None:
            if started is None:
                started = self.start_query(sobject, soql, include_deleted, expected_rows)
            self._await_job(
                bulk,
                started.job_id,
                is_query=True,
                records=started.expected_rows,
                since=started.started,
            )
            job_id, locator = started.job_id, ""
        else:
            job_id, locator = resume.job_id, resume.locator
            log.info("salesforce.bulk.resume", object=sobject, job=job_id)

        def fetch(at: str) -> QueryResult:
            return self._with_retry(
                partial(bulk.get_query_results, job_id, at, self.settings.bulk_page_size)
            )

        # The next page downloads while the caller works through this one: Salesforce renders
        # a page in seconds and the caller stores it in seconds, so taking turns doubles the
        # wall time. One request is in flight at a time, as before, and never two pages ahead.
        with ThreadPoolExecutor(1, thread_name_prefix="salesforce-bulk-page") as ahead:
            pending = ahead.submit(fetch, locator)
            while True:
                try:
                    page = pending.result()
                except FatalSyncError as exc:
                    if resume is None or exc.status != 404 or locator != resume.locator:
                        raise
                    log.warning("salesforce.bulk.resume_lost", object=sobject, job=job_id)
                    yield from self.bulk_query(
                        sobject, soql, include_deleted=include_deleted, on_page=on_page
                    )
                    return
                locator = page["locator"]
                if locator:
                    pending = ahead.submit(fetch, locator)
                reader = csv.reader(io.StringIO(page["records"]))
                header = next(reader, None)
                if header is not None:
                    yield from (dict(zip(header, values, strict=True)) for values in reader)
                if not locator:
                    return
                if on_page is not None:
                    on_page(BulkPosition(job_id, locator))

    def start_query(
        self,
        sobject: str,
        soql: str,
        include_deleted: bool,
        expected_rows: int | None = None,
    ) -> StartedQuery:
        """Create a Bulk query job without waiting for it (read it with :meth:`bulk_query`)."""
        bulk = self._bulk(sobject)
        operation = Operation.query_all if include_deleted else Operation.query
        job = self._with_retry(
            lambda: bulk.create_job(
                operation,
                query=soql,
                column_delimiter=ColumnDelimiter.COMMA,
                line_ending=LineEnding.LF,
            )
        )
        job_id = str(job["id"])
        log.info("salesforce.bulk.query", object=sobject, job=job_id, expected_rows=expected_rows)
        try:
            created_at = parse_sf_datetime(job.get("createdDate"))
        except (ValueError, OverflowError):
            created_at = None
        return StartedQuery(
            soql, job_id, expected_rows, time.monotonic(), created_at or _our_guess_of_now()
        )

    def start_update(
        self,
        sobject: str,
        csv_data: str,
        records: int,
        *,
        extra_headers: Mapping[str, str] | None = None,
    ) -> RunningIngest:
        """Create, upload and close a Bulk 2.0 ingest ``update`` job of ``records`` rows; it
        then runs on the org while the caller goes on (see :meth:`poll_update`).

        The minimum is four calls: create, upload, close, one status poll. Result files are
        fetched only when the status counters do not already prove every record succeeded, and
        of a job that processed every record only ``failedResults``: the rest succeeded.
        """
        bulk = self._bulk(sobject, extra_headers)
        job = self._with_retry(
            lambda: bulk.create_job(
                Operation.update,
                column_delimiter=ColumnDelimiter.COMMA,
                line_ending=LineEnding.LF,
            )
        )
        job_id = str(job["id"])
        log.info(
            "salesforce.bulk.ingest",
            object=sobject,
            job=job_id,
            records=records,
            bytes=utf8_size(csv_data),
        )
        self._with_retry(lambda: bulk.upload_job_data(job_id, csv_data))
        self._with_retry(lambda: bulk.close_job(job_id))
        return RunningIngest(bulk, records, self._watch(job_id, False, records, time.monotonic()))

    def poll_update(self, job: RunningIngest) -> BulkIngestResult | None:
        """The job's result if it has finished; None, without a call, before its next poll
        is due, or when the poll finds it still running."""
        self._replan(job.watch)
        if job.watch.wait() > 0:
            return None
        return self._ingest_result(job, self._poll(job.bulk, job.watch))

    def await_poll(self, jobs: Sequence[RunningIngest]) -> None:
        """Sleep until the first of ``jobs`` is due for its next status poll."""
        for job in jobs:
            self._replan(job.watch)
        # Real time, not the injectable backoff sleep: the jobs run on the server's clock.
        wait = min(job.watch.wait() for job in jobs)
        if wait > 0:
            time.sleep(wait)

    def _ingest_result(
        self, job: RunningIngest, info: dict[str, Any] | None
    ) -> BulkIngestResult | None:
        """A finished ingest job's result (fetching the result files its counters call for)."""
        if info is None:
            return None
        bulk, job_id, records = job.bulk, job.watch.job_id, job.records
        state = str(info.get("state"))
        processed_all = state == "JobComplete" and _count(info, "numberRecordsProcessed") == records
        if processed_all and _count(info, "numberRecordsFailed") == 0:
            return BulkIngestResult(job_id, True, [], [], [])
        if processed_all:
            failed = self._ingest_rows(bulk, job_id, "failedResults")
            return BulkIngestResult(job_id, False, [], failed, [], others_succeeded=True)
        successful = self._ingest_rows(bulk, job_id, "successfulResults")
        failed = self._ingest_rows(bulk, job_id, "failedResults")
        unprocessed = (
            self._ingest_rows(bulk, job_id, "unprocessedrecords") if state != "JobComplete" else []
        )
        return BulkIngestResult(job_id, False, successful, failed, unprocessed)

    def _ingest_rows(self, bulk: _Bulk2Client, job_id: str, kind: str) -> list[dict[str, str]]:
        text = self._with_retry(lambda: bulk.get_ingest_results(job_id, kind))
        return list(csv.DictReader(io.StringIO(text)))

    def _await_job(
        self,
        bulk: _Bulk2Client,
        job_id: str,
        *,
        is_query: bool,
        records: int | None = None,
        since: float | None = None,
    ) -> dict[str, Any]:
        """Poll a job until it finishes; a failed query job is fatal, an ingest job reports."""
        watch = self._watch(job_id, is_query, records, time.monotonic() if since is None else since)
        while True:
            _sleep_until(watch)
            info = self._poll(bulk, watch)
            if info is not None:
                return info

    def _watch(self, job_id: str, is_query: bool, records: int | None, started: float) -> JobWatch:
        """When to poll a job started at ``started`` (monotonic) first, and when to give up.

        Every poll is an API call. When the job's size is known, its first poll waits for the
        time the org's past jobs of that kind suggest it needs (learned from their
        ``totalProcessingTime``), less the time since it was started; later polls wait a
        quarter of the time the job has taken so far, so a job that runs longer than expected
        costs a few polls, not one every ten seconds. An ingest job sent before any has
        finished is polled first at a quarter of the starting guess (see
        ``_UNLEARNED_FIRST_POLL``), and again at the whole of it.
        """
        expected = self._expected_seconds(is_query, records)
        deadline = started + max(600.0, self.settings.timeout_seconds * 20, 4 * expected)
        watch = JobWatch(job_id, is_query, started, started, deadline, records)
        self._plan_first_poll(watch)
        return watch

    def _expected_seconds(self, is_query: bool, records: int | None) -> float:
        """How long the current rate of the kind (learned, or the starting guess) gives a job."""
        return records / self._bulk_rates[is_query] if records is not None else 0.0

    def _plan_first_poll(self, watch: JobWatch) -> None:
        expected = self._expected_seconds(watch.is_query, watch.records)
        if not watch.is_query and not self._ingest_rate_learned:
            expected *= _UNLEARNED_FIRST_POLL
        now = time.monotonic()
        first_wait = expected - (now - watch.started)
        watch.due = now + max(first_wait, _MIN_POLL_WAIT) if first_wait > 0 else now
        watch.planned_with = self._rates_version

    def _replan(self, watch: JobWatch) -> None:
        """A job not yet polled whose kind's rate was learned since: poll it when that rate
        says it is done (sooner or later than planned), not on the old guess."""
        if watch.polls == 0 and watch.planned_with != self._rates_version:
            self._plan_first_poll(watch)

    def _poll(self, bulk: _Bulk2Client, watch: JobWatch) -> dict[str, Any] | None:
        """One status poll: the job's info when it has finished, else None (and the next
        poll's time is set)."""
        job_id, is_query = watch.job_id, watch.is_query
        info: dict[str, Any] = self._with_retry(lambda: bulk.get_job(job_id, is_query))
        watch.polls += 1
        state = str(info.get("state"))
        if state in _BULK_DONE:
            if is_query and state != "JobComplete":
                raise FatalSyncError(
                    f"Bulk API query job {job_id} ended {state}: "
                    f"{info.get('errorMessage') or 'no message'}",
                    connector=self.name,
                )
            self._learn_rate(info, is_query)
            return info
        now = time.monotonic()
        if now > watch.deadline:
            raise RetriableSyncError(
                f"Bulk API job {job_id} still {state} after polling; the next cycle retries",
                connector=self.name,
            )
        guessed_end = watch.started + self._expected_seconds(is_query, watch.records)
        if watch.polls == 1 and not is_query and guessed_end > now:
            watch.due = max(guessed_end, now + _MIN_POLL_WAIT)  # polled early on a guess
        else:
            elapsed = now - watch.started
            watch.due = now + min(max(elapsed / 4, _MIN_POLL_WAIT), _MAX_POLL_WAIT)
        return None

    def _learn_rate(self, info: Mapping[str, Any], is_query: bool) -> None:
        took_ms = _count(info, "totalProcessingTime")
        processed = _count(info, "numberRecordsProcessed")
        if took_ms and processed:
            observed = processed / (took_ms / 1000.0)
            # A little pessimism: waiting slightly long costs time, polling early costs calls.
            rate = self._bulk_rates[is_query]
            self._bulk_rates[is_query] = 0.5 * rate + 0.5 * observed * 0.8
            self._ingest_rate_learned |= not is_query
            self._rates_version += 1

    # -- Tooling ------------------------------------------------------------------------------

    def tooling(self, method: str, path: str, data: dict[str, Any] | None = None) -> Any:
        """One Tooling API call relative to ``/services/data/vXX.X/tooling/``."""
        return self._with_retry(lambda: self.sf.toolingexecute(path, method=method, data=data))

    def describe(self, sobject: str) -> dict[str, Any]:
        """The raw sObject describe (``GET sobjects/{name}/describe``)."""
        result = self.rest("GET", f"sobjects/{sobject}/describe")
        return dict(result or {})

    def record_counts(self, sobjects: Sequence[str]) -> dict[str, int]:
        """Approximate live record counts (``GET limits/recordCount``), one call for all;
        an object the org does not count is absent."""
        answer = self.rest("GET", "limits/recordCount", params={"sObjects": ",".join(sobjects)})
        return {
            str(entry["name"]): int(entry["count"])
            for entry in (answer or {}).get("sObjects", [])
            if "name" in entry and "count" in entry
        }

    def describe_many(self, sobjects: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Several describes in one Composite call each 25 (the whole call counts as one
        against the API allowance). An object the org does not have or show is ``{}``."""
        found: dict[str, dict[str, Any]] = {}
        base = f"/services/data/v{self.settings.api_version}"
        names = list(dict.fromkeys(sobjects))
        for start in range(0, len(names), COMPOSITE_LIMIT):
            part = names[start : start + COMPOSITE_LIMIT]
            body = {
                "allOrNone": False,
                "compositeRequest": [
                    {
                        "method": "GET",
                        "url": f"{base}/sobjects/{name}/describe",
                        "referenceId": f"d{i}",
                    }
                    for i, name in enumerate(part)
                ],
            }
            answer = self.rest("POST", "composite", json=body) or {}
            by_ref = {r.get("referenceId"): r for r in answer.get("compositeResponse", [])}
            for i, name in enumerate(part):
                result = by_ref.get(f"d{i}") or {}
                status = int(result.get("httpStatusCode") or 0)
                if status == 200:
                    found[name] = dict(result.get("body") or {})
                elif status == 404:
                    found[name] = {}
                else:
                    raise FatalSyncError(
                        f"describe {name} in a composite call answered {status}: "
                        f"{result.get('body')!r}",
                        connector=self.name,
                        status=status or None,
                    )
        return found


@dataclass(frozen=True, slots=True)
class BulkPosition:
    """Where a Bulk 2.0 query's next result page starts: its job and the page's locator."""

    job_id: str
    locator: str


def csv_cell(row: Mapping[str, Any], column: str) -> Any:
    if column not in row:
        return ""
    value = row[column]
    if value is None:
        return "#N/A"
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def utf8_size(text: str) -> int:
    """Bytes ``text`` takes on the wire; an ASCII upload (most are) is not copied to count."""
    return len(text) if text.isascii() else len(text.encode("utf-8"))


def _sleep_until(watch: JobWatch) -> None:
    # Real time, not the injectable backoff sleep: the job runs on the server's clock.
    wait = watch.wait()
    if wait > 0:
        time.sleep(wait)


def _count(info: Mapping[str, Any], key: str) -> int:
    try:
        return int(info.get(key) or 0)
    except (TypeError, ValueError):
        return 0
