"""Invariants of the model, checked over generated people and activities."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from leadsync.model import ACTIVITY_KINDS, Activity, CriterionDef, Person, build_spec, score

NOW = datetime(2024, 6, 1, tzinfo=UTC)

SPEC = build_spec(
    [
        CriterionDef("Industry", "industry", "one_of", ("Manufacturing",), required=True),
        CriterionDef("Size", "employees", "below", maximum=1000),
        CriterionDef("Country", "country", "one_of", ("United Kingdom", "France")),
        CriterionDef("Private", "ownership", "none_of", ("Public",)),
        CriterionDef("Senior", "seniority", "one_of", ("VP", "C-Suite")),
    ],
    good_fit_min=3,
)

dirty = st.one_of(
    st.none(),
    st.text(max_size=30),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.sampled_from(["Manufacturing", "UK", "France", "1,200", "approx 500", "Public", "VP"]),
    st.lists(st.text(max_size=8), max_size=3),
)
people = st.builds(
    Person,
    key=st.just("p"),
    attributes=st.dictionaries(
        st.sampled_from(["industry", "employees", "country", "ownership", "title"]), dirty
    ),
    email=st.one_of(st.none(), st.emails(), st.text(max_size=20)),
    opted_out=st.booleans(),
)
ages = st.floats(min_value=-5, max_value=200, allow_nan=False)
names = st.one_of(st.none(), st.sampled_from(["Contact Us", "Demo", "Price sheet", "ebook"]))


@st.composite
def activities(draw: st.DrawFn, min_size: int = 0) -> list[Activity]:
    count = draw(st.integers(min_size, 12))
    return [
        Activity(
            f"a{i}",
            draw(st.sampled_from(ACTIVITY_KINDS)),
            NOW - timedelta(days=draw(ages)),
            name=draw(names),
            url=draw(st.one_of(st.none(), st.just("https://x.io/blog/p"))),
        )
        for i in range(count)
    ]


@settings(max_examples=150, deadline=None)
@given(people, activities())
def test_deterministic_and_always_explained(person: Person, acts: list[Activity]) -> None:
    first = score(person, acts, SPEC, NOW)
    assert score(person, list(acts), SPEC, NOW) == first
    assert first.explain() and first.outputs(NOW)["reason"]
    assert len(str(first.outputs(NOW)["reason"])) <= 255
    assert len(first.criteria) == len(SPEC.criteria)
    assert all(c.reason for c in first.criteria)


@settings(max_examples=150, deadline=None)
@given(people, activities(), st.sampled_from(["Contact Us", "Demo", "Price sheet", "ebook"]),
       ages)  # fmt: skip
def test_adding_positive_activity_never_lowers_score(
    person: Person, acts: list[Activity], name: str, age: float
) -> None:
    extra = Activity("extra", "form_submission", NOW - timedelta(days=age), name=name)
    before = score(person, acts, SPEC, NOW)
    after = score(person, [*acts, extra], SPEC, NOW)
    assert after.raw_score >= before.raw_score - 1e-9
    assert after.score >= before.score


@settings(max_examples=150, deadline=None)
@given(people, activities(), st.floats(min_value=0, max_value=400, allow_nan=False))
def test_decay_never_increases_a_score(person: Person, acts: list[Activity], later: float) -> None:
    result = score(person, acts, SPEC, NOW)
    for c in result.contributions:
        assert abs(c.points) <= abs(c.raw_points)
        assert c.points == 0 or (c.points > 0) == (c.raw_points > 0)
    positive = [a for a in acts if a.kind not in ("unsubscribe",)]
    now = score(person, positive, SPEC, NOW)
    future = score(person, positive, SPEC, NOW + timedelta(days=later))
    assert future.raw_score <= now.raw_score + 1e-9


@settings(max_examples=150, deadline=None)
@given(people, activities())
def test_unchecked_required_box_means_poor_fit(person: Person, acts: list[Activity]) -> None:
    result = score(person, acts, SPEC, NOW)
    if any(c.required and not c.checked for c in result.criteria):
        assert result.fit == "poor"
    if result.fit == "good":
        assert len(result.checked) >= SPEC.good_fit_min
