"""Rules, decay, windows, caps, readiness, accounts and the Result shapes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from leadsync.model import (
    Activity,
    CriterionDef,
    Person,
    Result,
    RuleDef,
    account_signals,
    build_spec,
    score,
    score_account,
)

NOW = datetime(2024, 6, 1, tzinfo=UTC)


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def test_default_points_match_the_product_brief() -> None:
    spec = build_spec(half_life_days=0)  # no decay: raw points
    cases = [
        (Activity("1", "form_submission", NOW, name="Price Sheet Download"), 50),
        (Activity("2", "webinar_registered", NOW, name="Product webinar"), 50),
        (Activity("3", "form_submission", NOW, name="Request a demo"), 75),
        (Activity("4", "form_submission", NOW, name="Contact Us"), 100),
        (Activity("5", "page_view", NOW, url="https://x.io/blog/why"), 5),
        (Activity("6", "ebook_download", NOW, name="Guide"), 10),
        (Activity("7", "email_open", NOW), 0),
        (Activity("8", "unsubscribe", NOW), -25),
        (
            Activity("9", "campaign_member", NOW, campaign_type="Webinar",
                     member_status="Registered"),
            50,
        ),
    ]  # fmt: skip
    for activity, points in cases:
        result = score(Person("p"), [activity], spec, NOW)
        assert result.score == points, activity


def test_unmatched_activities_do_not_score() -> None:
    spec = build_spec()
    acts = [
        Activity("1", "page_view", NOW, url="https://x.io/pricing"),
        Activity("2", "form_submission", NOW, name="Newsletter"),
        Activity("3", "meeting", NOW),
    ]
    assert score(Person("p"), acts, spec, NOW).contributions == ()


def test_rule_patterns_campaign_type_and_member_status() -> None:
    rule = RuleDef("Attended", ("campaign_member",), 40, "active",
                   campaign_type_pattern="^webinar$", member_status_pattern="attended")  # fmt: skip
    spec = build_spec(rules=[rule], half_life_days=0)
    hit = Activity("1", "campaign_member", NOW, campaign_type="Webinar", member_status="Attended")
    wrong = Activity("2", "campaign_member", NOW, campaign_type="Webinar series",
                     member_status="Attended")  # fmt: skip
    no_status = Activity("3", "campaign_member", NOW, campaign_type="Webinar")
    assert score(Person("p"), [hit, wrong, no_status], spec, NOW).score == 40


def test_decay_halves_per_half_life_and_window_cuts_off() -> None:
    spec = build_spec(half_life_days=10, window_days=25)
    demo = lambda i, d: Activity(str(i), "form_submission", ago(d), name="demo")  # noqa: E731
    assert score(Person("p"), [demo(1, 10)], spec, NOW).raw_score == 37.5
    assert score(Person("p"), [demo(1, 20)], spec, NOW).raw_score == 18.75
    late = score(Person("p"), [demo(1, 26)], spec, NOW)
    assert late.score == 0 and late.readiness == "unready"


def test_rule_window_overrides_global_and_cap_keeps_most_recent() -> None:
    rules = [RuleDef("View", ("page_view",), 10, "passive", cap=2, window_days=5)]
    spec = build_spec(rules=rules, half_life_days=0, window_days=90)
    acts = [Activity(str(d), "page_view", ago(d)) for d in (1, 2, 3, 6)]
    result = score(Person("p"), acts, spec, NOW)
    assert result.score == 20
    assert [c.activity_id for c in result.contributions] == ["1", "2"]


def test_future_activity_counts_at_full_points_only() -> None:
    spec = build_spec()
    act = Activity("1", "form_submission", NOW + timedelta(days=3), name="Price list")
    assert score(Person("p"), [act], spec, NOW).raw_score == 50


def test_naive_timestamp_read_as_utc_and_garbage_activity_noted() -> None:
    spec = build_spec(half_life_days=0)
    naive = Activity("1", "form_submission", datetime(2024, 5, 1), name="Price")
    garbage = Activity("2", "form_submission", "yesterday", name="Price")  # type: ignore[arg-type]
    result = score(Person("p"), [naive, garbage], spec, NOW)
    assert result.score == 50
    assert any("could not read activities: 2" in n for n in result.notes)


def test_require_active_gates_sales_ready() -> None:
    rules = [RuleDef("Blog", ("page_view",), 60, "passive"),
             RuleDef("Pricing", ("form_submission",), 50, "active")]  # fmt: skip
    lax = build_spec(rules=rules, half_life_days=0)
    strict = build_spec(rules=rules, half_life_days=0, require_active=True)
    passive = [Activity("1", "page_view", NOW), Activity("2", "page_view", NOW)]
    assert score(Person("p"), passive, lax, NOW).readiness == "sales_ready"
    gated = score(Person("p"), passive, strict, NOW)
    assert gated.readiness == "unready" and "no actively-investigating" in gated.readiness_reason
    both = [*passive, Activity("3", "form_submission", NOW)]
    assert score(Person("p"), both, strict, NOW).readiness == "sales_ready"


def test_custom_matrix() -> None:
    matrix = {("good", "hand_raiser"): "sales", ("good", "sales_ready"): "sales",
              ("good", "unready"): "sales", ("poor", "hand_raiser"): "marketing",
              ("poor", "sales_ready"): "marketing", ("poor", "unready"): "marketing"}  # fmt: skip
    spec = build_spec(matrix=matrix)  # type: ignore[arg-type]
    assert score(Person("p"), [], spec, NOW).team == "sales"  # good (no criteria) / unready


def test_accounts_roll_up_and_feed_a_criterion() -> None:
    spec = build_spec(
        [CriterionDef("Buying group", "account_engaged_people", "at_least", minimum=2)],
        good_fit_min=1,
        engaged_threshold=50,
        accounts_enabled=True,
    )
    contact = lambda i: [Activity(f"a{i}", "form_submission", NOW, name="Contact us")]  # noqa: E731
    members = [(Person("p1"), contact(1)), (Person("p2"), contact(2)), (Person("p3"), [])]
    results = score_account(members, spec, NOW)
    assert [r.fit for r in results] == ["good", "good", "good"]
    assert results[2].outputs(NOW)["engaged_people"] == 2
    assert results[2].outputs(NOW)["account_score"] == 200
    assert account_signals([100, -25, 49.9, 50], spec).engaged_people == 2
    alone = score(Person("p4"), [], spec, NOW)
    assert alone.criteria[0].reason == "missing: account_engaged_people"
    assert "account_score" not in alone.outputs(NOW)


def test_result_round_trips_through_json_and_reason_fits_255() -> None:
    spec = build_spec(
        [CriterionDef(f"Criterion number {i}", f"attr_{i}", "is_set") for i in range(12)],
        good_fit_min=3,
    )
    acts = [Activity(f"id-{i}", "form_submission", ago(i), name="Contact") for i in range(20)]
    result = score(Person("p", {"attr_1": "x"}, opted_out=True), acts, spec, NOW)
    again = Result.from_dict(json.loads(json.dumps(result.to_dict())))
    assert again == result
    reason = str(result.outputs(NOW)["reason"])
    assert len(reason) <= 255
    assert reason.startswith("marketing: poor fit 1/12; do not contact, score")
    assert set(result.outputs(NOW)) == {"fit", "score", "readiness", "team", "reason"}
    text = result.explain()
    assert "[ ] Criterion number 0: attr_0 is not set" in text and "id-0" in text
