"""The v3 Lists API (contact lists): definitions, filters and memberships.

* ``POST /crm/v3/lists`` creates a MANUAL, DYNAMIC or SNAPSHOT list of contacts
  (``objectTypeId`` ``0-1``); DYNAMIC and SNAPSHOT need a ``filterBranch``, MANUAL takes none.
  Names are unique per object type, case aside: a second one is refused 400 with HubSpot's
  ``subCategory`` ``ILS.DUPLICATE_LIST_NAMES``.
* ``GET /crm/v3/lists/{listId}`` and ``GET /crm/v3/lists/object-type-id/{id}/name/{name}``
  answer ``{"list": ...}``, the filter branch only with ``includeFilters=true``.
* ``PUT /crm/v3/lists/{listId}/update-list-filters`` replaces a DYNAMIC or SNAPSHOT list's
  filters (``{"updatedList": ...}``); ``DELETE /crm/v3/lists/{listId}`` deletes (204).
* Memberships: read (paged), and add/remove for MANUAL and SNAPSHOT lists; a DYNAMIC list's
  members are whoever its filters match, so changing them by hand is refused 400.
"""

from __future__ import annotations

from typing import Any

from sandboxes.hubspot.http import ApiError, Request, Response, Router
from sandboxes.hubspot.list_filters import matches, normalise_branch
from sandboxes.hubspot.portal import ObjectList, PortalState
from sandboxes.hubspot.schema import OBJECT_TYPE_IDS, iso_instant

#: Record ids one memberships add/remove request may carry.
MEMBERSHIP_LIMIT = 100_000
PROCESSING_TYPES = ("MANUAL", "DYNAMIC", "SNAPSHOT")
CONTACTS_TYPE_ID = OBJECT_TYPE_IDS["contacts"]


def _paged(items: list[Any], after: int, limit: int, path: str) -> dict[str, Any]:
    """A page of ``items`` with HubSpot's ``paging.next.after`` offset cursor."""
    body: dict[str, Any] = {"results": items[after : after + limit]}
    if after + limit < len(items):
        cursor = str(after + limit)
        body["paging"] = {"next": {"after": cursor, "link": f"{path}?after={cursor}"}}
    return body


class ListsApi:
    def __init__(self, portal: PortalState) -> None:
        self.portal = portal

    def register(self, router: Router) -> None:
        router.add("GET", "/crm/v3/lists", self.lists_by_id)
        router.add("POST", "/crm/v3/lists", self.create_list)
        router.add("POST", "/crm/v3/lists/search", self.search_lists)
        router.add(
            "GET", "/crm/v3/lists/object-type-id/{objectTypeId}/name/{listName}", self.by_name
        )
        router.add("GET", "/crm/v3/lists/{listId}", self.read_list)
        router.add("DELETE", "/crm/v3/lists/{listId}", self.delete_list)
        router.add("PUT", "/crm/v3/lists/{listId}/update-list-filters", self.update_filters)
        router.add("GET", "/crm/v3/lists/{listId}/memberships", self.list_memberships)
        router.add("PUT", "/crm/v3/lists/{listId}/memberships/add", self.add_memberships)
        router.add("PUT", "/crm/v3/lists/{listId}/memberships/remove", self.remove_memberships)

    # -- definitions ----------------------------------------------------------------------------

    def _find(self, list_id: str) -> ObjectList:
        found = self.portal.lists.get(list_id)
        if found is None:
            raise ApiError.not_found(f"List {list_id} does not exist")
        self._settle(found)
        return found

    def _settle(self, found: ObjectList) -> None:
        """A DYNAMIC list with filters holds exactly the live contacts they match: those who
        joined keep their join time, newcomers join now."""
        if found.processing_type != "DYNAMIC" or found.filter_branch is None:
            return
        now = self.portal.now()
        matched = [
            c.id for c in self.portal.live("contacts") if matches(found.filter_branch, c.properties)
        ]
        found.members = {i: found.members.get(i, now) for i in matched}

    def _branch(self, raw: Any) -> dict[str, Any]:
        return normalise_branch(raw, lambda name: self.portal.property("contacts", name))

    def _json(
        self, found: ObjectList, *, filters: bool = False, search: bool = False
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "listId": found.list_id,
            "listVersion": found.version,
            "name": found.name,
            "objectTypeId": CONTACTS_TYPE_ID,
            "processingType": found.processing_type,
            "processingStatus": "COMPLETE",
            "createdAt": iso_instant(found.created_at),
            "updatedAt": iso_instant(found.updated_at),
        }
        if found.filters_updated_at is not None:
            body["filtersUpdatedAt"] = iso_instant(found.filters_updated_at)
        if filters and found.filter_branch is not None:
            body["filterBranch"] = found.filter_branch
        if search:
            body["additionalProperties"] = {"hs_list_size": str(len(found.members))}
        else:
            body["size"] = len(found.members)
        return body

    def create_list(self, request: Request) -> Response:
        body = request.json_object()
        name = str(body.get("name") or "").strip()
        kind = body.get("processingType")
        if not name:
            raise ApiError.validation("A list needs a name")
        if body.get("objectTypeId") != CONTACTS_TYPE_ID:
            raise ApiError.validation(
                f"objectTypeId {body.get('objectTypeId')!r} is not supported by this sandbox; "
                f"use {CONTACTS_TYPE_ID} (contacts)"
            )
        if kind not in PROCESSING_TYPES:
            raise ApiError.validation(
                f"processingType must be one of {', '.join(PROCESSING_TYPES)}, got {kind!r}"
            )
        raw_branch = body.get("filterBranch")
        if kind == "MANUAL" and raw_branch is not None:
            raise ApiError.validation("MANUAL lists cannot have a filterBranch")
        if kind != "MANUAL" and raw_branch is None:
            raise ApiError.validation(f"{kind} lists need a filterBranch")
        with self.portal.lock:
            branch = self._branch(raw_branch) if raw_branch is not None else None
            self._unique_name(name)
            now = self.portal.now()
            list_id = str(max((int(i) for i in self.portal.lists if i.isdigit()), default=0) + 1)
            found = ObjectList(list_id, name, kind, now, now, filter_branch=branch)
            if branch is not None:
                found.filters_updated_at = now
                # A SNAPSHOT list takes its filters' matches once, then is kept by hand.
                found.members = {
                    c.id: now for c in self.portal.live("contacts") if matches(branch, c.properties)
                }
            self.portal.add_list(found)
            return Response(200, {"list": self._json(found, filters=True)})

    def _unique_name(self, name: str, *, besides: str | None = None) -> None:
        for other in self.portal.lists.values():
            if other.name.casefold() == name.casefold() and other.list_id != besides:
                raise ApiError.validation(
                    f"A list named '{other.name}' already exists (list {other.list_id}); "
                    "list names must be unique",
                    subCategory="ILS.DUPLICATE_LIST_NAMES",
                )

    def read_list(self, request: Request) -> Response:
        with self.portal.lock:
            found = self._find(request.params["listId"])
            return Response(
                200, {"list": self._json(found, filters=request.bool_arg("includeFilters"))}
            )

    def by_name(self, request: Request) -> Response:
        type_id, name = request.params["objectTypeId"], request.params["listName"]
        with self.portal.lock:
            for found in self.portal.lists.values():
                if type_id == CONTACTS_TYPE_ID and found.name.casefold() == name.casefold():
                    self._settle(found)
                    return Response(
                        200,
                        {"list": self._json(found, filters=request.bool_arg("includeFilters"))},
                    )
        raise ApiError.not_found(f"List with name {name} and objectTypeId {type_id} not found")

    def update_filters(self, request: Request) -> Response:
        body = request.json_object()
        with self.portal.lock:
            found = self._find(request.params["listId"])
            if found.processing_type == "MANUAL":
                raise ApiError.validation(
                    f"List {found.list_id} is a MANUAL list; only DYNAMIC and SNAPSHOT lists "
                    "have filters"
                )
            found.filter_branch = self._branch(body.get("filterBranch"))
            now = self.portal.now()
            found.version += 1
            found.updated_at = found.filters_updated_at = now
            self._settle(found)
            return Response(200, {"updatedList": self._json(found, filters=True)})

    def delete_list(self, request: Request) -> Response:
        with self.portal.lock:
            if self.portal.lists.pop(request.params["listId"], None) is None:
                raise ApiError.not_found(f"List {request.params['listId']} does not exist")
        return Response(204)

    def lists_by_id(self, request: Request) -> Response:
        with self.portal.lock:
            lists = [
                self._json(self._find(i), filters=request.bool_arg("includeFilters"))
                for i in request.args("listIds")
                if i in self.portal.lists
            ]
        return Response(200, {"lists": lists})

    def search_lists(self, request: Request) -> Response:
        body = request.json_object()
        query = str(body.get("query") or "").lower()
        offset = int(body.get("offset") or 0)
        count = int(body.get("count") or 20)
        with self.portal.lock:
            matched = [
                self._json(self._find(i), search=True)
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

    # -- memberships ----------------------------------------------------------------------------

    def list_memberships(self, request: Request) -> Response:
        limit = request.int_arg("limit", 100, low=1, high=250)
        after = request.int_arg("after", 0)
        with self.portal.lock:
            found = self._find(request.params["listId"])
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
            found = self._find(request.params["listId"])
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
