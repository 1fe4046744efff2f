"""Bulk API 2.0: query jobs (CSV results with ``Sforce-Locator``) and ingest jobs (CSV upload,
``UploadComplete``, per-record successful/failed/unprocessed results).

Jobs run on one worker thread, as soon as they are ready, so polling clients see them finish
within a poll or two. Ingest jobs do not run the Lead assignment rule unless created with an
``assignmentRuleId``, as in the real API.
"""

from __future__ import annotations

import base64
import csv
import io
import queue
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import structlog

from sandboxes.salesforce.protocol import Request, Response
from sandboxes.salesforce.schema import FieldDef, ObjectDef
from sandboxes.salesforce.soql_eval import CompiledQuery, ResolvedPath, compile_query
from sandboxes.salesforce.writes import (
    ApiError,
    RecordFailure,
    WriteContext,
    create,
    decode,
    delete,
    external_id_field,
    update,
    upsert,
)

if TYPE_CHECKING:
    from sandboxes.salesforce.app import SandboxApi
    from sandboxes.salesforce.org import OrgState

log = structlog.get_logger(__name__)
_DELIMITERS = {
    "COMMA": ",",
    "TAB": "\t",
    "PIPE": "|",
    "SEMICOLON": ";",
    "CARET": "^",
    "BACKQUOTE": "`",
}
_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
_INGEST_OPS = ("insert", "update", "upsert", "delete")
#: "A request can provide CSV data that does not in total exceed 150 MB of base64 encoded
#: content" (Upload Job Data); counted in decimal megabytes, the stricter reading.
MAX_UPLOAD_BASE64_BYTES = 150_000_000


@dataclass(slots=True)
class Job:
    """One Bulk API 2.0 job and its results."""

    id: str
    kind: str  # query | ingest
    operation: str
    object: str
    created: datetime
    version: str
    delimiter: str = "COMMA"
    line_ending: str = "LF"
    state: str = "Open"
    external_id: str | None = None
    assignment_rule_id: str | None = None
    compiled: CompiledQuery | None = None
    upload: str | None = None  # one per job
    header: list[str] = field(default_factory=list)
    #: A query job's matching rows, rendered to CSV a page at a time when fetched. Rows are
    #: never mutated (a write replaces them), so these references are the job's snapshot.
    results: list[Mapping[str, Any]] = field(default_factory=list)
    successes: list[list[str]] = field(default_factory=list)
    failures: list[list[str]] = field(default_factory=list)
    unprocessed: list[list[str]] = field(default_factory=list)
    processed: int = 0
    failed: int = 0
    error_message: str | None = None
    stamp: datetime = field(default_factory=lambda: datetime.now(UTC))
    started: float = 0.0
    took_ms: int = 0

    def info(self) -> dict[str, Any]:
        """The job-info JSON both GET and PATCH answer with."""
        body: dict[str, Any] = {
            "id": self.id,
            "operation": self.operation,
            "object": self.object,
            "createdById": "",
            "createdDate": _iso(self.created),
            "systemModstamp": _iso(self.stamp),
            "state": self.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(self.version),
            "lineEnding": self.line_ending,
            "columnDelimiter": self.delimiter,
        }
        if self.kind == "query":
            body.update(
                jobType="V2Query",
                numberRecordsProcessed=self.processed,
                retries=0,
                totalProcessingTime=self.took_ms,
            )
        else:
            body.update(
                jobType="V2Ingest",
                numberRecordsProcessed=self.processed,
                numberRecordsFailed=self.failed,
                retries=0,
                totalProcessingTime=self.took_ms,
                apiActiveProcessingTime=self.took_ms,
                apexProcessingTime=0,
                contentUrl=f"services/data/v{self.version}/jobs/ingest/{self.id}/batches",
            )
            if self.external_id:
                body["externalIdFieldName"] = self.external_id
            if self.assignment_rule_id:
                body["assignmentRuleId"] = self.assignment_rule_id
        if self.error_message:
            body["errorMessage"] = self.error_message
        return body


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


class BulkJobs:
    """Every job of the org, and the worker that runs them."""

    def __init__(self, api: SandboxApi) -> None:
        self._api = api
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._worker: threading.Thread | None = None
        self._batches = 0
        self._upload_bytes: dict[str, int] = {}

    def start(self) -> None:
        """Start the worker thread (idempotent)."""
        if self._worker is None:
            self._worker = threading.Thread(target=self._run, name="sf-sandbox-bulk", daemon=True)
            self._worker.start()

    def stop(self) -> None:
        """Stop the worker thread and wait for it."""
        if self._worker is not None:
            self._queue.put(None)
            self._worker.join(timeout=10)
            self._worker = None

    def query_jobs(self) -> int:
        with self._lock:
            return sum(1 for j in self._jobs.values() if j.kind == "query")

    def ingest_batches(self) -> int:
        with self._lock:
            return self._batches

    def upload_bytes(self) -> dict[str, int]:
        """Bytes of ingest job data accepted so far, by object."""
        with self._lock:
            return dict(self._upload_bytes)

    def reset_upload_bytes(self) -> None:
        with self._lock:
            self._upload_bytes.clear()

    # --- endpoints ----------------------------------------------------------------------------
    def create(self, request: Request, kind: str, version: str) -> Response:
        """``POST /jobs/query`` and ``POST /jobs/ingest``."""
        try:
            body = request.json()
        except ValueError:
            raise ApiError(400, "JSON_PARSER_ERROR", "The request body is not JSON") from None
        if not isinstance(body, dict):
            raise ApiError(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
        operation = body.get("operation")
        delimiter = body.get("columnDelimiter", "COMMA")
        ending = body.get("lineEnding", "LF")
        if delimiter not in _DELIMITERS or ending not in _ENDINGS:
            raise ApiError(400, "INVALIDJOB", "columnDelimiter or lineEnding is not supported")
        if body.get("contentType", "CSV") != "CSV":
            raise ApiError(400, "INVALIDJOB", "contentType must be CSV")
        org = self._api.org
        job_id = org.ids.new("750")
        now = datetime.now(UTC)
        if kind == "query":
            if operation not in ("query", "queryAll"):
                raise ApiError(400, "INVALIDJOB", f"Invalid operation for a query job: {operation}")
            compiled = compile_query(org, str(body.get("query") or ""))
            if compiled.query.count or compiled.query.offset is not None:
                raise ApiError(
                    400,
                    "INVALIDJOB",
                    "COUNT() and OFFSET are not supported by Bulk API 2.0 query jobs",
                )
            job = Job(
                job_id,
                kind,
                operation,
                compiled.sobject.name,
                now,
                version,
                delimiter,
                ending,
                "UploadComplete",
                compiled=compiled,
            )
            self._add(job)
            self._queue.put(job_id)
            return Response.json(200, job.info())
        if operation not in _INGEST_OPS:
            raise ApiError(400, "INVALIDJOB", f"Invalid operation: {operation}")
        definition = org.object_def(str(body.get("object") or ""))
        if definition is None:
            raise ApiError(400, "INVALIDJOB", f"Invalid object: {body.get('object')}")
        external = body.get("externalIdFieldName")
        if operation == "upsert":
            if not external:
                raise ApiError(400, "INVALIDJOB", "externalIdFieldName is required for upsert")
            external = external_id_field(definition, str(external)).name
        rule = body.get("assignmentRuleId")
        job = Job(
            job_id,
            kind,
            operation,
            definition.name,
            now,
            version,
            delimiter,
            ending,
            external_id=external,
            assignment_rule_id=rule,
        )
        self._add(job)
        return Response.json(200, job.info())

    def _add(self, job: Job) -> None:
        with self._lock:
            self._jobs[job.id] = job

    def job(self, kind: str, job_id: str) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None or job.kind != kind:
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        return job

    def info(self, kind: str, job_id: str) -> Response:
        """``GET /jobs/{kind}/{id}``."""
        return Response.json(200, self.job(kind, job_id).info())

    def delete(self, kind: str, job_id: str) -> Response:
        """``DELETE /jobs/{kind}/{id}``: only finished or aborted jobs can be deleted."""
        job = self.job(kind, job_id)
        if job.state not in ("JobComplete", "Aborted", "Failed", "Open"):
            raise ApiError(400, "INVALIDJOBSTATE", f"Cannot delete a job in state {job.state}")
        with self._lock:
            self._jobs.pop(job_id, None)
        return Response.empty()

    def patch(self, request: Request, kind: str, job_id: str) -> Response:
        """``PATCH /jobs/{kind}/{id}``: UploadComplete (ingest) or Aborted."""
        job = self.job(kind, job_id)
        try:
            state = (request.json() or {}).get("state")
        except (ValueError, AttributeError):
            raise ApiError(400, "JSON_PARSER_ERROR", "The request body is not JSON") from None
        if state == "Aborted":
            if job.state in ("JobComplete", "Failed", "Aborted"):
                raise ApiError(400, "INVALIDJOBSTATE", f"Cannot abort a job in state {job.state}")
            job.state = "Aborted"
        elif state == "UploadComplete" and kind == "ingest":
            if job.state != "Open":
                raise ApiError(
                    409, "INVALIDJOBSTATE", f"Job {job.id} is in state {job.state}, not Open"
                )
            job.state = "UploadComplete"
            self._queue.put(job.id)
        else:
            raise ApiError(400, "INVALIDJOBSTATE", f"Invalid state change to {state}")
        job.stamp = datetime.now(UTC)
        return Response.json(200, job.info())

    def upload(self, request: Request, job_id: str) -> Response:
        """``PUT /jobs/ingest/{id}/batches``: 201 Created; the job must be Open."""
        job = self.job("ingest", job_id)
        if job.state != "Open":
            raise ApiError(409, "INVALIDJOBSTATE", f"Job {job.id} is not Open")
        if not request.headers.get("content-type", "").startswith("text/csv"):
            raise ApiError(400, "INVALIDJOB", "Content-Type must be text/csv")
        if job.upload is not None:
            # Bulk 2.0 takes one upload per job; more data is another job.
            raise ApiError(
                409,
                "INVALIDJOBSTATE",
                f"Found multiple contents for job: <{job.id}>, please 'Close' / 'Abort' / "
                "'Delete' the current Job then create a new Job and make sure the content is "
                "only put once for a job.",
            )
        encoded = -(-len(request.body) // 3) * 4
        # The limit is documented, the refusal's body is not: a 413 with the Bulk error shape.
        if encoded > MAX_UPLOAD_BASE64_BYTES:
            raise ApiError(
                413,
                "INVALIDBATCH",
                f"The upload is {len(request.body):,} bytes ({encoded:,} base64-encoded); a job "
                f"takes at most {MAX_UPLOAD_BASE64_BYTES:,} bytes base64-encoded. Split the "
                "data across several jobs.",
            )
        job.upload = request.body.decode("utf-8")
        with self._lock:
            self._batches += 1
            self._upload_bytes[job.object] = self._upload_bytes.get(job.object, 0) + len(
                request.body
            )
        return Response.empty(201)

    def results(self, request: Request, job_id: str) -> Response:
        """``GET /jobs/query/{id}/results?maxRecords=&locator=``."""
        job = self.job("query", job_id)
        if job.state != "JobComplete":
            raise ApiError(
                400, "INVALIDJOBSTATE", f"Job {job.id} is not complete (state {job.state})"
            )
        max_records = request.params.get("maxRecords", "50000")
        if not max_records.isdigit() or int(max_records) < 1:
            raise ApiError(400, "INVALIDPARAMETER", "maxRecords must be a positive integer")
        start = 0
        locator = request.params.get("locator")
        if locator:
            try:
                start = int(base64.b64decode(locator + "=" * (-len(locator) % 4)).decode())
            except ValueError:
                raise ApiError(400, "INVALIDLOCATOR", f"Invalid locator: {locator}") from None
        end = start + int(max_records)
        compiled = job.compiled
        assert compiled is not None
        org = self._api.org
        chosen = job.results[start:end]
        # Column by column: one formatter per field instead of a type dispatch per cell, as a
        # page of a big job renders half a million cells.
        columns = [_render(org, path, chosen) for path in compiled.select]
        page = [list(cells) for cells in zip(*columns, strict=True)]
        next_locator = (
            base64.b64encode(str(end).encode()).decode().rstrip("=")
            if end < len(job.results)
            else "null"
        )
        text = _to_csv(job.header, page, job.delimiter, job.line_ending)
        return Response.csv(
            text, {"Sforce-Locator": next_locator, "Sforce-NumberOfRecords": str(len(page))}
        )

    def ingest_results(self, job_id: str, which: str) -> Response:
        """``successfulResults``, ``failedResults`` and ``unprocessedrecords`` as CSV."""
        job = self.job("ingest", job_id)
        if which == "successfulResults":
            text = _to_csv(
                ["sf__Id", "sf__Created", *job.header],
                job.successes,
                job.delimiter,
                job.line_ending,
            )
        elif which == "failedResults":
            text = _to_csv(
                ["sf__Id", "sf__Error", *job.header], job.failures, job.delimiter, job.line_ending
            )
        else:
            text = _to_csv(job.header, job.unprocessed, job.delimiter, job.line_ending)
        return Response.csv(text)

    # --- processing ---------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            job_id = self._queue.get()
            if job_id is None:
                return
            with self._lock:
                job = self._jobs.get(job_id)
            if job is None or job.state == "Aborted":
                continue
            job.state = "InProgress"
            job.started = time.monotonic()
            try:
                if job.kind == "query":
                    self._run_query(job)
                else:
                    self._run_ingest(job)
            except Exception as exc:  # a job that crashes fails, as on the platform
                log.exception("salesforce_sandbox.bulk.failed", job=job.id)
                job.state, job.error_message = "Failed", f"InternalServerError : {exc}"
            job.took_ms = int((time.monotonic() - job.started) * 1000)
            job.stamp = datetime.now(UTC)

    def _run_query(self, job: Job) -> None:
        compiled = job.compiled
        assert compiled is not None
        org = self._api.org
        rows = compiled.run(org, include_deleted=job.operation == "queryAll")
        job.header = [".".join([*(h[1] for h in p.hops), p.field.name]) for p in compiled.select]
        job.results = rows
        job.processed = len(job.results)
        job.state = "JobComplete"

    def _run_ingest(self, job: Job) -> None:
        org = self._api.org
        # As the running user sees it: a column field-level security hides is not found.
        definition = org.object_def(job.object)
        assert definition is not None
        reader = csv.reader(
            io.StringIO(job.upload or "", newline=""), delimiter=_DELIMITERS[job.delimiter]
        )
        job.header = next(reader, [])
        rows = [r for r in reader if r]
        specs = _columns(definition, job.header)
        if isinstance(specs, str):
            job.state, job.error_message = "Failed", specs
            job.unprocessed = rows
            return
        ctx = WriteContext(org, self._api.faults, auto_assign=bool(job.assignment_rule_id))
        key_field = external_id_field(definition, job.external_id) if job.external_id else None
        for row in rows:
            if job.state == "Aborted":
                job.unprocessed.append(row)
                continue
            try:
                record_id, created = self._ingest_row(ctx, job, definition, specs, row, key_field)
                job.successes.append([record_id, "true" if created else "false", *row])
            except RecordFailure as failure:
                job.failed += 1
                fields = ",".join(failure.fields)
                job.failures.append(["", f"{failure.code}:{failure.message}:{fields} --", *row])
            job.processed += 1
        if job.state != "Aborted":
            job.state = "JobComplete"

    def _ingest_row(
        self,
        ctx: WriteContext,
        job: Job,
        definition: ObjectDef,
        specs: list[FieldDef],
        row: list[str],
        key_field: FieldDef | None,
    ) -> tuple[str, bool]:
        if len(row) != len(specs):
            raise RecordFailure("INVALID_FIELD", "Row has the wrong number of columns")
        values: dict[str, Any] = {}
        for spec, text in zip(specs, row, strict=True):
            if text == "":
                continue  # an empty cell leaves the field as it is; #N/A clears it
            try:
                values[spec.name] = None if text == "#N/A" else decode(spec, text)
            except ApiError:
                raise RecordFailure(
                    "INVALID_FIELD",
                    f"{spec.label}: value not of required type: {text}",
                    [spec.name],
                ) from None
        with ctx.org.lock:
            if job.operation == "insert":
                return create(ctx, definition, values), True
            if job.operation == "delete":
                return delete(ctx, str(values.get("Id", ""))), False
            if job.operation == "update":
                record_id = values.pop("Id", None)
                if not record_id:
                    raise RecordFailure(
                        "MISSING_ARGUMENT", "Id not specified in an update call", ["Id"]
                    )
                return update(ctx, definition, str(record_id), values), False
            assert key_field is not None
            key = values.pop(key_field.name, None)
            if key in (None, ""):
                raise RecordFailure(
                    "MISSING_ARGUMENT", f"{key_field.name} not specified", [key_field.name]
                )
            return upsert(ctx, definition, key_field, str(key), values)


def _columns(definition: ObjectDef, header: list[str]) -> list[FieldDef] | str:
    specs = []
    for name in header:
        spec = definition.field(name.strip())
        if spec is None:
            return f"InvalidBatch : Field name not found : {name}"
        specs.append(spec)
    return specs


def _render(org: OrgState, path: ResolvedPath, rows: list[Mapping[str, Any]]) -> list[str]:
    """One selected field of ``rows`` as CSV cells."""
    if path.hops:
        values = [path.read(org, row) for row in rows]
    else:
        name = path.field.name
        values = [row.get(name) for row in rows]
    spec = path.field
    if spec.type in ("double", "currency"):
        return ["" if v is None else repr(float(v)) for v in values]
    if spec.type == "datetime":
        return [_csv_value(spec, v) for v in values]
    if spec.type == "boolean":
        return ["" if v is None else "true" if v else "false" for v in values]
    return [v if isinstance(v, str) else _csv_value(spec, v) for v in values]


def _csv_value(spec: FieldDef, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        # isoformat is several times faster than strftime, and a big job renders millions.
        utc = value if value.tzinfo is UTC else value.astimezone(UTC)
        return utc.isoformat(timespec="milliseconds")[:23] + "Z"
    if spec.type in ("double", "currency"):
        return repr(float(value))
    return str(value)


def _to_csv(header: list[str], rows: list[list[str]], delimiter: str, ending: str) -> str:
    buffer = io.StringIO()
    writer = csv.writer(
        buffer,
        delimiter=_DELIMITERS[delimiter],
        lineterminator=_ENDINGS[ending],
        quoting=csv.QUOTE_ALL,
    )
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()
