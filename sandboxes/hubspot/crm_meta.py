"""Properties and property groups, owners, and v3 lists with their memberships."""

from __future__ import annotations

import re
from typing import Any

from sandboxes.hubspot.http import ApiError, Request, Response, Router
from sandboxes.hubspot.portal import OBJECT_TYPES, PortalState
from sandboxes.hubspot.schema import (
    FIELD_TYPES,
    OBJECT_TYPE_IDS,
    Option,
    iso_instant,
)

OWNERS_LIMIT = 500
#: Record ids one memberships add/remove request may carry.
MEMBERSHIP_LIMIT = 100_000
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def _object_type(request: Request) -> str:
    object_type = request.params["objectType"]
    if object_type not in OBJECT_TYPES:
        raise ApiError.validation(f"Unable to infer object type from: {object_type}")
    return object_type


def _paged(items: list[Any], after: int, limit: int, path: str) -> dict[str, Any]:
    """A page of ``items`` with HubSpot's ``paging.next.after`` offset cursor."""
    body: dict[str, Any] = {"results": items[after : after + limit]}
    if after + limit < len(items):
        cursor = str(after + limit)
        body["paging"] = {"next": {"after": cursor, "link": f"{path}?after={cursor}"}}
    return body


class CrmMetaApi:
    def __init__(self, portal: PortalState) -> None:
        self.portal = portal

    def register(self, router: Router) -> None:
        props = "/crm/v3/properties/{objectType}"
        router.add("GET", props, self.list_properties)
        router.add("POST", props, self.create_property)
        router.add("GET", props + "/groups", self.list_groups)
        router.add("POST", props + "/groups", self.create_group)
        router.add("GET", props + "/groups/{groupName}", self.read_group)
        router.add("GET", props + "/{propertyName}", self.read_property)
        router.add("GET", "/crm/v3/owners", self.list_owners)
        router.add("GET", "/crm/v3/owners/{ownerId}", self.read_owner)
        router.add("GET", "/crm/v3/lists", self.lists_by_id)
        router.add("POST", "/crm/v3/lists/search", self.search_lists)
        router.add("GET", "/crm/v3/lists/{listId}", self.read_list)
        router.add("GET", "/crm/v3/lists/{listId}/memberships", self.list_memberships)
        router.add("PUT", "/crm/v3/lists/{listId}/memberships/add", self.add_memberships)
        router.add("PUT", "/crm/v3/lists/{listId}/memberships/remove", self.remove_memberships)

    # -- properties -----------------------------------------------------------------------------

    def list_properties(self, request: Request) -> Response:
        object_type = _object_type(request)
        archived = request.bool_arg("archived")
        with self.portal.lock:
            found = [
                self.portal.property(object_type, p["name"]) if not archived else p
                for p in self.portal.properties[object_type].values()
                if p["archived"] == archived
            ]
        return Response(200, {"results": found})

    def read_property(self, request: Request) -> Response:
        object_type = _object_type(request)
        found = self.portal.property(object_type, request.params["propertyName"])
        if found is None:
            raise ApiError.not_found(
                f"Unable to find property {request.params['propertyName']} on {object_type}"
            )
        return Response(200, found)

    def create_property(self, request: Request) -> Response:
        object_type = _object_type(request)
        body = request.json_object()
        missing = [
            k for k in ("name", "label", "type", "fieldType", "groupName") if not body.get(k)
        ]
        if missing:
            raise ApiError.validation(
                f"Property definition is missing required fields: {', '.join(missing)}"
            )
        name, kind, field_type = body["name"], body["type"], body["fieldType"]
        if not _NAME.match(name):
            raise ApiError.validation(
                f"Property name {name!r} must start with a letter and contain only lowercase "
                "letters, digits and underscores"
            )
        if kind not in FIELD_TYPES:
            raise ApiError.validation(f"type must be one of {sorted(FIELD_TYPES)}, got {kind!r}")
        if field_type not in FIELD_TYPES[kind]:
            raise ApiError.validation(
                f"fieldType {field_type!r} is not valid for type {kind!r}; use one of "
                f"{sorted(FIELD_TYPES[kind])}"
            )
        options = body.get("options") or []
        if kind == "enumeration" and not options:
            raise ApiError.validation("Enumeration properties need at least one option")
        if kind == "bool" and not options:
            options = [{"label": "Yes", "value": "true"}, {"label": "No", "value": "false"}]
        for option in options:
            if not isinstance(option, dict) or not option.get("label") or "value" not in option:
                raise ApiError.validation("Each option needs a label and a value")
        if body.get("hasUniqueValue") and kind not in ("string", "number"):
            raise ApiError.validation("Only string and number properties can have unique values")
        with self.portal.lock:
            if name in self.portal.properties[object_type]:
                raise ApiError(
                    409, "OBJECT_ALREADY_EXISTS", f"Property named '{name}' already exists."
                )
            if body["groupName"] not in self.portal.groups[object_type]:
                raise ApiError.validation(f"Property group {body['groupName']} does not exist.")
            now = iso_instant(self.portal.now())
            definition = {
                "name": name,
                "label": body["label"],
                "type": kind,
                "fieldType": field_type,
                "groupName": body["groupName"],
                "description": body.get("description", ""),
                "options": [
                    {
                        **Option(str(o["value"]), o["label"]).to_json(o.get("displayOrder", i)),
                        "hidden": bool(o.get("hidden", False)),
                        "description": o.get("description", ""),
                    }
                    for i, o in enumerate(options)
                ],
                "displayOrder": body.get("displayOrder", -1),
                "calculated": False,
                "externalOptions": False,
                "hasUniqueValue": bool(body.get("hasUniqueValue", False)),
                "hidden": bool(body.get("hidden", False)),
                "hubspotDefined": False,
                "formField": bool(body.get("formField", False)),
                "modificationMetadata": {
                    "archivable": True,
                    "readOnlyDefinition": False,
                    "readOnlyValue": False,
                },
                "createdAt": now,
                "updatedAt": now,
                "archived": False,
            }
            self.portal.add_property(object_type, definition)
        return Response(201, definition)

    def list_groups(self, request: Request) -> Response:
        object_type = _object_type(request)
        with self.portal.lock:
            return Response(200, {"results": list(self.portal.groups[object_type].values())})

    def read_group(self, request: Request) -> Response:
        object_type = _object_type(request)
        group = self.portal.groups[object_type].get(request.params["groupName"])
        if group is None:
            raise ApiError.not_found(f"Property group {request.params['groupName']} not found")
        return Response(200, group)

    def create_group(self, request: Request) -> Response:
        object_type = _object_type(request)
        body = request.json_object()
        name, label = body.get("name"), body.get("label")
        if not name or not label:
            raise ApiError.validation("Property group needs a name and a label")
        if not _NAME.match(name):
            raise ApiError.validation(f"Property group name {name!r} is not a valid internal name")
        with self.portal.lock:
            if name in self.portal.groups[object_type]:
                raise ApiError(
                    409, "OBJECT_ALREADY_EXISTS", f"Property group named '{name}' already exists."
                )
            group = {
                "name": name,
                "label": label,
                "displayOrder": body.get("displayOrder", -1),
                "archived": False,
            }
            self.portal.groups[object_type][name] = group
        return Response(201, group)

    # -- owners ---------------------------------------------------------------------------------

    def list_owners(self, request: Request) -> Response:
        limit = request.int_arg("limit", 100, low=1, high=OWNERS_LIMIT)
        after = request.int_arg("after", 0)
        archived = request.bool_arg("archived")
        email = request.arg("email")
        with self.portal.lock:
            owners = [
                o.to_json()
                for o in self.portal.owners.values()
                if o.archived == archived and (email is None or o.email.lower() == email.lower())
            ]
        return Response(200, _paged(owners, after, limit, request.path))

    def read_owner(self, request: Request) -> Response:
        key = request.params["ownerId"]
        by_user = request.arg("idProperty", "id") == "userId"
        archived = request.bool_arg("archived")
        with self.portal.lock:
            for owner in self.portal.owners.values():
                if (str(owner.user_id) if by_user else owner.id) == key and (
                    owner.archived == archived
                ):
                    return Response(200, owner.to_json())
        raise ApiError.not_found(f"Owner {key} not found")

    # -- lists ----------------------------------------------------------------------------------

    def _list_json(self, list_id: str, *, search: bool = False) -> dict[str, Any]:
        found = self.portal.lists.get(list_id)
        if found is None:
            raise ApiError.not_found(f"List {list_id} does not exist")
        body: dict[str, Any] = {
            "listId": found.list_id,
            "listVersion": found.version,
            "name": found.name,
            "objectTypeId": OBJECT_TYPE_IDS["contacts"],
            "processingType": found.processing_type,
            "processingStatus": "COMPLETE",
            "createdAt": iso_instant(found.created_at),
            "updatedAt": iso_instant(found.updated_at),
        }
        if search:
            body["additionalProperties"] = {"hs_list_size": str(len(found.members))}
        else:
            body["size"] = len(found.members)
        return body

    def read_list(self, request: Request) -> Response:
        with self.portal.lock:
            return Response(200, {"list": self._list_json(request.params["listId"])})

    def lists_by_id(self, request: Request) -> Response:
        with self.portal.lock:
            lists = [self._list_json(i) for i in request.args("listIds") if i in self.portal.lists]
        return Response(200, {"lists": lists})

    def search_lists(self, request: Request) -> Response:
        body = request.json_object()
        query = str(body.get("query") or "").lower()
        offset = int(body.get("offset") or 0)
        count = int(body.get("count") or 20)
        with self.portal.lock:
            matched = [
                self._list_json(i, search=True)
                for i, found in self.portal.lists.items()
                if query in found.name.lower()
            ]
        page = matched[offset : offset + count]
        return Response(
            200,
            {
                "lists": page,
                "total": len(matched),
                "offset": offset + len(page),
                "hasMore": offset + count < len(matched),
            },
        )

    def list_memberships(self, request: Request) -> Response:
        limit = request.int_arg("limit", 100, low=1, high=250)
        after = request.int_arg("after", 0)
        with self.portal.lock:
            found = self.portal.lists.get(request.params["listId"])
            if found is None:
                raise ApiError.not_found(f"List {request.params['listId']} does not exist")
            rows = [
                {"recordId": str(i), "membershipTimestamp": iso_instant(t)}
                for i, t in sorted(found.members.items())
            ]
        return Response(200, _paged(rows, after, limit, request.path))

    def _change_members(self, request: Request, *, add: bool) -> Response:
        ids = request.json()
        if not isinstance(ids, list) or not all(isinstance(i, str | int) for i in ids):
            raise ApiError.validation("Body must be a JSON list of record ids")
        if len(ids) > MEMBERSHIP_LIMIT:
            raise ApiError.validation(
                f"Too many record ids: {len(ids)}; at most {MEMBERSHIP_LIMIT} per request"
            )
        with self.portal.lock:
            found = self.portal.lists.get(request.params["listId"])
            if found is None:
                raise ApiError.not_found(f"List {request.params['listId']} does not exist")
            if found.processing_type == "DYNAMIC":
                raise ApiError.validation(
                    f"List {found.list_id} is an active (DYNAMIC) list; memberships of "
                    "MANUAL or SNAPSHOT lists only can be changed"
                )
            changed, missing = [], []
            now = self.portal.now()
            for raw in ids:
                key = str(raw)
                if self.portal.get("contacts", key) is None:
                    missing.append(key)
                elif add and int(key) not in found.members:
                    found.members[int(key)] = now
                    changed.append(key)
                elif not add and int(key) in found.members:
                    del found.members[int(key)]
                    changed.append(key)
            if changed:
                found.version += 1
                found.updated_at = now
        return Response(
            200,
            {
                "recordsIdsAdded": changed if add else [],
                "recordIdsRemoved": [] if add else changed,
                "recordIdsMissing": missing,
            },
        )

    def add_memberships(self, request: Request) -> Response:
        return self._change_members(request, add=True)

    def remove_memberships(self, request: Request) -> Response:
        return self._change_members(request, add=False)
