"""A negated box ("NOT ...") turns a readable outcome around, never a missing or unreadable one:
an enrichment gap never checks a box, whichever way the box is phrased (PRODUCT.md: "a
missing attribute leaves its box unchecked and is named in the reason")."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadsync.model import CriterionDef, Person, build_spec, score
from leadsync.model.reading import shown
from leadsync.model.values import CriterionOutcome

NOW = datetime(2024, 1, 1, tzinfo=UTC)

#: Every operator whose check reads a value, with values it checks and values it misses.
BOXES: list[tuple[CriterionDef, list[object], list[object]]] = [
    (
        CriterionDef("Ops", "title", "contains", ("operations", "plant")),
        ["Head of OPERATIONS", "Plant Manager", "VP, Operations; EMEA"],
        ["CFO", "Head of Sales"],
    ),
    (
        CriterionDef("Buyer", "title", "matches", pattern=r"\b(vp|head) of (it|ops)\b"),
        ["VP of IT", "head of ops"],
        ["VP of Sales", "CTO"],
    ),
    (
        CriterionDef("Small", "employees", "below", maximum=1000),
        [999, "201-500", "under 50"],
        [1000, "1,000", "10,000+"],
    ),
    (
        CriterionDef("Big", "employees", "at_least", minimum=50),
        [50, "10,000+", "1.5k"],
        [49, 49.5, "under 40"],
    ),
    (
        CriterionDef("Mid", "annual_revenue", "between", minimum=1e6, maximum=5e7),
        [1e6, "$5M", 5e7],
        [999_999, "60M"],
    ),
    (
        CriterionDef("Target", "company", "in_list", ("Acme Engineering", "globex.co.uk")),
        ["ACME Engineering Ltd.", "Acme Engineering"],
        ["Initech", "Globex"],
    ),
    (
        CriterionDef("UK", "country", "one_of", ("United Kingdom",)),
        ["UK", "united kingdom"],
        ["France"],
    ),
    (  # a country the alias table does not list is read as itself
        CriterionDef("IS", "country", "one_of", ("Iceland",)),
        ["ICELAND", "Spain;Iceland"],
        ["Spain"],
    ),
    (
        CriterionDef("Not public", "ownership", "none_of", ("Public",)),
        ["Private"],
        ["public"],
    ),
]
#: Ways a CRM leaves a value out (the key absent is ``MISSING_KEY``); an empty multi-select
#: too, where the operator reads text (a number never comes as a list).
MISSING_KEY = object()
ABSENT: list[object] = [MISSING_KEY, None, "", "   ", "\t\n"]
EMPTY_LISTS: list[object] = [[], [None, ""]]
NUMERIC = ("below", "at_least", "between")


def outcome(criterion: CriterionDef, value: object) -> CriterionOutcome:
    attributes = {} if value is MISSING_KEY else {criterion.attribute: value}
    spec = build_spec([criterion], good_fit_min=1)
    result = score(Person("p", attributes), [], spec, NOW)  # type: ignore[arg-type]
    (only,) = result.criteria
    return only


def negated(criterion: CriterionDef) -> CriterionDef:
    return dataclasses.replace(criterion, negate=not criterion.negate)


@pytest.mark.parametrize("box", [b[0] for b in BOXES], ids=lambda c: c.operator)
@pytest.mark.parametrize("negate", [False, True])
def test_a_missing_value_never_checks_a_box_either_way(box: CriterionDef, negate: bool) -> None:
    criterion = negated(box) if negate else box
    for value in ABSENT + ([] if box.operator in NUMERIC else EMPTY_LISTS):
        got = outcome(criterion, value)
        assert (got.status, got.reason) == ("missing", f"missing: {box.attribute}"), value
    # ... and a box nobody could check never makes a good fit, however it is phrased.
    spec = build_spec([dataclasses.replace(criterion, required=True)], good_fit_min=1)
    assert score(Person("p", {}), [], spec, NOW).fit == "poor"


@pytest.mark.parametrize("negate", [False, True])
def test_an_unreadable_number_stays_unreadable_either_way(negate: bool) -> None:
    for box, _, _ in BOXES:
        if box.operator not in NUMERIC:
            continue
        criterion = negated(box) if negate else box
        for value in ("approx lots", "12 apples", float("nan")):
            got = outcome(criterion, value)
            assert got.status == "unreadable", (box.operator, value)
            assert got.reason.startswith(f"could not read {box.attribute}: "), got.reason


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(BOXES), st.data())
def test_negating_turns_a_readable_outcome_around_and_names_the_value(
    case: tuple[CriterionDef, list[object], list[object]], data: st.DataObject
) -> None:
    box, checks, misses = case
    value, expected = data.draw(
        st.sampled_from([(v, "checked") for v in checks] + [(v, "missed") for v in misses])
    )
    plain, turned = outcome(box, value), outcome(negated(box), value)
    assert plain.status == expected
    assert turned.status == ("missed" if expected == "checked" else "checked")
    # The reason names what was seen (the raw value, or the number read from it).
    if box.operator not in NUMERIC:
        assert shown(value).casefold() in plain.reason.casefold(), plain.reason
    if box.operator != "in_list":  # that one names the name or domains it looked up
        assert box.attribute in plain.reason
    if box.operator in ("one_of", "none_of"):
        # Negated, these use their opposite check: "is none of", never "not (is one of)".
        assert not turned.reason.startswith("not (")
        assert shown(value).casefold() in turned.reason.casefold()
    else:
        assert turned.reason == f"not ({plain.reason})"


@pytest.mark.parametrize(
    ("box", "value", "status", "reason"),
    [
        (BOXES[2][0], "1,000", "missed", "employees 1,000 is not below 1,000"),
        (BOXES[2][0], "500-1000", "unreadable", "could not read employees: '500-1000' is partly "
         "below 1,000"),
        (BOXES[3][0], "10-50", "unreadable", "could not read employees: '10-50' is partly at "
         "least 50"),
        (BOXES[3][0], "10-49", "missed", "employees 10-49 is not at least 50"),
        (BOXES[3][0], "under 50", "unreadable", "could not read employees: 'under 50' is partly "
         "at least 50"),
        (BOXES[3][0], "50+", "checked", "employees 50+ is at least 50"),
        (BOXES[3][0], 49.5, "missed", "employees 49.50 is not at least 50"),
        (BOXES[4][0], "50M-60M", "unreadable", "could not read annual_revenue: '50M-60M' is "
         "partly between 1,000,000 and 50,000,000"),
        (BOXES[4][0], "1-1M", "unreadable", "could not read annual_revenue: '1-1M' is partly "
         "between 1,000,000 and 50,000,000"),
        (BOXES[4][0], "1M-50M", "checked", "annual_revenue 1,000,000-50,000,000 is between "
         "1,000,000 and 50,000,000"),
    ],
)  # fmt: skip
def test_a_range_touching_a_limit_is_read_to_the_edge(
    box: CriterionDef, value: object, status: str, reason: str
) -> None:
    """A range is checked only if all of it is in, missed only if none of it is; the limits
    are ``below`` exclusive, ``at_least`` and ``between`` inclusive (CriterionDef)."""
    got = outcome(box, value)
    assert (got.status, got.reason) == (status, reason)
