"""Each operator, the readers behind it, and title derivation."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from leadsync.model import CriterionDef, Person, TitlePattern, build_spec, score
from leadsync.model.reading import MISSING, Unreadable, domain_of, read_number

NOW = datetime(2024, 1, 1, tzinfo=UTC)


def outcome(criterion: CriterionDef, attributes: dict[str, object], **person: object):
    spec = build_spec([criterion], good_fit_min=1)
    result = score(Person("p", attributes, **person), [], spec, NOW)  # type: ignore[arg-type]
    (only,) = result.criteria
    return only


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (1200, (1200, 1200)),
        ("1,200", (1200, 1200)),
        ("1 200", (1200, 1200)),
        ("1.200.000", (1_200_000, 1_200_000)),
        ("approx 500", (500, 500)),
        ("~ 1.5k", (1500, 1500)),
        ("$5M", (5e6, 5e6)),
        ("EUR 2,5 million", (2.5e6, 2.5e6)),
        ("201-500", (201, 500)),
        ("10,000+", (10_000, math.inf)),
        ("under 50", (-math.inf, 50)),
    ],
)
def test_read_number(raw: object, expected: tuple[float, float]) -> None:
    assert read_number(raw) == expected


@pytest.mark.parametrize(
    "raw", ["approx lots", "12 apples", True, float("nan"), {"n": 1}, "9" * 80]
)
def test_unreadable_numbers(raw: object) -> None:
    assert isinstance(read_number(raw), Unreadable)


@pytest.mark.parametrize("raw", [None, "", "   "])
def test_missing_numbers(raw: object) -> None:
    assert read_number(raw) is MISSING


def test_one_of_is_case_space_unicode_and_alias_insensitive() -> None:
    crit = CriterionDef("UK/FR", "country", "one_of", ("United Kingdom", "France"))
    for raw in ["  united   KINGDOM ", "UK", "u.k.", "GB", "U\u200bK", "ＵＫ", "france"]:
        assert outcome(crit, {"country": raw}).status == "checked", raw
    assert outcome(crit, {"country": "Germany"}).status == "missed"
    missing = outcome(crit, {})
    assert (missing.status, missing.reason) == ("missing", "missing: country")


def test_one_of_reads_multi_select_and_numbers() -> None:
    crit = CriterionDef("Plan", "plan_code", "one_of", ("42", "Gold"))
    assert outcome(crit, {"plan_code": 42}).status == "checked"
    assert outcome(crit, {"plan_code": "Silver;Gold"}).status == "checked"
    assert outcome(crit, {"plan_code": ["Bronze"]}).status == "missed"


def test_none_of_and_negate() -> None:
    none_of = CriterionDef("Not public", "ownership", "none_of", ("Public",))
    negated = CriterionDef("Not public", "ownership", "one_of", ("Public",), negate=True)
    for crit in (none_of, negated):
        assert outcome(crit, {"ownership": "Private"}).status == "checked"
        assert outcome(crit, {"ownership": "public"}).status == "missed"
        assert outcome(crit, {}).status == "missing"  # unknown is never a checked negative box


@pytest.mark.parametrize(
    ("crit", "value", "status"),
    [
        (CriterionDef("s", "employees", "below", maximum=1000), "999", "checked"),
        (CriterionDef("s", "employees", "below", maximum=1000), "1,000", "missed"),
        (CriterionDef("s", "employees", "below", maximum=1000), "201-500", "checked"),
        (CriterionDef("s", "employees", "below", maximum=1000), "500-5000", "unreadable"),
        (CriterionDef("s", "employees", "at_least", minimum=50), 50, "checked"),
        (CriterionDef("s", "employees", "at_least", minimum=50), "10,000+", "checked"),
        (CriterionDef("s", "employees", "at_least", minimum=50), 49.5, "missed"),
        (
            CriterionDef("s", "annual_revenue", "between", minimum=1e6, maximum=5e7),
            "$5M",
            "checked",
        ),
        (CriterionDef("s", "annual_revenue", "between", minimum=1e6, maximum=5e7), 5e7, "checked"),
        (CriterionDef("s", "annual_revenue", "between", minimum=1e6, maximum=5e7), "60M", "missed"),
    ],
)
def test_numeric_operators(crit: CriterionDef, value: object, status: str) -> None:
    assert outcome(crit, {crit.attribute: value}).status == status


def test_unreadable_number_names_the_value() -> None:
    crit = CriterionDef("Size", "employees", "below", maximum=1000)
    got = outcome(crit, {"employees": "approx lots"})
    assert (got.status, got.reason) == ("unreadable", "could not read employees: 'approx lots'")


def test_contains_and_matches() -> None:
    contains = CriterionDef("Ops", "title", "contains", ("operations", "plant"))
    assert outcome(contains, {"title": "Head of OPERATIONS"}).status == "checked"
    assert outcome(contains, {"title": "CFO"}).status == "missed"
    matches = CriterionDef("Buyer", "title", "matches", pattern=r"\b(vp|head) of (it|ops)\b")
    assert outcome(matches, {"title": "VP of IT"}).status == "checked"
    assert outcome(matches, {"title": "VP of Sales"}).status == "missed"


def test_in_list_by_company_name_email_and_website() -> None:
    crit = CriterionDef("Target", "company", "in_list", ("Acme Engineering", "globex.co.uk"))
    assert outcome(crit, {"company": "ACME Engineering Ltd."}).status == "checked"
    assert outcome(crit, {"company": "Other"}, email="jo@uk.globex.co.uk").status == "checked"
    assert outcome(crit, {"website": "https://www.globex.co.uk/about"}).status == "checked"
    assert outcome(crit, {"company": "Initech"}, email="x@initech.com").status == "missed"
    assert outcome(crit, {}).status == "missing"


def test_is_set_and_is_not_set() -> None:
    is_set = CriterionDef("Has phone", "phone", "is_set")
    is_not = CriterionDef("No partner", "partner", "is_not_set")
    assert outcome(is_set, {"phone": "+44 20"}).status == "checked"
    assert outcome(is_set, {"phone": "  "}).status == "missed"
    assert outcome(is_not, {}).status == "checked"
    assert outcome(is_not, {"partner": "X"}).status == "missed"


def test_b2c_profile_over_custom_fields() -> None:
    spec = build_spec(
        [
            CriterionDef("Age band", "age_band", "one_of", ("25-34", "35-44"), required=True),
            CriterionDef("Income", "household_income", "at_least", minimum=60_000),
            CriterionDef("Life phase", "life_phase", "one_of", ("Young family",)),
        ],
        good_fit_min=2,
    )
    good = score(Person("c", {"age_band": "25-34", "household_income": "75k"}), [], spec, NOW)
    poor = score(
        Person("d", {"household_income": "75k", "life_phase": "young family"}), [], spec, NOW
    )
    assert good.fit == "good"
    assert poor.fit == "poor"  # the required age band is missing


@pytest.mark.parametrize(
    ("title", "seniority", "department"),
    [
        ("Chief Executive Officer", "C-Suite", "Executive"),
        ("SVP, Global Sales", "VP", "Sales"),
        ("Vice President of Marketing", "VP", "Marketing"),
        ("Director, Legal Affairs", "Director", "Legal"),
        ("IT Manager", "Manager", "IT"),
        ("Compliance Analyst", "Individual Contributor", "Compliance"),
        ("CFO", "C-Suite", "Finance"),
    ],
)
def test_default_title_derivation(title: str, seniority: str, department: str) -> None:
    spec = build_spec(
        [
            CriterionDef("Seniority", "seniority", "is_set"),
            CriterionDef("Department", "department", "is_set"),
        ]
    )
    result = score(Person("p", {"title": title}), [], spec, NOW)
    assert [c.reason for c in result.criteria] == ["seniority is set", "department is set"]
    assert spec.classify(title.casefold(), "seniority") == seniority
    assert spec.classify(title.casefold(), "department") == department


def test_custom_title_patterns_come_first() -> None:
    spec = build_spec(
        [CriterionDef("Dept", "department", "one_of", ("Plant",))],
        departments=[TitlePattern("Plant", r"\bplant\b")],
    )
    assert score(Person("p", {"title": "Plant Manager"}), [], spec, NOW).fit == "good"


def test_crm_department_wins_over_derived() -> None:
    spec = build_spec([CriterionDef("Dept", "department", "one_of", ("IT",))])
    result = score(Person("p", {"title": "IT Manager", "department": "Finance"}), [], spec, NOW)
    assert result.criteria[0].status == "missed"


def test_domain_of() -> None:
    assert domain_of("Jo@Sub.Example.COM") == "sub.example.com"
    assert domain_of("https://www.example.com:8443/x?y") == "example.com"
    assert domain_of("not a domain") is None


def test_hostile_attributes_never_raise() -> None:
    class Weird:
        def __repr__(self) -> str:
            raise RuntimeError("boom")

    spec = build_spec(
        [
            CriterionDef("Industry", "industry", "one_of", ("Manufacturing",)),
            CriterionDef("Size", "employees", "below", maximum=10),
            CriterionDef("Title", "title", "matches", pattern="vp"),
        ],
        good_fit_min=1,
    )
    for value in [Weird(), b"\xff", "\x00" * 10_000, ["a", None, 3], float("inf"), -1e308]:
        attrs = {"industry": value, "employees": value, "title": value}
        result = score(Person("p", attrs), [], spec, NOW)
        assert len(result.criteria) == 3 and result.explain()
    broken = score(Person("p", "not a mapping"), [], spec, NOW)  # type: ignore[arg-type]
    assert broken.fit == "poor" and "attributes are not readable" in broken.notes[0]


def test_criterion_values_and_patterns_read_like_the_persons_values() -> None:
    """A box written with an alias ("UK") or a pattern in capitals checks the same people as
    the canonical spelling: both sides are normalised alike."""
    written_as_alias = CriterionDef("UK", "country", "one_of", ("UK",))
    for raw in ("United Kingdom", "GB", "u.k."):
        assert outcome(written_as_alias, {"country": raw}).status == "checked", raw
    capitals = CriterionDef("Buyer", "title", "matches", pattern=r"\bVP of IT\b")
    assert outcome(capitals, {"title": "vp of it"}).status == "checked"


def test_target_accounts_are_judged_per_person_not_per_company_name() -> None:
    """Two people at "Initech": the one whose email is on a listed domain is a target, the
    other is not, however many people the same spec scored before."""
    spec = build_spec(
        [CriterionDef("Target", "company", "in_list", ("globex.co.uk",))], good_fit_min=1
    )
    people = [
        (Person(f"p{i}", {"company": "Initech"}, email=email), fit)
        for i in range(3)
        for email, fit in (("jo@uk.globex.co.uk", "good"), ("al@initech.com", "poor"))
    ]
    for person, fit in people:
        assert score(person, [], spec, NOW).fit == fit, person
