"""``POST /crm/v3/objects/{objectType}/search``: filterGroups, sorts, query, paging, the 10k cap.

Documented limits enforced here: at most 5 filter groups, 6 filters per group and 18 filters
in all; one sort; ``limit`` up to 200; and no paging past the 10,000th result (400).
Filter groups are OR'ed, filters inside a group AND'ed. Values compare by property type:
numbers numerically, dates and datetimes as epoch milliseconds, strings case-insensitively.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from sandboxes.hubspot.crm_objects import object_type_of
from sandboxes.hubspot.http import ApiError, Request, Response, Router
from sandboxes.hubspot.portal import CrmObject, PortalState
from sandboxes.hubspot.schema import DEFAULT_READ, comparable

MAX_GROUPS = 5
MAX_FILTERS_PER_GROUP = 6
MAX_FILTERS = 18
MAX_LIMIT = 200
MAX_RESULTS = 10_000

OPERATORS = frozenset(
    {
        "EQ",
        "NEQ",
        "LT",
        "LTE",
        "GT",
        "GTE",
        "BETWEEN",
        "IN",
        "NOT_IN",
        "HAS_PROPERTY",
        "NOT_HAS_PROPERTY",
        "CONTAINS_TOKEN",
        "NOT_CONTAINS_TOKEN",
    }
)

#: Properties the free-text ``query`` looks in, per object type.
QUERY_FIELDS = {
    "contacts": ("firstname", "lastname", "email", "phone", "company", "website"),
    "tasks": ("hs_task_subject", "hs_task_body"),
    "meetings": ("hs_meeting_title", "hs_meeting_body"),
    "calls": ("hs_call_title", "hs_call_body"),
}

Predicate = Callable[[CrmObject], bool]


def _tokens(text: str) -> list[str]:
    return [t for t in re.split(r"[^\w@.\-]+", text.lower()) if t]


def _token_match(value: str, pattern: str) -> bool:
    """CONTAINS_TOKEN: a whole token of the value equals the pattern; ``*`` is a wildcard."""
    regex = re.compile("^" + re.escape(pattern.lower()).replace(r"\*", ".*") + "$")
    candidates = [value.lower(), *_tokens(value)]
    return any(regex.match(c) for c in candidates)


class SearchApi:
    def __init__(self, portal: PortalState) -> None:
        self.portal = portal

    def register(self, router: Router) -> None:
        router.add("POST", "/crm/v3/objects/{objectType}/search", self.search)

    def search(self, request: Request) -> Response:
        object_type = object_type_of(request)
        body = request.json_object()
        limit = body.get("limit", 10)
        if not isinstance(limit, int) or not 0 < limit <= MAX_LIMIT:
            raise ApiError.validation(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
        after_raw = body.get("after", 0) or 0
        try:
            after = int(after_raw)
        except (TypeError, ValueError):
            raise ApiError.validation(
                f"after must be a numeric cursor, got {after_raw!r}"
            ) from None
        if after < 0:
            raise ApiError.validation("after must not be negative")
        if after + limit > MAX_RESULTS:
            raise ApiError.validation(
                f"Search results are limited to {MAX_RESULTS} total results: "
                f"after ({after}) + limit ({limit}) is more than {MAX_RESULTS}.",
            )
        predicate = self._predicate(object_type, body)
        key = self._sort_key(object_type, body.get("sorts") or [])
        with self.portal.lock:
            matched = [o for o in self.portal.live(object_type) if predicate(o)]
        matched.sort(key=lambda o: o.id)
        if key is not None:
            sort_key, descending = key
            present = [o for o in matched if o.properties.get(sort_key[0])]
            absent = [o for o in matched if not o.properties.get(sort_key[0])]
            present.sort(key=lambda o: sort_key[1](o.properties[sort_key[0]]), reverse=descending)
            matched = present + absent
        names = self._names(object_type, body.get("properties"))
        page = matched[after : after + limit]
        answer: dict[str, Any] = {
            "total": len(matched),
            "results": [o.to_json(names) for o in page],
        }
        next_after = after + limit
        if next_after < len(matched):
            answer["paging"] = {"next": {"after": str(next_after)}}
        return Response(200, answer)

    def _names(self, object_type: str, requested: Any) -> list[str]:
        if not requested:
            return list(DEFAULT_READ[object_type])
        if not isinstance(requested, list):
            raise ApiError.validation("properties must be a list of property names")
        return [n for n in dict.fromkeys(requested) if self.portal.property(object_type, n)]

    def _sort_key(
        self, object_type: str, sorts: Any
    ) -> tuple[tuple[str, Callable[[str], Any]], bool] | None:
        if not isinstance(sorts, list):
            raise ApiError.validation("sorts must be a list")
        if not sorts:
            return None
        if len(sorts) > 1:
            raise ApiError.validation("Only one sort is supported per search request")
        sort = sorts[0]
        if isinstance(sort, str):
            name, direction = sort.lstrip("-"), "DESCENDING" if sort.startswith("-") else "ASC"
        else:
            name, direction = sort.get("propertyName"), sort.get("direction", "ASCENDING")
        definition = self.portal.property(object_type, name) if isinstance(name, str) else None
        if definition is None:
            raise ApiError.validation(f"Sort property {name!r} does not exist on {object_type}")
        if direction not in ("ASCENDING", "DESCENDING", "ASC"):
            raise ApiError.validation(f"direction must be ASCENDING or DESCENDING, got {direction}")
        return (name, lambda v: comparable(definition, v)), direction == "DESCENDING"

    def _predicate(self, object_type: str, body: dict[str, Any]) -> Predicate:
        groups = body.get("filterGroups") or []
        if not isinstance(groups, list):
            raise ApiError.validation("filterGroups must be a list")
        if len(groups) > MAX_GROUPS:
            raise ApiError.validation(
                f"Too many filter groups: {len(groups)}, at most {MAX_GROUPS} are allowed"
            )
        total = 0
        compiled: list[list[Predicate]] = []
        for group in groups:
            filters = group.get("filters") if isinstance(group, dict) else None
            if not isinstance(filters, list):
                raise ApiError.validation("Each filter group needs a list of filters")
            if len(filters) > MAX_FILTERS_PER_GROUP:
                raise ApiError.validation(
                    f"Too many filters in a group: {len(filters)}, at most "
                    f"{MAX_FILTERS_PER_GROUP} are allowed"
                )
            total += len(filters)
            compiled.append([self._filter(object_type, f) for f in filters])
        if total > MAX_FILTERS:
            raise ApiError.validation(f"Too many filters: {total}, at most {MAX_FILTERS} allowed")
        query = body.get("query")
        text_match = self._query(object_type, query) if query else None

        def matches(obj: CrmObject) -> bool:
            if text_match is not None and not text_match(obj):
                return False
            if not compiled:
                return True
            return any(all(f(obj) for f in group) for group in compiled)

        return matches

    def _query(self, object_type: str, query: Any) -> Predicate:
        if not isinstance(query, str):
            raise ApiError.validation("query must be a string")
        words = _tokens(query)
        fields = QUERY_FIELDS[object_type]

        def matches(obj: CrmObject) -> bool:
            haystack = [t for f in fields for t in _tokens(obj.properties.get(f, ""))]
            return all(any(t.startswith(w) for t in haystack) for w in words)

        return matches

    def _filter(self, object_type: str, spec: Any) -> Predicate:
        if not isinstance(spec, dict):
            raise ApiError.validation("Each filter must be an object")
        name, operator = spec.get("propertyName"), spec.get("operator", "EQ")
        definition = self.portal.property(object_type, name) if isinstance(name, str) else None
        if definition is None or not isinstance(name, str):
            raise ApiError.validation(
                f"There was a problem with the request: property {name!r} does not exist "
                f"on {object_type}"
            )
        if operator not in OPERATORS:
            raise ApiError.validation(f"Unknown operator {operator!r}")

        def key(value: Any) -> Any:
            return comparable(
                definition, str(value).lower() if isinstance(value, bool) else str(value)
            )

        def stored(obj: CrmObject) -> str:
            return obj.properties.get(name, "")

        if operator == "HAS_PROPERTY":
            return lambda o: stored(o) != ""
        if operator == "NOT_HAS_PROPERTY":
            return lambda o: stored(o) == ""
        if operator in ("IN", "NOT_IN"):
            values = spec.get("values")
            if not isinstance(values, list) or not values:
                raise ApiError.validation(f"{operator} needs a non-empty values list")
            wanted = {key(v) for v in values}
            if operator == "IN":
                return lambda o: stored(o) != "" and key(stored(o)) in wanted
            return lambda o: stored(o) == "" or key(stored(o)) not in wanted
        if "value" not in spec:
            raise ApiError.validation(f"{operator} filter on {name} needs a value")
        value = spec["value"]
        if operator in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
            pattern = str(value)
            if operator == "CONTAINS_TOKEN":
                return lambda o: _token_match(stored(o), pattern)
            return lambda o: not _token_match(stored(o), pattern)
        target = key(value)
        if operator == "BETWEEN":
            if "highValue" not in spec:
                raise ApiError.validation(f"BETWEEN filter on {name} needs highValue")
            high = key(spec["highValue"])
            return lambda o: stored(o) != "" and target <= key(stored(o)) <= high
        comparisons: dict[str, Callable[[Any, Any], bool]] = {
            "EQ": lambda a, b: a == b,
            "NEQ": lambda a, b: a != b,
            "LT": lambda a, b: a < b,
            "LTE": lambda a, b: a <= b,
            "GT": lambda a, b: a > b,
            "GTE": lambda a, b: a >= b,
        }
        compare = comparisons[operator]

        def check(obj: CrmObject) -> bool:
            current = stored(obj)
            if current == "":
                return operator == "NEQ"
            try:
                return compare(key(current), target)
            except TypeError:
                return False

        return check
