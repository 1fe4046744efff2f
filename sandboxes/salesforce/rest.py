"""REST resources: query/queryAll with cursors, describe, sObject rows, sObject Collections,
Tooling CustomField, and limits."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sandboxes.salesforce.ids import to18
from sandboxes.salesforce.protocol import Request, Response
from sandboxes.salesforce.schema import FieldDef, ObjectDef
from sandboxes.salesforce.soql_eval import CompiledQuery, compile_query, json_value
from sandboxes.salesforce.writes import (
    ROLLED_BACK,
    ApiError,
    RecordFailure,
    WriteContext,
    create,
    delete,
    external_id_field,
    parse_body,
    update,
    upsert,
)

if TYPE_CHECKING:
    from sandboxes.salesforce.app import SandboxApi

COLLECTION_LIMIT = 200
#: "A single request can process up to 10 chunks" (runs of records of one type).
MAX_CHUNKS = 10
_CURSOR_TTL = 15 * 60
_NOT_FOUND = [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]


@dataclass(slots=True)
class Cursor:
    """A server-side query cursor: the snapshot of matching rows and where the next page starts."""

    compiled: CompiledQuery
    rows: list[Mapping[str, Any]]
    batch: int
    endpoint: str
    touched: float


class CursorStore:
    """Open query cursors, least recently used evicted first, idle ones expiring after 15 min."""

    def __init__(self, capacity: int = 100) -> None:
        self._cursors: OrderedDict[str, Cursor] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def add(self, cursor_id: str, cursor: Cursor) -> None:
        with self._lock:
            self._cursors[cursor_id] = cursor
            while len(self._cursors) > self._capacity:
                self._cursors.popitem(last=False)

    def get(self, cursor_id: str) -> Cursor | None:
        with self._lock:
            cursor = self._cursors.get(cursor_id)
            if cursor is None or time.monotonic() - cursor.touched > _CURSOR_TTL:
                self._cursors.pop(cursor_id, None)
                return None
            cursor.touched = time.monotonic()
            self._cursors.move_to_end(cursor_id)
            return cursor


def object_or_404(api: SandboxApi, name: str) -> ObjectDef:
    """The object called ``name`` or the API's NOT_FOUND answer."""
    definition = api.org.object_def(name)
    if definition is None:
        raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
    return definition


def write_context(api: SandboxApi, request: Request) -> WriteContext:
    """The write context of a REST request; honours ``Sforce-Auto-Assign``."""
    header = request.headers.get("sforce-auto-assign", "TRUE").strip()
    return WriteContext(api.org, api.faults, auto_assign=header.upper() != "FALSE")


# --- query ------------------------------------------------------------------------------------
def query(api: SandboxApi, request: Request, version: str, *, include_deleted: bool) -> Response:
    """``GET /query?q=`` and ``/queryAll?q=``: the first page and a cursor for the rest."""
    text = request.params.get("q")
    if not text:
        raise ApiError(400, "MALFORMED_QUERY", "A query string has to be specified")
    compiled = compile_query(api.org, text)
    rows = compiled.run(api.org, include_deleted=include_deleted)
    if compiled.query.count:
        return Response.json(200, {"totalSize": len(rows), "done": True, "records": []})
    batch = 2000
    options = request.headers.get("sforce-query-options", "")
    for option in options.split(","):
        key, _, value = option.strip().partition("=")
        if key.strip().lower() == "batchsize" and value.strip().isdigit():
            batch = min(2000, max(200, int(value.strip())))
    endpoint = "queryAll" if include_deleted else "query"
    cursor = Cursor(compiled, rows, batch, endpoint, time.monotonic())
    return _page(api, cursor, api.org.ids.new("01g")[:15], 0, version)


def query_more(api: SandboxApi, locator: str, version: str) -> Response:
    """``GET /query/{cursor}-{offset}``: the next page of an open cursor."""
    cursor_id, _, offset_text = locator.partition("-")
    cursor = api.cursors.get(cursor_id)
    if cursor is None or not offset_text.isdigit() or int(offset_text) > len(cursor.rows):
        raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
    return _page(api, cursor, cursor_id, int(offset_text), version)


def _page(api: SandboxApi, cursor: Cursor, cursor_id: str, start: int, version: str) -> Response:
    end = start + cursor.batch
    records = [cursor.compiled.shape(api.org, row, version) for row in cursor.rows[start:end]]
    body: dict[str, Any] = {
        "totalSize": len(cursor.rows),
        "done": end >= len(cursor.rows),
        "records": records,
    }
    if end < len(cursor.rows):
        api.cursors.add(cursor_id, cursor)
        body["nextRecordsUrl"] = f"/services/data/v{version}/{cursor.endpoint}/{cursor_id}-{end}"
    return Response.json(200, body)


# --- describe ---------------------------------------------------------------------------------
def global_describe(api: SandboxApi, version: str) -> Response:
    """``GET /sobjects``."""
    with api.org.lock:
        sobjects = [d.summary(version) for d in api.org.schema.values()]
    return Response.json(200, {"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": sobjects})


def describe(api: SandboxApi, name: str, version: str) -> Response:
    """``GET /sobjects/{Type}/describe``."""
    definition = object_or_404(api, name)
    with api.org.lock:
        return Response.json(200, definition.describe(version))


def object_info(api: SandboxApi, name: str, version: str) -> Response:
    """``GET /sobjects/{Type}``."""
    definition = object_or_404(api, name)
    return Response.json(200, {"objectDescribe": definition.summary(version), "recentItems": []})


# --- single records ---------------------------------------------------------------------------
def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = request.json()
    except ValueError as exc:
        raise ApiError(
            400, "JSON_PARSER_ERROR", f"Unexpected character in request body: {exc}"
        ) from None
    if not isinstance(body, dict):
        raise ApiError(
            400,
            "JSON_PARSER_ERROR",
            "Cannot deserialize instance of sObject from a value that is not an object",
        )
    return body


def create_one(api: SandboxApi, request: Request, name: str) -> Response:
    """``POST /sobjects/{Type}``: 201 with the new id, or 400 with the record's error."""
    definition = object_or_404(api, name)
    values = parse_body(definition, _json_object(request))
    try:
        record_id = create(write_context(api, request), definition, values)
    except RecordFailure as failure:
        raise failure.as_api_error() from None
    return Response.json(201, {"id": record_id, "success": True, "errors": []})


def read_one(
    api: SandboxApi, request: Request, name: str, record_id: str, version: str
) -> Response:
    """``GET /sobjects/{Type}/{Id}`` (``?fields=`` narrows the answer)."""
    definition = object_or_404(api, name)
    full = to18(record_id)
    row = api.org.raw(definition.name, full) if full else None
    if row is None:
        return Response.json(404, _NOT_FOUND)
    if row.get("IsDeleted"):
        raise ApiError(404, "ENTITY_IS_DELETED", "entity is deleted")
    wanted = [f.strip() for f in request.params.get("fields", "").split(",") if f.strip()]
    specs = _specs(definition, wanted) if wanted else list(definition.fields.values())
    body: dict[str, Any] = {
        "attributes": {
            "type": definition.name,
            "url": f"/services/data/v{version}/sobjects/{definition.name}/{row['Id']}",
        }
    }
    for spec in specs:
        body[spec.name] = json_value(spec, row.get(spec.name))
    return Response.json(200, body)


def _specs(definition: ObjectDef, names: list[str]) -> list[FieldDef]:
    specs = []
    for name in names:
        spec = definition.field(name)
        if spec is None:
            raise ApiError(
                400,
                "INVALID_FIELD",
                f"No such column '{name}' on entity '{definition.name}'. If you are "
                "attempting to use a custom field, be sure to append the '__c' after "
                "the custom field name. Please reference your WSDL or the describe "
                "call for the appropriate names.",
            )
        specs.append(spec)
    return specs


def update_one(api: SandboxApi, request: Request, name: str, record_id: str) -> Response:
    """``PATCH /sobjects/{Type}/{Id}``: 204, or 400/404 with the API's error."""
    definition = object_or_404(api, name)
    values = parse_body(definition, _json_object(request))
    full = to18(record_id)
    if full is None or api.org.raw(definition.name, full) is None:
        if full is not None and api.org.type_of_id(full) == definition.name:
            return Response.json(404, _NOT_FOUND)
        raise ApiError(
            400,
            "MALFORMED_ID",
            f"{definition.label} ID: id value of incorrect type: {record_id}",
            ["Id"],
        )
    try:
        update(write_context(api, request), definition, full, values)
    except RecordFailure as failure:
        status = 404 if failure.code == "ENTITY_IS_DELETED" else 400
        raise failure.as_api_error(status) from None
    return Response.empty()


def delete_one(api: SandboxApi, request: Request, name: str, record_id: str) -> Response:
    """``DELETE /sobjects/{Type}/{Id}``."""
    definition = object_or_404(api, name)
    full = to18(record_id)
    if full is None or api.org.type_of_id(full) != definition.name:
        raise ApiError(400, "MALFORMED_ID", f"malformed id {record_id}")
    if api.org.raw(definition.name, full) is None:
        return Response.json(404, _NOT_FOUND)
    try:
        delete(write_context(api, request), full)
    except RecordFailure as failure:
        status = 404 if failure.code == "ENTITY_IS_DELETED" else 400
        raise failure.as_api_error(status) from None
    return Response.empty()


def upsert_one(
    api: SandboxApi, request: Request, name: str, field: str, key: str, version: str
) -> Response:
    """``PATCH /sobjects/{Type}/{ExtIdField}/{value}``: 201 created; 200 updated (204 < v46)."""
    definition = object_or_404(api, name)
    key_field = external_id_field(definition, field)
    values = parse_body(definition, _json_object(request))
    try:
        record_id, created = upsert(write_context(api, request), definition, key_field, key, values)
    except RecordFailure as failure:
        raise failure.as_api_error() from None
    body = {"id": record_id, "success": True, "errors": [], "created": created}
    if created:
        return Response.json(201, body)
    if float(version) < 46.0:
        return Response.empty()
    return Response.json(200, body)


# --- sObject Collections ----------------------------------------------------------------------
def _collection_body(request: Request) -> tuple[bool, list[dict[str, Any]]]:
    body = _json_object(request)
    records = body.get("records")
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise ApiError(400, "JSON_PARSER_ERROR", "'records' must be a list of sObjects")
    if len(records) > COLLECTION_LIMIT:
        raise ApiError(
            400,
            "EXCEEDED_ID_LIMIT",
            "record limit reached. cannot submit more than 200 records into this call",
        )
    return bool(body.get("allOrNone", False)), records


def _record_type(api: SandboxApi, record: dict[str, Any]) -> ObjectDef:
    attributes = record.get("attributes")
    type_name = attributes.get("type") if isinstance(attributes, dict) else None
    if not type_name:
        raise ApiError(400, "INVALID_TYPE", "Must send a concrete entity type.")
    definition = api.org.object_def(str(type_name))
    if definition is None:
        raise ApiError(400, "INVALID_TYPE", f"sObject type '{type_name}' is not supported.")
    return definition


def _check_chunks(types: list[str]) -> None:
    """A request is processed in chunks, a new one wherever the type changes from one record
    to the next ({account1, account2, contact1, account3} is three), and takes at most ten.

    The REST page documents the limit, not the refusal's body: the code is the API's
    ``EXCEEDED_MAX_TYPES_LIMIT`` and the message the one Salesforce gives for the same limit
    on DML, so a client that interleaves objects fails here as it would on an org."""
    chunks = sum(1 for i, name in enumerate(types) if i == 0 or types[i - 1] != name)
    if chunks > MAX_CHUNKS:
        raise ApiError(
            400,
            "EXCEEDED_MAX_TYPES_LIMIT",
            f"Cannot have more than {MAX_CHUNKS} chunks in a single operation ({chunks} "
            "here). Please rearrange the data to reduce chunking.",
        )


def collection_write(
    api: SandboxApi, request: Request, operation: str, upsert_on: tuple[str, str] | None = None
) -> Response:
    """``POST``/``PATCH /composite/sobjects`` and ``PATCH /composite/sobjects/{Type}/{Field}``.

    One result per record, in order. Failures carry no id, as in the API. With allOrNone every
    change is rolled back when any record fails.
    """
    all_or_none, records = _collection_body(request)
    ctx = write_context(api, request)
    key_field: FieldDef | None = None
    upsert_type: ObjectDef | None = None
    if upsert_on:
        upsert_type = object_or_404(api, upsert_on[0])
        key_field = external_id_field(upsert_type, upsert_on[1])
    parsed = []
    for record in records:
        definition = _record_type(api, record)
        if upsert_type is not None and definition.name != upsert_type.name:
            raise ApiError(
                400, "INVALID_TYPE", f"Upsert of mixed types is not supported: {definition.name}"
            )
        parsed.append((definition, parse_body(definition, record)))
    _check_chunks([definition.name for definition, _ in parsed])
    results: list[dict[str, Any]] = []
    undo: list[tuple[str, str, Mapping[str, Any] | None]] = []
    failed = False
    with api.org.lock:
        for definition, values in parsed:
            try:
                result = _write_record(api, ctx, operation, definition, values, key_field, undo)
            except RecordFailure as failure:
                failed = True
                results.append({"success": False, "errors": [failure.as_error()]})
                continue
            results.append(result)
        if failed and all_or_none:
            for object_type, record_id, old in reversed(undo):
                api.org.restore(object_type, record_id, old)
            results = [
                r if not r["success"] else {"success": False, "errors": [ROLLED_BACK]}
                for r in results
            ]
    return Response.json(200, results)


def _write_record(
    api: SandboxApi,
    ctx: WriteContext,
    operation: str,
    definition: ObjectDef,
    values: dict[str, Any],
    key_field: FieldDef | None,
    undo: list[tuple[str, str, Mapping[str, Any] | None]],
) -> dict[str, Any]:
    if operation == "create":
        if values.get("Id"):
            raise RecordFailure("INVALID_FIELD", "cannot specify Id in an insert call", ["Id"])
        record_id = create(ctx, definition, values)
        undo.append((definition.name, record_id, None))
        return {"id": record_id, "success": True, "errors": []}
    if operation == "update":
        raw_id = values.get("Id")
        if not raw_id:
            raise RecordFailure("MISSING_ARGUMENT", "Id not specified in an update call", ["Id"])
        full = to18(str(raw_id))
        before = api.org.raw(definition.name, full) if full else None
        record_id = update(ctx, definition, str(raw_id), values)
        undo.append((definition.name, record_id, before))
        return {"id": record_id, "success": True, "errors": []}
    assert key_field is not None
    key = values.get(key_field.name)
    if key in (None, ""):
        raise RecordFailure("MISSING_ARGUMENT", f"{key_field.name} not specified", [key_field.name])
    existing = (
        to18(str(key))
        if key_field.name == "Id"
        else api.org.find_unique(definition.name, key_field.name, str(key))
    )
    before = api.org.raw(definition.name, existing) if existing else None
    record_id, created = upsert(
        ctx,
        definition,
        key_field,
        str(key),
        {k: v for k, v in values.items() if k != key_field.name},
    )
    undo.append((definition.name, record_id, None if created else before))
    return {"id": record_id, "success": True, "errors": [], "created": created}


def collection_delete(api: SandboxApi, request: Request) -> Response:
    """``DELETE /composite/sobjects?ids=...&allOrNone=``."""
    ids = [i for i in request.params.get("ids", "").split(",") if i]
    if not ids:
        raise ApiError(400, "MISSING_ARGUMENT", "ids parameter is required")
    if len(ids) > COLLECTION_LIMIT:
        raise ApiError(
            400,
            "EXCEEDED_ID_LIMIT",
            "record limit reached. cannot submit more than 200 records into this call",
        )
    all_or_none = request.params.get("allOrNone", "false").lower() == "true"
    ctx = write_context(api, request)
    results: list[dict[str, Any]] = []
    undo: list[tuple[str, str, Mapping[str, Any] | None]] = []
    with api.org.lock:
        for raw_id in ids:
            full = to18(raw_id)
            object_type = api.org.type_of_id(full) if full else None
            before = api.org.raw(object_type, full) if object_type and full else None
            try:
                record_id = delete(ctx, raw_id)
            except RecordFailure as failure:
                results.append({"success": False, "errors": [failure.as_error()]})
                continue
            assert object_type is not None
            undo.append((object_type, record_id, before))
            results.append({"id": record_id, "success": True, "errors": []})
        if all_or_none and any(not r["success"] for r in results):
            for object_type, record_id, old in reversed(undo):
                api.org.restore(object_type, record_id, old)
            results = [
                r if not r["success"] else {"success": False, "errors": [ROLLED_BACK]}
                for r in results
            ]
    return Response.json(200, results)


# --- limits -----------------------------------------------------------------------------------
def record_count(api: SandboxApi, request: Request) -> Response:
    """``GET /limits/recordCount?sObjects=A,B``: live records per object (all objects without
    the parameter); a name the org does not have is left out, as Salesforce does."""
    wanted = [n.strip() for n in request.params.get("sObjects", "").split(",") if n.strip()]
    found = [api.org.object_def(name) for name in wanted or sorted(api.org.schema)]
    counts = [{"count": api.org.count(d.name), "name": d.name} for d in found if d is not None]
    return Response.json(200, {"sObjects": counts})


def limits(api: SandboxApi) -> Response:
    """``GET /limits``."""
    used = api.usage()
    return Response.json(
        200,
        {
            "DailyApiRequests": {
                "Max": api.api_daily_limit,
                "Remaining": max(0, api.api_daily_limit - used),
            },
            "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000 - api.bulk.query_jobs()},
            "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000 - api.bulk.ingest_batches()},
            "DailyBulkV2QueryFileStorageMB": {"Max": 976562, "Remaining": 976562},
            "DataStorageMB": {"Max": 1024, "Remaining": 1000},
        },
    )
