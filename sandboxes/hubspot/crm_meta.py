"""Properties and property groups, and owners (v3 lists are in ``lists``)."""

from __future__ import annotations

import re
from typing import Any

from sandboxes.hubspot.http import ApiError, Request, Response, Router
from sandboxes.hubspot.portal import OBJECT_TYPES, PortalState
from sandboxes.hubspot.schema import (
    FIELD_TYPES,
    Option,
    iso_instant,
)

OWNERS_LIMIT = 500
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


def _options(options: Any) -> list[dict[str, Any]]:
    """A request's options as stored, or a 400 when one lacks a label or a value."""
    if not isinstance(options, list):
        raise ApiError.validation("options must be a list")
    for option in options:
        if not isinstance(option, dict) or not option.get("label") or "value" not in option:
            raise ApiError.validation("Each option needs a label and a value")
    return [
        {
            **Option(str(o["value"]), o["label"]).to_json(o.get("displayOrder", i)),
            "hidden": bool(o.get("hidden", False)),
            "description": o.get("description", ""),
        }
        for i, o in enumerate(options)
    ]


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
        router.add("PATCH", props + "/groups/{groupName}", self.update_group)
        router.add("DELETE", props + "/groups/{groupName}", self.archive_group)
        router.add("GET", props + "/{propertyName}", self.read_property)
        router.add("PATCH", props + "/{propertyName}", self.update_property)
        router.add("DELETE", props + "/{propertyName}", self.archive_property)
        router.add("GET", "/crm/v3/owners", self.list_owners)
        router.add("GET", "/crm/v3/owners/{ownerId}", self.read_owner)

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
                "options": _options(options),
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

    def update_property(self, request: Request) -> Response:
        """``PATCH``: the fields sent replace the stored ones; ``options`` replaces every option
        (HubSpot's documented behaviour: send the whole list to add one)."""
        object_type = _object_type(request)
        body = request.json_object()
        name = request.params["propertyName"]
        with self.portal.lock:
            definition = self.portal.properties[object_type].get(name)
            if definition is None or definition["archived"]:
                raise ApiError.not_found(f"Unable to find property {name} on {object_type}")
            if definition["modificationMetadata"].get("readOnlyDefinition"):
                raise ApiError.validation(f"Property {name} is read-only and cannot be updated")
            kind = body.get("type", definition["type"])
            field_type = body.get("fieldType", definition["fieldType"])
            if kind not in FIELD_TYPES or field_type not in FIELD_TYPES[kind]:
                raise ApiError.validation(
                    f"fieldType {field_type!r} is not valid for type {kind!r}"
                )
            if "groupName" in body and body["groupName"] not in self.portal.groups[object_type]:
                raise ApiError.validation(f"Property group {body['groupName']} does not exist.")
            updated = dict(definition)
            for key in ("label", "description", "groupName", "displayOrder", "hidden", "formField"):
                if key in body:
                    updated[key] = body[key]
            updated["type"], updated["fieldType"] = kind, field_type
            if "options" in body:
                updated["options"] = _options(body["options"])
            if kind == "enumeration" and not updated.get("options"):
                raise ApiError.validation("Enumeration properties need at least one option")
            updated["updatedAt"] = iso_instant(self.portal.now())
            self.portal.add_property(object_type, updated)
        return Response(200, updated)

    def archive_property(self, request: Request) -> Response:
        """``DELETE``: archives the property (its values stay hidden with it); HubSpot's own
        properties cannot be archived."""
        object_type = _object_type(request)
        name = request.params["propertyName"]
        with self.portal.lock:
            definition = self.portal.properties[object_type].get(name)
            if definition is None or definition["archived"]:
                raise ApiError.not_found(f"Unable to find property {name} on {object_type}")
            if not definition["modificationMetadata"].get("archivable", True):
                raise ApiError.validation(f"Property {name} is not archivable")
            self.portal.add_property(
                object_type,
                {**definition, "archived": True, "archivedAt": iso_instant(self.portal.now())},
            )
        return Response(204)

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

    def update_group(self, request: Request) -> Response:
        object_type = _object_type(request)
        body = request.json_object()
        name = request.params["groupName"]
        with self.portal.lock:
            group = self.portal.groups[object_type].get(name)
            if group is None:
                raise ApiError.not_found(f"Property group {name} not found")
            changes: dict[str, Any] = {k: body[k] for k in ("label", "displayOrder") if k in body}
            updated = {**group, **changes}
            if not updated["label"]:
                raise ApiError.validation("Property group needs a label")
            self.portal.groups[object_type][name] = updated
        return Response(200, updated)

    def archive_group(self, request: Request) -> Response:
        """``DELETE``: a group still holding live properties is refused; archive or move
        them first."""
        object_type = _object_type(request)
        name = request.params["groupName"]
        with self.portal.lock:
            if name not in self.portal.groups[object_type]:
                raise ApiError.not_found(f"Property group {name} not found")
            held = sorted(
                p["name"]
                for p in self.portal.properties[object_type].values()
                if p["groupName"] == name and not p["archived"]
            )
            if held:
                raise ApiError.validation(
                    f"Property group {name} still holds properties ({', '.join(held)}); "
                    "archive them or move them to another group first"
                )
            del self.portal.groups[object_type][name]
        return Response(204)

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
