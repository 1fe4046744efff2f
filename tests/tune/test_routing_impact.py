"""Hand-offs per rep: history's hand-offs replayed through the product's own routing.

Cases are generated: entry times, countries and pool shapes come from hypothesis, and each
property is one the routing rules promise (every hand-off lands once, equal weights share
evenly, a cap holds per business day, an unmatched lead goes to the fallback)."""

from __future__ import annotations

import tomllib
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from leadsync.config import settings_from_dict
from leadsync.handoff import PersonFacts, person_facts
from leadsync.report.dataset import Lead, text_values
from leadsync.store import Store
from leadsync.store.history import histories
from leadsync.tune.impact import impact
from leadsync.tune.routing_impact import (
    UNROUTED,
    Router,
    facts_by_person,
    replay,
    top_owners,
)
from tests.handoff.factories import handoff_settings, user

START = datetime(2025, 1, 1, tzinfo=UTC)
COUNTRIES = ("United Kingdom", "France", "Germany", "Japan")
EXAMPLE = settings_from_dict(
    tomllib.loads((Path(__file__).resolve().parents[2] / "config.example.toml").read_text()),
    "config.example.toml",
)
SPEC = EXAMPLE.model_spec()
assert SPEC.team("good", "sales_ready") == "sales" and SPEC.team("poor", "unready") != "sales"

#: Entry times over about four months, to the minute (ties included).
moments = st.integers(min_value=0, max_value=120 * 24 * 60).map(
    lambda m: START + timedelta(minutes=m)
)
handoffs = st.lists(
    st.tuples(moments, st.sampled_from(COUNTRIES).map(lambda c: PersonFacts(country=c))),
    max_size=120,
)


def placed(n: int, at: datetime, cell: str, country: str | None = None) -> Lead:
    """A lead entered at ``at`` in back-test ``cell``."""
    values = text_values({"country": country} if country else {})
    return Lead(
        key=str(n), entered_at=at, converted=None, converted_at=None, source=None,
        campaign=None, boxes=(), exposure=(), fired=(), cell=cell, values=values,
    )  # fmt: skip


def router(**values: Any) -> Router:
    return Router.of(handoff_settings(**values))


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(moments, st.sampled_from(COUNTRIES), st.booleans(), st.booleans()),
        max_size=80,
    ),
    st.integers(min_value=1, max_value=3),
)
def test_every_hand_off_of_a_month_lands_with_one_owner(
    rows: list[tuple[datetime, str, bool, bool]], cap: int
) -> None:
    """Per month and config, the owners' hand-offs add up to the month's hand-off count,
    whatever the caps leave to the fallback."""

    def leads(sales: list[bool]) -> list[Lead]:
        return [
            placed(n, at, "good/sales_ready" if is_sales else "poor/unready", country)
            for n, ((at, country, _, _), is_sales) in enumerate(zip(rows, sales, strict=True))
        ]

    routing = router(
        fallback_owner="00G-queue",
        pools=[{"name": "UK", "match": {"countries": ["UK"]}, "members": ["a", "b"],
                "daily_cap": cap}],
    )  # fmt: skip
    before = leads([r[2] for r in rows])
    after = leads([r[3] for r in rows])
    found = impact(before, after, SPEC, SPEC, routing, months=12)
    for month in found.months:
        assert sum(a for a, _ in month.owners.values()) == month.handoffs[0]
        assert sum(b for _, b in month.owners.values()) == month.handoffs[1]
    shown = {m.month for m in found.months}
    assert sum(m.handoffs[0] for m in found.months) == sum(
        1 for r in rows if r[2] and f"{r[0]:%Y-%m}" in shown
    )
    assert found.to_dict()["routing"]["fallback_owner"] == "00G-queue"


@settings(max_examples=40, deadline=None)
@given(handoffs, st.integers(min_value=1, max_value=5))
def test_equal_weights_without_caps_share_within_one_per_month(
    cases: list[tuple[datetime, PersonFacts]], size: int
) -> None:
    members = [f"rep{i}" for i in range(size)]
    routing = router(pools=[{"name": "All", "members": members}], fallback_owner="queue")
    ordered = sorted(cases, key=lambda case: case[0])
    per_month: dict[str, Counter[str]] = defaultdict(Counter)
    for (at, _), owner in zip(ordered, replay(routing, ordered), strict=True):
        per_month[f"{at:%Y-%m}"][owner] += 1
    for counts in per_month.values():
        got = [counts[m] for m in members]
        assert max(got) - min(got) <= 1


@settings(max_examples=40, deadline=None)
@given(handoffs, st.integers(min_value=1, max_value=4), st.sampled_from(["UTC", "Asia/Tokyo"]))
def test_a_capped_rep_never_exceeds_the_cap_per_business_day(
    cases: list[tuple[datetime, PersonFacts]], cap: int, zone: str
) -> None:
    routing = router(
        fallback_owner="queue",
        pools=[{"name": "Europe", "match": {"countries": ["United Kingdom", "France"]},
                "members": ["a", "b"], "weights": [3, 1], "daily_cap": cap,
                "business_hours": {"time_zone": zone}}],
    )  # fmt: skip
    ordered = sorted(cases, key=lambda case: case[0])
    per_day: Counter[tuple[str, object]] = Counter()
    for (at, facts), owner in zip(ordered, replay(routing, ordered), strict=True):
        if facts.country in ("united kingdom", "france"):
            assert owner in ("a", "b", "queue")
        else:
            assert owner == "queue"  # no pool matches: the fallback takes it
        per_day[owner, at.astimezone(ZoneInfo(zone)).date()] += 1
    assert all(n <= cap for (owner, _), n in per_day.items() if owner != "queue")


def test_weights_inactive_reps_and_nobody_left() -> None:
    """2:1 weights give two for one; an inactive rep (per the CRM user list) gets nothing;
    with every member capped and no fallback the hand-off is unrouted."""
    day = [(START + timedelta(minutes=n), PersonFacts(country="united kingdom")) for n in range(9)]
    weighted = router(pools=[{"name": "UK", "members": ["a", "b"], "weights": [2, 1]}])
    assert Counter(replay(weighted, day)) == {"a": 6, "b": 3}
    listed = Router.of(
        handoff_settings(pools=[{"name": "UK", "members": ["a", "b", "c"]}]),
        [user("a"), user("b", active=False), user("c")],
    )
    assert Counter(replay(listed, day)) == {"a": 5, "c": 4}
    assert listed.name("a") == "User a" and "no CRM user list" not in listed.assumes
    capped = router(pools=[{"name": "UK", "members": ["a"], "daily_cap": 2}])
    assert replay(capped, day[:3]) == ["a", "a", UNROUTED]
    assert replay(capped, [*day[:2], (START + timedelta(days=1), day[0][1])]) == ["a"] * 3
    assert "no CRM user list" in capped.assumes and capped.name("a") == "a"


def test_top_owners_keep_the_fallback_and_the_unrouted_apart() -> None:
    routing = router(pools=[{"name": "All", "members": ["a", "b", "c"]}], fallback_owner="q")
    totals = {"a": 5, "b": 9, "c": 1, "q": 4, UNROUTED: 2}
    assert top_owners(totals, routing, 2) == (["b", "a", "q", UNROUTED], True)
    assert top_owners({"a": 1}, routing, 10) == (["a"], False)


def test_routing_facts_come_from_the_store_with_numbers(history_url: str) -> None:
    """The leads' text values drop numbers (employees); the replay reads the records."""
    store = Store(history_url)
    try:
        with store.reading() as conn:
            found = facts_by_person(histories(conn), None, None)
    finally:
        store.close()
    assert len(found) > 1000
    assert all(f.employees is not None and f.country for f in found.values())
    assert all(f.owner_id is None and f.email_domain is None for f in found.values())
    one = next(iter(found.values()))
    text = {"country": one.country, "industry": one.industry}
    assert replace(one, employees=None) == person_facts(text)


def test_the_screen_shows_ten_reps_then_others_the_fallback_and_the_assumptions() -> None:
    from leadsync.cli.output import console
    from leadsync.cli.tune_view import print_impact

    members = [f"rep{i:02}" for i in range(14)]
    routing = router(
        fallback_owner="queue",
        pools=[{"name": "UK", "match": {"countries": ["UK"]}, "members": members}],
    )
    uk, other = PersonFacts(country="united kingdom"), PersonFacts(country="japan")

    def leads(count: int) -> list[Lead]:
        return [placed(n, START + timedelta(hours=n), "good/sales_ready") for n in range(count)]

    facts = {str(n): other if n % 10 == 0 else uk for n in range(40)}
    found = impact(leads(40), leads(20), SPEC, SPEC, routing, facts)
    (month,) = found.months
    assert month.owners["queue"] == (4, 2) and month.handoffs == (40, 20)
    with console.capture() as captured:
        print_impact(found, console)
    text = captured.get()
    assert "others (4 reps)" in text and "queue (fallback)" in text and "36 -> 18" not in text
    assert "per rep: replayed through [handoff]" in text and "no CRM user list" in text
    assert found.to_dict()["months"][0]["owners"]["rep00"] == {"current": 3, "suggested": 2}
