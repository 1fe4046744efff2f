"""CRM v3 object endpoints: list, read, create, update, archive and the batch variants.

Faithful to HubSpot's documented behaviour: ``limit`` up to 100 on list, ``after`` cursors,
batches of at most 100 inputs, 201 for creates, 204 for archives, property validation that
refuses the whole call (400 ``VALIDATION_ERROR``), and 207 multi-status answers naming the
inputs that failed (unknown or archived ids, injected rejections) while the rest succeed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sandboxes.hubspot.http import ApiError, Request, Response, Router
from sandboxes.hubspot.limits import Faults
from sandboxes.hubspot.portal import OBJECT_TYPES, CrmObject, PortalState
from sandboxes.hubspot.schema import (
    ASSOCIATION_TYPES,
    DEFAULT_READ,
    ValueRejected,
    iso_instant,
)

BATCH_LIMIT = 100
LIST_LIMIT = 100
API_SOURCE = "INTEGRATION"

_SINGULAR = {"contacts": "contact", "tasks": "task", "meetings": "meeting", "calls": "call"}


def object_type_of(request: Request) -> str:
    """The ``{objectType}`` path segment, checked; HubSpot answers 400 for an unknown type."""
    object_type = request.params["objectType"]
    if object_type not in OBJECT_TYPES:
        raise ApiError.validation(f"Unable to infer object type from: {object_type}")
    return object_type


def validation_error(errors: list[ValueRejected], object_id: str | None = None) -> ApiError:
    """HubSpot's 400 for refused property values: a JSON list in the message plus ``errors``."""
    detail = [
        {
            "isValid": False,
            "message": str(e),
            "error": e.code,
            "name": e.name,
            "localizedErrorMessage": str(e),
        }
        for e in errors
    ]
    return ApiError.validation(
        f"Property values were not valid: {json.dumps(detail)}",
        errors=[
            {"message": str(e), "code": e.code, "context": {"propertyName": [e.name]}}
            for e in errors
        ],
        **({"context": {"ids": [object_id]}} if object_id else {}),
    )


def batch_error(category: str, message: str, ids: Iterable[str]) -> dict[str, Any]:
    """One entry of a 207 answer's ``errors`` (the client's ``StandardError``)."""
    return {
        "status": "error",
        "category": category,
        "message": message,
        "context": {"ids": list(ids)},
        "links": {},
        "errors": [],
    }


def batch_answer(
    results: list[dict[str, Any]], errors: list[dict[str, Any]], started: datetime, ok: int
) -> Response:
    """200/201 when every input succeeded, 207 with ``errors`` and ``numErrors`` otherwise."""
    body: dict[str, Any] = {
        "status": "COMPLETE",
        "results": results,
        "startedAt": iso_instant(started),
        "completedAt": iso_instant(datetime.now(started.tzinfo)),
    }
    if errors:
        body["numErrors"] = len(errors)
        body["errors"] = errors
        return Response(207, body)
    return Response(ok, body)


class CrmObjectsApi:
    """The object endpoints for every emulated object type (contacts, tasks, meetings, calls)."""

    def __init__(self, portal: PortalState, faults: Faults) -> None:
        self.portal = portal
        self.faults = faults

    def register(self, router: Router) -> None:
        base = "/crm/v3/objects/{objectType}"
        router.add("GET", base, self.list_objects)
        router.add("POST", base, self.create)
        router.add("POST", base + "/batch/read", self.batch_read)
        router.add("POST", base + "/batch/create", self.batch_create)
        router.add("POST", base + "/batch/update", self.batch_update)
        router.add("POST", base + "/batch/upsert", self.batch_upsert)
        router.add("POST", base + "/batch/archive", self.batch_archive)
        router.add("GET", base + "/{objectId}", self.read)
        router.add("PATCH", base + "/{objectId}", self.update)
        router.add("DELETE", base + "/{objectId}", self.archive)

    # -- helpers --------------------------------------------------------------------------------

    def read_names(self, object_type: str, requested: list[str]) -> list[str]:
        """Requested properties that exist (HubSpot ignores unknown names on reads)."""
        if not requested:
            return list(DEFAULT_READ[object_type])
        return [n for n in dict.fromkeys(requested) if self.portal.property(object_type, n)]

    def write_names(self, object_type: str, written: Iterable[str]) -> list[str]:
        """What a write answers with: the default read properties plus those written."""
        return list(dict.fromkeys([*DEFAULT_READ[object_type], *written]))

    def render(self, obj: CrmObject, names: list[str], associations: list[str]) -> dict[str, Any]:
        body = obj.to_json(names)
        linked: dict[str, Any] = {}
        for to_type in associations:
            if (obj.object_type, to_type) not in ASSOCIATION_TYPES:
                continue
            found = self.portal.associated(obj.object_type, obj.id, to_type)
            if found:
                label = f"{_SINGULAR[obj.object_type]}_to_{_SINGULAR[to_type]}"
                linked[to_type] = {"results": [{"id": str(i), "type": label} for i in found]}
        if linked:
            body["associations"] = linked
        return body

    def find(
        self, object_type: str, key: str, id_property: str | None, *, archived: bool = False
    ) -> CrmObject | None:
        if id_property and id_property != "hs_object_id":
            if id_property not in self.portal.unique_properties(object_type):
                raise ApiError.validation(
                    f"{id_property} is not a unique identifier property for {object_type}"
                )
            found = self.portal.find_unique(object_type, id_property, key)
            return None if archived else found
        return self.portal.get(object_type, key, archived=archived)

    def check_batch(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        inputs = body.get("inputs")
        if not isinstance(inputs, list) or not all(isinstance(i, dict) for i in inputs):
            raise ApiError.validation("Invalid input JSON: inputs must be a list of objects")
        if len(inputs) > BATCH_LIMIT:
            raise ApiError.validation(
                f"Batch input limit exceeded: {len(inputs)} inputs, at most {BATCH_LIMIT} allowed",
                context={"limit": [str(BATCH_LIMIT)], "inputs": [str(len(inputs))]},
            )
        return inputs

    def clean_values(
        self, object_type: str, values: Any, object_id: str | None = None
    ) -> dict[str, str]:
        if not isinstance(values, dict):
            raise ApiError.validation("Invalid input JSON: properties must be an object")
        clean, errors = self.portal.validate(object_type, values)
        if errors:
            raise validation_error(errors, object_id)
        return clean

    def check_unique(self, object_type: str, values: dict[str, str], own_id: int | None) -> None:
        for name in self.portal.unique_properties(object_type):
            value = values.get(name)
            if not value:
                continue
            holder = self.portal.find_unique(object_type, name, value)
            if holder is not None and holder.id != own_id:
                noun = _SINGULAR[object_type].capitalize()
                raise ApiError.conflict(f"{noun} already exists. Existing ID: {holder.id}")

    def parse_associations(self, object_type: str, raw: Any) -> list[tuple[str, int]]:
        """v4-style ``associations`` of a create input -> [(to type, to id)], all checked."""
        if raw is None:
            return []
        if not isinstance(raw, list):
            raise ApiError.validation("Invalid input JSON: associations must be a list")
        by_type_id = {v: k[1] for k, v in ASSOCIATION_TYPES.items() if k[0] == object_type}
        links: list[tuple[str, int]] = []
        for item in raw:
            target = (item.get("to") or {}).get("id") if isinstance(item, dict) else None
            types = item.get("types") if isinstance(item, dict) else None
            if target is None or not isinstance(types, list) or not types:
                raise ApiError.validation("Each association needs to.id and types")
            for spec in types:
                category = spec.get("associationCategory")
                to_type = by_type_id.get(spec.get("associationTypeId"))
                if category != "HUBSPOT_DEFINED" or to_type is None:
                    raise ApiError.validation(
                        f"{category} {spec.get('associationTypeId')} is not a valid association "
                        f"type from {object_type}",
                    )
                if self.portal.get(to_type, target) is None:
                    raise ApiError.validation(
                        f"One or more associations are invalid: {to_type} {target} does not exist",
                    )
                links.append((to_type, int(target)))
        return links

    def rejection_error(self, object_id: str) -> dict[str, Any] | None:
        spec = self.faults.rejection(object_id)
        if spec is None:
            return None
        return batch_error(
            spec.get("category", "VALIDATION_ERROR"),
            spec.get("message", "Property values were not valid"),
            [object_id],
        )

    # -- single-object endpoints ----------------------------------------------------------------

    def list_objects(self, request: Request) -> Response:
        object_type = object_type_of(request)
        limit = request.int_arg("limit", 10, low=1, high=LIST_LIMIT)
        archived = request.bool_arg("archived")
        after = request.int_arg("after", 0)
        names = self.read_names(object_type, request.args("properties"))
        associations = request.args("associations")
        with self.portal.lock:
            pool = sorted(
                (o for o in self.portal.objects[object_type].values() if o.archived == archived),
                key=lambda o: o.id,
            )
        page = [o for o in pool if o.id >= after][: limit + 1]
        body: dict[str, Any] = {
            "results": [self.render(o, names, associations) for o in page[:limit]]
        }
        if len(page) > limit:
            cursor = str(page[limit].id)
            body["paging"] = {
                "next": {
                    "after": cursor,
                    "link": f"{request.path}?limit={limit}&after={cursor}",
                }
            }
        return Response(200, body)

    def read(self, request: Request) -> Response:
        object_type = object_type_of(request)
        archived = request.bool_arg("archived")
        key = request.params["objectId"]
        obj = self.find(object_type, key, request.arg("idProperty"), archived=archived)
        if obj is None:
            raise ApiError.not_found()
        names = self.read_names(object_type, request.args("properties"))
        return Response(200, self.render(obj, names, request.args("associations")))

    def create(self, request: Request) -> Response:
        object_type = object_type_of(request)
        body = request.json_object()
        clean = self.clean_values(object_type, body.get("properties", {}))
        links = self.parse_associations(object_type, body.get("associations"))
        with self.portal.lock:
            self.check_unique(object_type, clean, None)
            obj = self.portal.insert(object_type, clean, source=API_SOURCE)
            for to_type, to_id in links:
                self.portal.associate(object_type, obj.id, to_type, to_id)
        return Response(201, obj.to_json(self.write_names(object_type, clean)))

    def update(self, request: Request) -> Response:
        object_type = object_type_of(request)
        key = request.params["objectId"]
        body = request.json_object()
        with self.portal.lock:
            obj = self.find(object_type, key, request.arg("idProperty"))
            if obj is None:
                raise ApiError.not_found()
            spec = self.faults.rejection(str(obj.id))
            if spec is not None:
                raise ApiError(
                    400,
                    spec.get("category", "VALIDATION_ERROR"),
                    spec.get("message", "Property values were not valid"),
                )
            clean = self.clean_values(object_type, body.get("properties", {}), str(obj.id))
            self.check_unique(object_type, clean, obj.id)
            self.portal.update(object_type, obj.id, clean, source=API_SOURCE)
        return Response(200, obj.to_json(self.write_names(object_type, clean)))

    def archive(self, request: Request) -> Response:
        object_type = object_type_of(request)
        with self.portal.lock:
            obj = self.portal.get(object_type, request.params["objectId"])
            # HubSpot answers 204 for an id that is already gone: archiving is idempotent.
            if obj is not None:
                self.portal.archive(object_type, obj.id, source=API_SOURCE)
        return Response(204)

    # -- batch endpoints ----------------------------------------------------------------------

    def batch_read(self, request: Request) -> Response:
        object_type = object_type_of(request)
        started = self.portal.now()
        body = request.json_object()
        inputs = self.check_batch(body)
        id_property = body.get("idProperty")
        names = self.read_names(object_type, list(body.get("properties") or []))
        results, missing = [], []
        for item in inputs:
            key = str(item.get("id", ""))
            obj = self.find(object_type, key, id_property)
            if obj is None:
                missing.append(key)
            else:
                results.append(obj.to_json(names))
        errors = []
        if missing:
            noun = object_type.upper().rstrip("S")
            errors.append(
                batch_error(
                    "OBJECT_NOT_FOUND",
                    f"Could not get some {noun} objects, they may be deleted or not exist. "
                    "Check that ids are valid.",
                    missing,
                )
            )
        return batch_answer(results, errors, started, 200)

    def batch_create(self, request: Request) -> Response:
        object_type = object_type_of(request)
        started = self.portal.now()
        inputs = self.check_batch(request.json_object())
        prepared = []
        for item in inputs:
            clean = self.clean_values(object_type, item.get("properties", {}))
            prepared.append((clean, self.parse_associations(object_type, item.get("associations"))))
        results = []
        with self.portal.lock:
            seen: dict[tuple[str, str], int] = {}
            for index, (clean, _) in enumerate(prepared):
                self.check_unique(object_type, clean, None)
                for name in self.portal.unique_properties(object_type):
                    if clean.get(name):
                        key = (name, clean[name].lower() if name == "email" else clean[name])
                        if key in seen:
                            raise ApiError.validation(
                                f"Duplicate {name} in inputs {seen[key]} and {index}"
                            )
                        seen[key] = index
            for clean, links in prepared:
                obj = self.portal.insert(object_type, clean, source=API_SOURCE)
                for to_type, to_id in links:
                    self.portal.associate(object_type, obj.id, to_type, to_id)
                results.append(obj.to_json(self.write_names(object_type, clean)))
        return batch_answer(results, [], started, 201)

    def batch_update(self, request: Request) -> Response:
        object_type = object_type_of(request)
        started = self.portal.now()
        inputs = self.check_batch(request.json_object())
        keys = [str(i.get("id", "")) for i in inputs]
        duplicates = sorted({k for k in keys if keys.count(k) > 1})
        if duplicates:
            raise ApiError.validation(f"Duplicate IDs found in batch input: {duplicates}")
        results, errors, missing = [], [], []
        with self.portal.lock:
            targets = []
            for item, key in zip(inputs, keys, strict=True):
                obj = self.find(object_type, key, item.get("idProperty"))
                if obj is None:
                    missing.append(key)
                    continue
                clean = self.clean_values(object_type, item.get("properties", {}), str(obj.id))
                self.check_unique(object_type, clean, obj.id)
                targets.append((obj, clean))
            for obj, clean in targets:
                rejected = self.rejection_error(str(obj.id))
                if rejected is not None:
                    errors.append(rejected)
                    continue
                self.portal.update(object_type, obj.id, clean, source=API_SOURCE)
                results.append(obj.to_json(self.write_names(object_type, clean)))
        if missing:
            errors.append(
                batch_error(
                    "OBJECT_NOT_FOUND",
                    f"Could not update some {object_type}, they may be deleted or not exist. "
                    "Check that ids are valid.",
                    missing,
                )
            )
        return batch_answer(results, errors, started, 200)

    def batch_upsert(self, request: Request) -> Response:
        object_type = object_type_of(request)
        started = self.portal.now()
        inputs = self.check_batch(request.json_object())
        unique = self.portal.unique_properties(object_type)
        planned = []
        seen: set[tuple[str, str]] = set()
        for item in inputs:
            id_property = item.get("idProperty")
            key = item.get("id")
            if id_property not in unique or not isinstance(key, str) or not key:
                raise ApiError.validation(
                    f"idProperty must name a unique value property of {object_type} "
                    f"({', '.join(unique)}) and id must be its value",
                )
            marker = (id_property, key.lower() if id_property == "email" else key)
            if marker in seen:
                raise ApiError.validation(f"Duplicate {id_property} in batch input: {key}")
            seen.add(marker)
            clean = self.clean_values(object_type, item.get("properties", {}))
            planned.append((id_property, key, clean))
        results, errors = [], []
        with self.portal.lock:
            for id_property, key, clean in planned:
                existing = self.portal.find_unique(object_type, id_property, key)
                if existing is not None:
                    rejected = self.rejection_error(str(existing.id))
                    if rejected is not None:
                        errors.append(rejected)
                        continue
                    self.check_unique(object_type, clean, existing.id)
                    obj = self.portal.update(object_type, existing.id, clean, source=API_SOURCE)
                    new = False
                else:
                    values = {**clean, id_property: key}
                    self.check_unique(object_type, values, None)
                    obj = self.portal.insert(object_type, values, source=API_SOURCE)
                    new = True
                body = obj.to_json(self.write_names(object_type, [*clean, id_property]))
                body["new"] = new
                results.append(body)
        return batch_answer(results, errors, started, 200)

    def batch_archive(self, request: Request) -> Response:
        object_type = object_type_of(request)
        inputs = self.check_batch(request.json_object())
        with self.portal.lock:
            for item in inputs:
                obj = self.portal.get(object_type, str(item.get("id", "")))
                if obj is not None:
                    self.portal.archive(object_type, obj.id, source=API_SOURCE)
        return Response(204)
