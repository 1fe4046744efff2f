"""v3 list filters: validating a ``filterBranch`` as HubSpot does, and evaluating it.

HubSpot's documented structure for a DYNAMIC (or SNAPSHOT) list: the root branch is an ``OR``
branch with no filters of its own, holding ``AND`` branches; a record is a member when it
passes every filter of at least one ``AND`` branch. The sandbox takes ``PROPERTY`` filters on
contact properties, with the operation types and operators below; anything else is refused
with a 400, as HubSpot refuses a malformed definition (never silently matched).

Membership of a DYNAMIC list is evaluated against the contacts' current values whenever the
list is read (HubSpot reprocesses in the background as records change; reading re-evaluates,
so a test sees the settled state at once).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from sandboxes.hubspot.http import ApiError

#: operationType -> property types it applies to (None: any type).
_OPERATION_TYPES: dict[str, frozenset[str] | None] = {
    "ENUMERATION": frozenset({"enumeration"}),
    "MULTISTRING": frozenset({"string", "phone_number"}),
    "STRING": frozenset({"string", "phone_number"}),
    "NUMBER": frozenset({"number"}),
    "BOOL": frozenset({"bool"}),
    "ALL_PROPERTY": None,
}
_ENUM_OPERATORS = {"IS_ANY_OF", "IS_NONE_OF", "IS_EXACTLY", "IS_NOT_EXACTLY"}
_STRING_OPERATORS = {
    "IS_EQUAL_TO", "IS_NOT_EQUAL_TO", "CONTAINS", "DOES_NOT_CONTAIN", "STARTS_WITH", "ENDS_WITH",
}  # fmt: skip
_NUMBER_OPERATORS = {
    "IS_EQUAL_TO", "IS_NOT_EQUAL_TO", "IS_GREATER_THAN", "IS_GREATER_THAN_OR_EQUAL_TO",
    "IS_LESS_THAN", "IS_LESS_THAN_OR_EQUAL_TO",
}  # fmt: skip
_OPERATORS: dict[str, set[str]] = {
    "ENUMERATION": _ENUM_OPERATORS,
    "MULTISTRING": _STRING_OPERATORS,
    "STRING": _STRING_OPERATORS,
    "NUMBER": _NUMBER_OPERATORS,
    "BOOL": {"IS_EQUAL_TO", "IS_NOT_EQUAL_TO"},
    "ALL_PROPERTY": {"IS_KNOWN", "IS_UNKNOWN"},
}

PropertyLookup = Callable[[str], dict[str, Any] | None]


def normalise_branch(branch: Any, lookup: PropertyLookup) -> dict[str, Any]:
    """The stored form of a request's ``filterBranch`` (as HubSpot echoes it: operators
    filled in, ``includeObjectsWithNoValueSet`` defaulted), or a 400 naming what is wrong."""
    if not isinstance(branch, dict) or branch.get("filterBranchType") != "OR":
        raise ApiError.validation(
            "filterBranch must be an OR filter branch at its root (filterBranchType 'OR')"
        )
    if branch.get("filters"):
        raise ApiError.validation("The root OR filter branch cannot have filters of its own")
    children = branch.get("filterBranches") or []
    if not isinstance(children, list):
        raise ApiError.validation("filterBranches must be a list")
    ands = []
    for child in children:
        if not isinstance(child, dict) or child.get("filterBranchType") != "AND":
            raise ApiError.validation("The root OR filter branch may only hold AND filter branches")
        if child.get("filterBranches"):
            raise ApiError.validation(
                "Nested filter branches under an AND branch are not supported by this sandbox"
            )
        filters = child.get("filters") or []
        if not isinstance(filters, list):
            raise ApiError.validation("filters must be a list")
        ands.append(
            {
                "filterBranchType": "AND",
                "filterBranchOperator": "AND",
                "filterBranches": [],
                "filters": [_normalise_filter(f, lookup) for f in filters],
            }
        )
    return {
        "filterBranchType": "OR",
        "filterBranchOperator": "OR",
        "filterBranches": ands,
        "filters": [],
    }


def _normalise_filter(raw: Any, lookup: PropertyLookup) -> dict[str, Any]:
    if not isinstance(raw, dict) or raw.get("filterType") != "PROPERTY":
        raise ApiError.validation(
            f"Unsupported filterType {raw.get('filterType') if isinstance(raw, dict) else raw!r}"
            "; this sandbox evaluates PROPERTY filters"
        )
    name = raw.get("property")
    definition = lookup(str(name)) if name else None
    if definition is None:
        raise ApiError.validation(f"Property {name!r} does not exist on object type 0-1")
    operation = raw.get("operation")
    if not isinstance(operation, dict):
        raise ApiError.validation(f"Filter on {name} needs an operation")
    kind = str(operation.get("operationType") or "")
    if kind not in _OPERATION_TYPES:
        raise ApiError.validation(
            f"operationType {kind!r} is not one of {sorted(_OPERATION_TYPES)}"
        )
    fits = _OPERATION_TYPES[kind]
    if fits is not None and definition["type"] not in fits:
        raise ApiError.validation(
            f"operationType {kind} cannot be used on property {name} of type {definition['type']!r}"
        )
    operator = str(operation.get("operator") or "")
    if operator not in _OPERATORS[kind]:
        raise ApiError.validation(
            f"operator {operator!r} is not valid for operationType {kind}; use one of "
            f"{sorted(_OPERATORS[kind])}"
        )
    clean: dict[str, Any] = {
        "operationType": kind,
        "operator": operator,
        "includeObjectsWithNoValueSet": bool(operation.get("includeObjectsWithNoValueSet")),
    }
    if kind in ("ENUMERATION", "MULTISTRING"):
        values = operation.get("values")
        if not isinstance(values, list) or not values:
            raise ApiError.validation(f"operationType {kind} on {name} needs a list of values")
        clean["values"] = [str(v) for v in values]
        if kind == "ENUMERATION":
            offered = {str(o.get("value")) for o in definition.get("options") or []}
            unknown = [v for v in clean["values"] if v not in offered]
            if unknown:
                raise ApiError.validation(
                    f"{', '.join(unknown)} not valid option(s) of property {name}"
                )
    elif kind in ("STRING", "NUMBER", "BOOL"):
        if "value" not in operation:
            raise ApiError.validation(f"operationType {kind} on {name} needs a value")
        value = operation["value"]
        if kind == "NUMBER" and _number(value) is None:
            raise ApiError.validation(f"{value!r} is not a number (filter on {name})")
        clean["value"] = value
    return {"filterType": "PROPERTY", "property": str(name), "operation": clean}


def matches(branch: Mapping[str, Any], values: Mapping[str, str]) -> bool:
    """Whether a record with property ``values`` is a member under a normalised ``branch``."""
    return any(
        all(_passes(f, values) for f in child["filters"]) for child in branch["filterBranches"]
    )


def _passes(spec: Mapping[str, Any], values: Mapping[str, str]) -> bool:
    operation = spec["operation"]
    kind, operator = operation["operationType"], operation["operator"]
    raw = values.get(spec["property"], "") or ""
    if kind == "ALL_PROPERTY":
        return (raw != "") == (operator == "IS_KNOWN")
    if raw == "":
        return bool(operation["includeObjectsWithNoValueSet"])
    if kind == "ENUMERATION":
        held = set(raw.split(";"))
        wanted = set(operation["values"])
        return {
            "IS_ANY_OF": bool(held & wanted),
            "IS_NONE_OF": not held & wanted,
            "IS_EXACTLY": held == wanted,
            "IS_NOT_EXACTLY": held != wanted,
        }[operator]
    if kind == "NUMBER":
        have, want = _number(raw), _number(operation["value"])
        if have is None or want is None:
            return False
        return {
            "IS_EQUAL_TO": have == want,
            "IS_NOT_EQUAL_TO": have != want,
            "IS_GREATER_THAN": have > want,
            "IS_GREATER_THAN_OR_EQUAL_TO": have >= want,
            "IS_LESS_THAN": have < want,
            "IS_LESS_THAN_OR_EQUAL_TO": have <= want,
        }[operator]
    if kind == "BOOL":
        same = raw.lower() == str(operation["value"]).lower()
        return same if operator == "IS_EQUAL_TO" else not same
    texts = operation["values"] if kind == "MULTISTRING" else [str(operation["value"])]
    text = raw.lower()
    hits = [
        {
            "IS_EQUAL_TO": text == t.lower(),
            "IS_NOT_EQUAL_TO": text != t.lower(),
            "CONTAINS": t.lower() in text,
            "DOES_NOT_CONTAIN": t.lower() not in text,
            "STARTS_WITH": text.startswith(t.lower()),
            "ENDS_WITH": text.endswith(t.lower()),
        }[operator]
        for t in texts
    ]
    # A negative operator must hold against every value, a positive one against any.
    return all(hits) if operator in ("IS_NOT_EQUAL_TO", "DOES_NOT_CONTAIN") else any(hits)


def _number(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
