"""CRM v4 associations: list an object's associations, associate one pair, and the batch calls.

Only HubSpot's unlabeled default (``HUBSPOT_DEFINED``) association types exist in the sandbox,
e.g. 204 task -> contact and 203 contact -> task; any other type id is refused with 400.
Batch calls answer 207 naming the inputs whose objects do not exist.
"""

from __future__ import annotations

from typing import Any

from sandboxes.hubspot.crm_objects import batch_answer, batch_error
from sandboxes.hubspot.http import ApiError, Request, Response, Router
from sandboxes.hubspot.portal import OBJECT_TYPES, PortalState
from sandboxes.hubspot.schema import ASSOCIATION_TYPES, OBJECT_TYPE_IDS

LIST_LIMIT = 500
#: v4 association batches take more inputs than object batches.
BATCH_LIMIT = 2_000
#: ...but a batch read takes at most 1,000 (HubSpot's limit since 10 February 2025).
READ_LIMIT = 1_000
#: Associations one batch read answers per object; more come with ``paging.next.after``, to be
#: sent back beside the id. HubSpot documents the paging, not the size; this is the v4 list's.
READ_PAGE = 500


def _type(request: Request, key: str) -> str:
    object_type = request.params[key]
    if object_type not in OBJECT_TYPES:
        raise ApiError.validation(f"Unable to infer object type from: {object_type}")
    return object_type


def _pair(request: Request) -> tuple[str, str]:
    from_key = "fromObjectType" if "fromObjectType" in request.params else "objectType"
    return _type(request, from_key), _type(request, "toObjectType")


def _spec(from_type: str, to_type: str) -> dict[str, Any]:
    return {
        "associationCategory": "HUBSPOT_DEFINED",
        "associationTypeId": _default(from_type, to_type),
    }


def _default(from_type: str, to_type: str) -> int:
    type_id = ASSOCIATION_TYPES.get((from_type, to_type))
    if type_id is None:
        raise ApiError.validation(f"No association type exists from {from_type} to {to_type}")
    return type_id


def _check_types(from_type: str, to_type: str, types: Any) -> None:
    if not isinstance(types, list) or not types:
        raise ApiError.validation("types must be a non-empty list of association types")
    allowed = _default(from_type, to_type)
    for spec in types:
        if not isinstance(spec, dict) or (
            spec.get("associationCategory"),
            spec.get("associationTypeId"),
        ) != ("HUBSPOT_DEFINED", allowed):
            raise ApiError.validation(
                f"{spec!r} is not a valid association type from {from_type} to {to_type}; "
                f"use HUBSPOT_DEFINED {allowed}"
            )


class AssociationsApi:
    def __init__(self, portal: PortalState) -> None:
        self.portal = portal

    def register(self, router: Router) -> None:
        objects = "/crm/v4/objects/{objectType}/{objectId}/associations"
        router.add("GET", objects + "/{toObjectType}", self.list_associations)
        router.add(
            "PUT",
            "/crm/v4/objects/{fromObjectType}/{fromObjectId}/associations/default/"
            "{toObjectType}/{toObjectId}",
            self.associate_default,
        )
        router.add("PUT", objects + "/{toObjectType}/{toObjectId}", self.associate)
        batch = "/crm/v4/associations/{fromObjectType}/{toObjectType}/batch"
        router.add("POST", batch + "/create", self.batch_create)
        router.add("POST", batch + "/associate/default", self.batch_default)
        router.add("POST", batch + "/read", self.batch_read)

    def _labels(self, from_type: str, from_id: int, to_type: str, to_id: int) -> dict[str, Any]:
        return {
            "fromObjectTypeId": OBJECT_TYPE_IDS[from_type],
            "fromObjectId": from_id,
            "toObjectTypeId": OBJECT_TYPE_IDS[to_type],
            "toObjectId": to_id,
            "labels": [],
        }

    def _existing(self, object_type: str, raw: Any) -> int | None:
        obj = self.portal.get(object_type, str(raw)) if raw is not None else None
        return obj.id if obj is not None else None

    def list_associations(self, request: Request) -> Response:
        from_type, to_type = _pair(request)
        limit = request.int_arg("limit", LIST_LIMIT, low=1, high=LIST_LIMIT)
        after = request.int_arg("after", 0)
        from_id = self._existing(from_type, request.params["objectId"])
        if from_id is None:
            raise ApiError.not_found(f"{from_type} {request.params['objectId']} not found")
        found = self.portal.associated(from_type, from_id, to_type)
        rows = [
            {
                "toObjectId": to_id,
                "associationTypes": [
                    {"category": "HUBSPOT_DEFINED", "typeId": t, "label": None}
                    for t in sorted(types)
                ],
            }
            for to_id, types in found.items()
        ]
        body: dict[str, Any] = {"results": rows[after : after + limit]}
        if after + limit < len(rows):
            body["paging"] = {"next": {"after": str(after + limit)}}
        return Response(200, body)

    def associate(self, request: Request) -> Response:
        from_type, to_type = _pair(request)
        _check_types(from_type, to_type, request.json())
        with self.portal.lock:
            from_id = self._existing(from_type, request.params["objectId"])
            to_id = self._existing(to_type, request.params["toObjectId"])
            if from_id is None or to_id is None:
                raise ApiError.not_found("One or both objects of the association do not exist")
            self.portal.associate(from_type, from_id, to_type, to_id)
        return Response(201, self._labels(from_type, from_id, to_type, to_id))

    def associate_default(self, request: Request) -> Response:
        from_type, to_type = _pair(request)
        started = self.portal.now()
        with self.portal.lock:
            from_id = self._existing(from_type, request.params["fromObjectId"])
            to_id = self._existing(to_type, request.params["toObjectId"])
            if from_id is None or to_id is None:
                raise ApiError.not_found("One or both objects of the association do not exist")
            self.portal.associate(from_type, from_id, to_type, to_id)
        result = {
            "from": {"id": str(from_id)},
            "to": {"id": str(to_id)},
            "associationSpec": _spec(from_type, to_type),
        }
        return batch_answer([result], [], started, 200)

    def _inputs(self, request: Request, limit: int = BATCH_LIMIT) -> list[dict[str, Any]]:
        inputs = request.json_object().get("inputs")
        if not isinstance(inputs, list) or not all(isinstance(i, dict) for i in inputs):
            raise ApiError.validation("Invalid input JSON: inputs must be a list of objects")
        if len(inputs) > limit:
            raise ApiError.validation(
                f"Batch input limit exceeded: {len(inputs)} inputs, at most {limit} allowed"
            )
        return inputs

    def _batch_associate(self, request: Request, *, labelled: bool) -> Response:
        from_type, to_type = _pair(request)
        started = self.portal.now()
        inputs = self._inputs(request)
        if labelled:
            for item in inputs:
                _check_types(from_type, to_type, item.get("types"))
        else:
            _default(from_type, to_type)
        results, missing = [], []
        with self.portal.lock:
            for item in inputs:
                raw_from = (item.get("from") or {}).get("id")
                raw_to = (item.get("to") or {}).get("id")
                from_id = self._existing(from_type, raw_from)
                to_id = self._existing(to_type, raw_to)
                if from_id is None or to_id is None:
                    missing.append(str(raw_from if from_id is None else raw_to))
                    continue
                self.portal.associate(from_type, from_id, to_type, to_id)
                if labelled:
                    results.append(self._labels(from_type, from_id, to_type, to_id))
                else:
                    results.append(
                        {
                            "from": {"id": str(from_id)},
                            "to": {"id": str(to_id)},
                            "associationSpec": _spec(from_type, to_type),
                        }
                    )
        errors = []
        if missing:
            errors.append(
                batch_error("OBJECT_NOT_FOUND", "One or more objects do not exist", missing)
            )
        return batch_answer(results, errors, started, 201 if labelled else 200)

    def batch_create(self, request: Request) -> Response:
        return self._batch_associate(request, labelled=True)

    def batch_default(self, request: Request) -> Response:
        return self._batch_associate(request, labelled=False)

    def batch_read(self, request: Request) -> Response:
        from_type, to_type = _pair(request)
        started = self.portal.now()
        results, missing = [], []
        for item in self._inputs(request, READ_LIMIT):
            from_id = self._existing(from_type, item.get("id"))
            if from_id is None:
                missing.append(str(item.get("id")))
                continue
            start = _after(item.get("after"))
            found = list(self.portal.associated(from_type, from_id, to_type).items())
            result: dict[str, Any] = {
                "from": {"id": str(from_id)},
                "to": [
                    {
                        "toObjectId": to_id,
                        "associationTypes": [
                            {"category": "HUBSPOT_DEFINED", "typeId": t, "label": None}
                            for t in sorted(types)
                        ],
                    }
                    for to_id, types in found[start : start + READ_PAGE]
                ],
            }
            if start + READ_PAGE < len(found):
                result["paging"] = {"next": {"after": str(start + READ_PAGE)}}
            results.append(result)
        errors = []
        if missing:
            errors.append(
                batch_error("OBJECT_NOT_FOUND", f"No {from_type} with these ids exist", missing)
            )
        return batch_answer(results, errors, started, 200)


def _after(raw: Any) -> int:
    """A batch read input's ``after``: a cursor this sandbox gave, else HubSpot's 400."""
    if raw is None:
        return 0
    text = str(raw)
    if not text.isdigit():
        raise ApiError.validation(f"Invalid after cursor: {text}")
    return int(text)
