"""Every routing rule, in order, with the "why" each decision carries."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from leadsync.handoff import (
    Candidates,
    PersonFacts,
    RoutingState,
    explain_routing,
    person_facts,
    route,
)
from leadsync.records import CrmUser
from tests.handoff.factories import NOW, handoff_settings, user

REPS = ("r1", "r2", "r3")


def _settings(**values: Any):  # type: ignore[no-untyped-def]
    base: dict[str, Any] = {
        "pools": [{"name": "All", "members": list(REPS)}],
        "fallback_owner": "q1",
    }
    base.update(values)
    return handoff_settings(**base)


def _candidates(*extra, account_owners=None, **kwargs):  # type: ignore[no-untyped-def]
    users = [user(r) for r in REPS] + [user("q1", queue=True), *extra]
    return Candidates.of(users, account_owners or {}, **kwargs)


def test_keeps_an_active_sales_owner() -> None:
    decision = route(PersonFacts(owner_id="r2"), _candidates(), _settings(), RoutingState(), NOW)
    assert (decision.owner_id, decision.rule) == ("r2", "keep_owner")
    assert "kept current owner User r2 (r2)" in decision.why
    assert decision.state_updates.cursors == {}  # keeping an owner uses no round-robin turn


@pytest.mark.parametrize(
    ("owner", "extra", "problem"),
    [
        ("x9", user("x9", active=False), "is inactive"),
        ("q1", None, "is a queue"),
        ("n1", user("n1"), "is the nurture owner"),
        ("m1", user("m1"), "is not a sales user"),
        ("gone", None, "is not a user of the CRM"),
    ],
)
def test_does_not_keep_an_owner_who_cannot_take_sales_leads(owner, extra, problem) -> None:  # type: ignore[no-untyped-def]
    extras = (extra,) if extra else ()
    decision = route(
        PersonFacts(owner_id=owner),
        _candidates(*extras),
        _settings(),
        RoutingState(),
        NOW,
        nurture_owner="n1",
    )
    assert decision.rule == "pool"
    assert decision.owner_id == "r1"
    assert any(problem in item for item in decision.passed_over)


def test_explicit_sales_users_decide_who_is_kept() -> None:
    candidates = _candidates(user("ae1"), sales_users={"ae1"})
    kept = route(PersonFacts(owner_id="ae1"), candidates, _settings(), RoutingState(), NOW)
    assert kept.rule == "keep_owner"
    moved = route(PersonFacts(owner_id="r1"), candidates, _settings(), RoutingState(), NOW)
    assert moved.rule == "pool"


def test_keep_owner_can_be_turned_off() -> None:
    decision = route(
        PersonFacts(owner_id="r3"),
        _candidates(),
        _settings(keep_active_owner=False),
        RoutingState(),
        NOW,
    )
    assert (decision.rule, decision.owner_id) == ("pool", "r1")


def test_account_match_routes_to_the_account_owner() -> None:
    facts = person_facts({}, email="Jane@Acme.io")
    candidates = _candidates(user("ae1"), account_owners={"acme.io": "ae1"})
    decision = route(facts, candidates, _settings(), RoutingState(), NOW)
    assert (decision.owner_id, decision.rule) == ("ae1", "account_match")
    assert "acme.io" in decision.why


def test_an_account_owner_counts_as_a_sales_user_for_keep_owner() -> None:
    candidates = _candidates(user("ae1"), account_owners={"other.io": "ae1"})
    decision = route(PersonFacts(owner_id="ae1"), candidates, _settings(), RoutingState(), NOW)
    assert decision.rule == "keep_owner"


@pytest.mark.parametrize(
    ("candidates", "settings", "why"),
    [
        (
            _candidates(user("ae1", active=False), account_owners={"acme.io": "ae1"}),
            _settings(),
            "is inactive",
        ),
        (
            _candidates(user("ae1"), account_owners={"acme.io": "ae1"}),
            _settings(match_accounts=False),
            None,
        ),
        (_candidates(), _settings(), "no account owned for acme.io"),
    ],
)
def test_account_match_falls_through(candidates, settings, why) -> None:  # type: ignore[no-untyped-def]
    facts = person_facts({}, email="jane@acme.io")
    decision = route(facts, candidates, settings, RoutingState(), NOW)
    assert decision.rule == "pool"
    if why:
        assert any(why in item for item in decision.passed_over)


def test_free_mail_domains_never_match_an_account() -> None:
    candidates = _candidates(
        user("ae1"), account_owners={"gmail.com": "ae1"}, ignored_domains={"gmail.com"}
    )
    decision = route(
        person_facts({}, email="x@gmail.com"), candidates, _settings(), RoutingState(), NOW
    )
    assert decision.rule == "pool"
    assert any("free mailbox" in item for item in decision.passed_over)


TERRITORY_POOLS = [
    {"name": "UK", "match": {"countries": ["United Kingdom"]}, "members": ["r1"]},
    {"name": "Texas", "match": {"states": ["TX", "Texas"]}, "members": ["r2"]},
    {"name": "EMEA", "match": {"regions": ["EMEA"]}, "members": ["r3"]},
    {"name": "SMB", "match": {"employees_max": 199}, "members": ["s1"]},
    {"name": "Enterprise", "match": {"employees_min": 5000}, "members": ["e1"]},
    {"name": "Health", "match": {"industries": ["Healthcare"]}, "members": ["h1"]},
]


@pytest.mark.parametrize(
    ("attributes", "pool"),
    [
        ({"country": "UK"}, "UK"),
        ({"country": "united kingdom"}, "UK"),
        ({"country": "United States", "state": "tx"}, "Texas"),
        ({"region": "emea"}, "EMEA"),
        ({"employees": "1-50"}, "SMB"),
        ({"employees": 150}, "SMB"),
        ({"employees": "10,000"}, "Enterprise"),
        ({"employees": "5000+"}, "Enterprise"),
        ({"industry": "Healthcare"}, "Health"),
        ({"country": "France", "employees": "200-499"}, None),
    ],
)
def test_territory_pools_by_each_dimension(attributes, pool) -> None:  # type: ignore[no-untyped-def]
    settings = handoff_settings(pools=TERRITORY_POOLS, fallback_owner="q1")
    candidates = _candidates(user("s1"), user("e1"), user("h1"))
    decision = route(person_facts(attributes), candidates, settings, RoutingState(), NOW)
    assert decision.pool == pool
    if pool is None:
        assert decision.rule == "fallback"
        assert any("employees 200-499 above 199" in item for item in decision.passed_over)
    else:
        assert decision.rule == "pool"
        assert decision.why.startswith(f"pool {pool} (")


def test_a_pool_with_several_keys_needs_every_key() -> None:
    settings = handoff_settings(
        pools=[
            {
                "name": "France SMB",
                "match": {"countries": ["France"], "employees_max": 499},
                "members": ["r1"],
            }
        ],
        fallback_owner="q1",
    )
    small = route(
        person_facts({"country": "FR", "employees": 30}),
        _candidates(),
        settings,
        RoutingState(),
        NOW,
    )
    assert small.pool == "France SMB"
    big = route(
        person_facts({"country": "FR", "employees": 900}),
        _candidates(),
        settings,
        RoutingState(),
        NOW,
    )
    assert big.rule == "fallback"
    unknown = route(person_facts({"country": "FR"}), _candidates(), settings, RoutingState(), NOW)
    assert any("no readable employees" in item for item in unknown.passed_over)


def _assign(
    settings, candidates, n: int, state: RoutingState | None = None, *, persist: bool = False
):  # type: ignore[no-untyped-def]
    state = state or RoutingState()
    owners = []
    for i in range(n):
        decision = route(PersonFacts(), candidates, settings, state, NOW + timedelta(seconds=i))
        owners.append(decision.owner_id)
        state = decision.state_updates
        if persist:  # what a restart does: the state goes through the store's JSON and back
            state = RoutingState.from_dict(json.loads(json.dumps(state.to_dict())))
    return owners, state


def test_round_robin_is_fair_over_a_thousand_assignments() -> None:
    owners, _ = _assign(_settings(), _candidates(), 1000)
    counts = Counter(owners)
    assert set(counts) == set(REPS)
    assert max(counts.values()) - min(counts.values()) <= 1
    assert owners[:6] == ["r1", "r2", "r3", "r1", "r2", "r3"]


@pytest.mark.parametrize("weights", [(2, 1, 1), (3, 1, 1), (1, 2, 5), (1.5, 1, 0.5)])
def test_weighted_round_robin_gives_each_rep_their_share(weights) -> None:  # type: ignore[no-untyped-def]
    settings = _settings(pools=[{"name": "All", "members": list(REPS), "weights": list(weights)}])
    owners, _ = _assign(settings, _candidates(), 1000)
    counts = Counter(owners)
    total = sum(weights)
    for rep, weight in zip(REPS, weights, strict=True):
        assert abs(counts[rep] - 1000 * weight / total) <= 1


def test_weighted_round_robin_is_smooth() -> None:
    settings = _settings(pools=[{"name": "All", "members": ["r1", "r2"], "weights": [2, 1]}])
    owners, _ = _assign(settings, _candidates(), 9)
    assert owners == ["r1", "r2", "r1"] * 3


def test_round_robin_is_fair_across_restarts() -> None:
    settings = _settings(pools=[{"name": "All", "members": list(REPS), "weights": [2, 1, 1]}])
    straight, _ = _assign(settings, _candidates(), 200)
    restarted, _ = _assign(settings, _candidates(), 200, persist=True)
    assert restarted == straight


def test_inactive_members_are_skipped_without_banking_turns() -> None:
    candidates = _candidates(user("r2", active=False))
    owners, _ = _assign(_settings(), candidates, 10)
    assert "r2" not in owners
    assert Counter(owners) == {"r1": 5, "r3": 5}
    decision = route(PersonFacts(), candidates, _settings(), RoutingState(), NOW)
    assert "skipped User r2 (r2) (inactive)" in decision.why


def test_members_at_their_daily_cap_are_skipped_until_tomorrow() -> None:
    settings = _settings(
        pools=[{"name": "All", "members": ["r1", "r2"], "weights": [3, 1], "daily_cap": 2}]
    )
    owners, state = _assign(settings, _candidates(), 4)
    assert Counter(owners) == {"r1": 2, "r2": 2}
    capped = route(PersonFacts(), _candidates(), settings, state, NOW)
    assert capped.rule == "fallback"
    assert any("at daily cap 2" in item for item in capped.passed_over)
    tomorrow = route(PersonFacts(), _candidates(), settings, state, NOW + timedelta(days=1))
    assert tomorrow.rule == "pool"
    assert tomorrow.state_updates.count("All", tomorrow.owner_id or "") == 1


def test_daily_caps_reset_at_midnight_in_the_business_time_zone() -> None:
    settings = _settings(
        pools=[{"name": "All", "members": ["r1"], "daily_cap": 1}],
        business_hours={"time_zone": "America/Los_Angeles"},
    )
    late_evening = NOW.replace(hour=6)  # 23:00 the day before in Los Angeles
    first = route(PersonFacts(), _candidates(), settings, RoutingState(), late_evening)
    assert first.owner_id == "r1"
    same_day = route(
        PersonFacts(), _candidates(), settings, first.state_updates, NOW.replace(hour=6, minute=59)
    )
    assert same_day.rule == "fallback"
    next_day = route(
        PersonFacts(), _candidates(), settings, first.state_updates, NOW.replace(hour=7, minute=1)
    )
    assert next_day.owner_id == "r1"


def test_a_full_pool_falls_through_to_the_next_matching_pool() -> None:
    settings = handoff_settings(
        pools=[
            {"name": "UK", "match": {"countries": ["UK"]}, "members": ["r1"]},
            {"name": "Europe", "match": {"countries": ["UK", "France"]}, "members": ["r2"]},
        ],
        fallback_owner="q1",
    )
    candidates = _candidates(user("r1", active=False))
    decision = route(person_facts({"country": "GB"}), candidates, settings, RoutingState(), NOW)
    assert (decision.pool, decision.owner_id) == ("Europe", "r2")
    assert any(item.startswith("pool UK") for item in decision.passed_over)


def test_fallback_queue_takes_what_no_pool_matches() -> None:
    settings = _settings(pools=[{"name": "UK", "match": {"countries": ["UK"]}, "members": ["r1"]}])
    decision = route(
        person_facts({"country": "Japan"}), _candidates(), settings, RoutingState(), NOW
    )
    assert (decision.owner_id, decision.rule) == ("q1", "fallback")
    assert decision.why == "fallback queue User q1 (q1)"
    assert "pool UK: country 'japan' not in ['UK']" in decision.explain()


def test_an_inactive_fallback_user_leaves_the_lead_unrouted() -> None:
    settings = handoff_settings(pools=[], fallback_owner="x1", enabled=True)
    decision = route(
        PersonFacts(), _candidates(user("x1", active=False)), settings, RoutingState(), NOW
    )
    assert decision.owner_id is None
    assert decision.rule == "unrouted"
    assert "fallback_owner" in decision.why


def test_exclude_skips_the_owner_being_rerouted_away_from() -> None:
    decision = route(
        PersonFacts(owner_id="r1"),
        _candidates(),
        _settings(),
        RoutingState(),
        NOW,
        exclude=("r1",),
    )
    assert decision.owner_id == "r2"
    assert any("re-routed away from" in item for item in decision.passed_over)


def test_decision_round_trips_for_the_store() -> None:
    decision = route(PersonFacts(), _candidates(), _settings(), RoutingState(), NOW)
    stored = decision.to_dict()
    assert stored["owner_id"] == "r1" and stored["rule"] == "pool" and stored["pool"] == "All"
    assert RoutingState.from_dict(decision.state_updates.to_dict()) == decision.state_updates
    assert explain_routing(json.loads(json.dumps(stored))) == decision.explain()
    assert decision.explain().splitlines()[0].startswith("Owner: pool All")


INTEGRATION = CrmUser(id="api", name="LeadSync API", email="api@example.com", integration=True)


@pytest.mark.parametrize("where", ["owner", "account", "pool"])
def test_leadsync_api_user_never_takes_or_keeps_a_lead(where: str) -> None:
    """Issue 21 #12: LeadSync's own API user owned contacts at the lead's company, so it
    counted as a sales user and was kept as the lead's owner."""
    pools = [{"name": "All", "members": ["api", *REPS]}] if where == "pool" else None
    settings = _settings(**({"pools": pools} if pools else {}))
    facts = PersonFacts(owner_id="api" if where == "owner" else None, email_domain="acme.com")
    owners = {"acme.com": "api"} if where in ("owner", "account") else {}
    decision = route(facts, _candidates(INTEGRATION, account_owners=owners), settings,
                     RoutingState(), NOW)  # fmt: skip
    assert decision.owner_id in REPS
    assert any("LeadSync's own API user" in item for item in decision.passed_over) or (
        "LeadSync's own API user" in decision.why
    )


@pytest.mark.parametrize("listed", ["bot", "BOT@example.com"])
def test_never_owners_by_id_or_email_are_passed_over(listed: str) -> None:
    facts = PersonFacts(owner_id="bot", email_domain="acme.com")
    candidates = _candidates(user("bot"), account_owners={"acme.com": "bot"}, never=[listed])
    decision = route(facts, candidates, _settings(), RoutingState(), NOW)
    assert decision.owner_id == "r1" and decision.rule == "pool"
    assert sum("never_owners" in item for item in decision.passed_over) == 2


def test_never_owners_cannot_also_be_a_pool_member_or_the_fallback() -> None:
    with pytest.raises(ValueError, match="never_owners also lists r2"):
        _settings(never_owners=["R2"])
    with pytest.raises(ValueError, match="q1"):
        _settings(pools=[{"name": "All", "members": ["r1"]}], never_owners=["q1"])


def test_each_pools_daily_cap_resets_at_its_own_midnight() -> None:
    """Issue 22 #9: caps reset at the org's midnight for every pool before."""
    settings = handoff_settings(
        pools=[
            {"name": "UK", "match": {"countries": ["United Kingdom"]}, "members": ["uk"],
             "daily_cap": 1, "business_hours": {"time_zone": "Europe/London"}},
            {"name": "US", "match": {"countries": ["United States"]}, "members": ["us"],
             "daily_cap": 1, "business_hours": {"time_zone": "America/New_York"}},
        ],
        fallback_owner="q1",
    )  # fmt: skip
    candidates = Candidates.of([user("uk"), user("us"), user("q1", queue=True)])
    uk = person_facts({"country": "United Kingdom"})
    us = person_facts({"country": "United States"})
    evening = datetime(2026, 6, 3, 22, 0, tzinfo=UTC)  # 23:00 London, 18:00 New York
    state = RoutingState()
    for facts in (uk, us):
        state = route(facts, candidates, settings, state, evening).state_updates
    # 01:00 London on the 4th, 20:00 New York still on the 3rd
    later = evening + timedelta(hours=2)
    again_uk = route(uk, candidates, settings, state, later)
    again_us = route(us, candidates, settings, state, later)
    assert again_uk.owner_id == "uk" and again_us.owner_id == "q1"
    assert "at daily cap 1" in " ".join(again_us.passed_over)


def test_a_routing_state_stored_with_one_day_for_all_pools_still_reads() -> None:
    stored = {"cursors": {"A": {"r1": -1.0}}, "day": "2026-06-03", "assigned": {"A": {"r1": 2}}}
    state = RoutingState.from_dict(stored)
    assert state.days == {"A": date(2026, 6, 3)} and state.count("A", "r1") == 2
    assert RoutingState.from_dict(state.to_dict()) == state
