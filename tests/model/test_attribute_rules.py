"""Attribute rules: an engagement rule on the person's data ("balance at least 1,000"), whose
points count once, undecayed, while the data passes its test, so fit data can carry points
without becoming a box (issue 23 #6) and each value of a categorical column can carry its own
(#2)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadsync.config import settings_from_dict
from leadsync.errors import ConfigError
from leadsync.model import Activity, ModelSpec, Person, Result, score

NOW = datetime(2026, 3, 1, tzinfo=UTC)

RULES: list[dict[str, Any]] = [
    {"name": "Demo request", "kind": "form_submission", "name_pattern": "demo", "points": 75,
     "interest": "hand_raiser"},
    {"name": "Price sheet", "kind": "form_submission", "name_pattern": "pric", "points": 40,
     "interest": "active"},
    {"name": "Balance over 1,000", "attribute": "balance", "operator": "at_least", "min": 1000,
     "points": 30},
    {"name": "Origin: Lead Add Form", "attribute": "lead_origin", "operator": "one_of",
     "values": ["Lead Add Form"], "points": 45},
    {"name": "Origin: API", "attribute": "lead_origin", "operator": "one_of",
     "values": ["API"], "points": -10},
]  # fmt: skip


def config(rules: list[dict[str, Any]] | None = None, **engagement: Any) -> dict[str, Any]:
    return {
        "icp": {
            "good_fit_min": 1,
            "criteria": [
                {
                    "name": "Manufacturing",
                    "attribute": "industry",
                    "operator": "one_of",
                    "values": ["Manufacturing"],
                },
            ],
        },
        "engagement": {"sales_ready_threshold": 60, **engagement, "rules": rules or RULES},
    }


def spec_of(data: dict[str, Any]) -> ModelSpec:
    return settings_from_dict(data, "leadsync.toml").model_spec()


def form(name: str, days_ago: float, ident: str = "a1") -> Activity:
    return Activity(ident, "form_submission", NOW - timedelta(days=days_ago), name=name)


def test_an_attribute_rule_gives_its_points_undecayed_and_only_while_the_data_passes() -> None:
    spec = spec_of(config())
    rich = score(Person("p", {"balance": "1,500", "lead_origin": "lead add form"}), [], spec, NOW)
    assert rich.score == 75 and rich.raw_score == 75.0
    assert {c.rule: c.points for c in rich.contributions} == {
        "Balance over 1,000": 30.0,
        "Origin: Lead Add Form": 45.0,
    }
    assert all(c.occurred_at is None and c.kind == "attribute" for c in rich.contributions)
    # the score reaches the threshold from data alone: sales-ready, never a hand-raiser
    assert rich.readiness == "sales_ready"
    poor = score(Person("q", {"balance": 999, "lead_origin": "API"}), [], spec, NOW)
    assert poor.score == -10 and poor.readiness == "unready"
    # an activity's points decay; the data's do not (30 days = one half-life)
    both = score(Person("r", {"balance": 2000}), [form("Price list", 30)], spec, NOW)
    assert both.raw_score == pytest.approx(30 + 20)


def test_attribute_points_are_not_activity_for_require_active_or_a_hand_raise() -> None:
    spec = spec_of(config(require_active=True))
    result = score(Person("p", {"balance": 5000, "lead_origin": "Lead Add Form"}), [], spec, NOW)
    assert result.score == 75 and result.readiness == "unready"
    assert "no actively-investigating activity" in result.readiness_reason
    active = score(Person("p", {"balance": 5000}), [form("Pricing", 0)], spec, NOW)
    assert active.readiness == "sales_ready"


def test_explain_reason_and_the_stored_result_say_where_the_points_came_from() -> None:
    spec = spec_of(config())
    result = score(Person("p", {"balance": 1000}), [form("Book a demo", 0)], spec, NOW)
    text = result.explain()
    assert "Balance over 1,000 [passive]  from attribute balance" in text
    assert "Demo request [hand_raiser]  form_submission at " in text
    assert "Balance over 1,000 +30 profile" in result.reason(NOW)
    restored = Result.from_dict(result.to_dict())
    assert restored == result


@settings(max_examples=200, deadline=None)
@given(
    balance=st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
        st.text(max_size=30), st.lists(st.integers(), max_size=3),
        st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    ),
    origin=st.one_of(
        st.none(), st.text(max_size=30), st.integers(), st.lists(st.text(), max_size=3)
    ),
)  # fmt: skip
def test_no_value_of_a_tested_attribute_breaks_scoring(balance: object, origin: object) -> None:
    """Whatever a CRM puts in the fields a rule tests, the person is scored, and points come
    only from a test the value passes."""
    spec = spec_of(config())
    result = score(Person("p", {"balance": balance, "lead_origin": origin}), [], spec, NOW)
    by_rule = {c.rule for c in result.contributions}
    tests = {r.name: r.attribute_test for r in spec.rule_index.attribute_rules}
    attrs = {"balance": balance, "lead_origin": origin}
    for name, test in tests.items():
        assert test is not None
        passed = test.evaluate(attrs).status == "checked"
        assert (name in by_rule) == passed
    assert result.score == sum(round(c.points) for c in result.contributions)


@pytest.mark.parametrize(
    ("rule", "says"),
    [
        ({"name": "X", "points": 5}, "needs kind = '...'"),
        ({"name": "X", "kind": "email_open", "points": 5}, "needs interest ="),
        ({"name": "X", "kind": "email_open", "interest": "passive", "attribute": "balance",
          "operator": "is_set", "points": 5}, "activities (kind) or an attribute, not both"),
        ({"name": "X", "attribute": "balance", "operator": "at_least", "min": 1, "cap": 3,
          "points": 5}, "an attribute rule does not use cap"),
        ({"name": "X", "attribute": "balance", "operator": "at_least", "min": 1,
          "interest": "hand_raiser", "points": 5}, "interest = 'hand_raiser' needs an activity"),
        ({"name": "X", "attribute": "balance", "points": 5}, "needs operator"),
        ({"name": "X", "attribute": "balance", "operator": "one_of", "points": 5},
         "operator 'one_of' needs values"),
        ({"name": "X", "attribute": "balance", "operator": "below", "max": 3, "min": 1,
          "points": 5}, "does not use min"),
        ({"name": "X", "attribute": "Balance", "operator": "is_set", "points": 5},
         "canonical attribute name"),
        ({"name": "X", "kind": "email_open", "interest": "passive", "operator": "is_set",
          "points": 5}, "operator serve an attribute rule"),
        ({"name": "X", "attribute": "account_score", "operator": "at_least", "min": 1,
          "points": 5}, "cannot read 'account_score'"),
        ({"name": "X", "attribute": "title", "operator": "matches", "pattern": "([",
          "points": 5}, "not a valid regular expression"),
    ],
)  # fmt: skip
def test_a_rule_that_cannot_work_is_a_config_error_naming_it(
    rule: dict[str, Any], says: str
) -> None:
    with pytest.raises(ConfigError) as info:
        spec_of(config([rule]))
    text = "\n".join(info.value.problems)
    assert says in text, text
    assert ("leadsync.toml" in text and "engagement.rules" in text) or "rule 'X'" in text, text


def test_attribute_tests_read_aliases_and_derived_attributes_like_boxes() -> None:
    data = config(
        [
            {"name": "UK", "attribute": "country", "operator": "one_of",
             "values": ["United Kingdom"], "points": 20},
            {"name": "Senior", "attribute": "seniority", "operator": "one_of",
             "values": ["VP"], "points": 15},
        ]
    )  # fmt: skip
    spec = spec_of(data)
    result = score(Person("p", {"country": "GB", "title": "VP Sales"}), [], spec, NOW)
    assert result.score == 35
