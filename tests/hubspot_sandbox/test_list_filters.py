"""The sandbox's list filters: HubSpot's filterBranch shape enforced, and evaluated."""

from __future__ import annotations

from typing import Any

import pytest

from sandboxes.hubspot.http import ApiError
from sandboxes.hubspot.list_filters import matches, normalise_branch

PROPERTIES: dict[str, dict[str, Any]] = {
    "tier": {"type": "enumeration", "options": [{"value": "a"}, {"value": "b"}]},
    "jobtitle": {"type": "string"},
    "score": {"type": "number"},
    "optout": {"type": "bool"},
}


def lookup(name: str) -> dict[str, Any] | None:
    return PROPERTIES.get(name)


def branch(*ands: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "filterBranchType": "OR",
        "filterBranches": [{"filterBranchType": "AND", "filters": f} for f in ands],
    }


def on(prop: str, kind: str, operator: str, **rest: Any) -> dict[str, Any]:
    operation = {"operationType": kind, "operator": operator, **rest}
    return {"filterType": "PROPERTY", "property": prop, "operation": operation}


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ({"filterBranchType": "AND", "filterBranches": []}, "OR filter branch at its root"),
        (branch([on("nope", "ALL_PROPERTY", "IS_KNOWN")]), "'nope' does not exist"),
        (branch([on("score", "ENUMERATION", "IS_ANY_OF", values=["a"])]), "cannot be used"),
        (branch([on("tier", "ENUMERATION", "IS_ANY_OF", values=["c"])]), "c not valid option"),
        (branch([on("tier", "ENUMERATION", "IS_GREATER_THAN", values=["a"])]), "operator"),
        (branch([on("score", "NUMBER", "IS_LESS_THAN", value="many")]), "not a number"),
    ],
)
def test_a_malformed_branch_is_refused_400_naming_the_fault(raw: Any, says: str) -> None:
    with pytest.raises(ApiError) as refused:
        normalise_branch(raw, lookup)
    assert refused.value.status == 400 and says in refused.value.message


def test_members_pass_every_filter_of_one_and_branch() -> None:
    stored = normalise_branch(
        branch(
            [
                on("tier", "ENUMERATION", "IS_ANY_OF", values=["a"]),
                on("score", "NUMBER", "IS_GREATER_THAN_OR_EQUAL_TO", value=10),
            ],
            [on("jobtitle", "MULTISTRING", "CONTAINS", values=["chief", "head"])],
            [on("optout", "BOOL", "IS_EQUAL_TO", value=True)],
        ),
        lookup,
    )
    assert matches(stored, {"tier": "a", "score": "10"})
    assert not matches(stored, {"tier": "a", "score": "9.5"})
    assert not matches(stored, {"tier": "b", "score": "50"})
    assert not matches(stored, {"tier": "a"})  # no score: no value set fails the filter
    assert matches(stored, {"jobtitle": "Head of Growth"})
    assert matches(stored, {"optout": "true"})
    assert not matches(stored, {"optout": "false", "jobtitle": "Engineer"})


def test_unknown_and_negative_operators() -> None:
    unknown = normalise_branch(branch([on("jobtitle", "ALL_PROPERTY", "IS_UNKNOWN")]), lookup)
    assert matches(unknown, {}) and not matches(unknown, {"jobtitle": "CEO"})
    none_of = normalise_branch(
        branch([on("tier", "ENUMERATION", "IS_NONE_OF", values=["a"])]), lookup
    )
    assert matches(none_of, {"tier": "b"}) and not matches(none_of, {"tier": "a"})
    assert not matches(none_of, {})  # HubSpot leaves records without a value out by default
