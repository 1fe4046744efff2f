"""Window and recycle edges, to the second: an activity exactly ``window_days`` old still
counts (only older ones do not, config.example.toml), a rule's own window replaces the
global one either way, and an activity at or before the recycle does not count (the lead
"must earn fresh engagement", PRODUCT.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import example, given, settings
from hypothesis import strategies as st

from leadsync.model import Activity, Person, RuleDef, build_spec, score

NOW = datetime(2024, 6, 1, tzinfo=UTC)
DAY = 86_400


@settings(max_examples=120, deadline=None)
@given(
    rule_days=st.integers(1, 200),
    global_days=st.integers(1, 200),
    offset_s=st.integers(-3, 3) | st.integers(-10 * DAY, 10 * DAY),
)
@example(rule_days=5, global_days=90, offset_s=0)
@example(rule_days=5, global_days=90, offset_s=1)
@example(rule_days=90, global_days=5, offset_s=0)
def test_an_activity_counts_until_its_rules_window_ends_to_the_second(
    rule_days: int, global_days: int, offset_s: int
) -> None:
    """The activity is ``rule_days`` days plus ``offset_s`` seconds old."""
    rules = [RuleDef("View", ("page_view",), 10, "passive", window_days=rule_days)]
    spec = build_spec(rules=rules, half_life_days=0, window_days=global_days)
    age_s = rule_days * DAY + offset_s
    view = Activity("v", "page_view", NOW - timedelta(seconds=age_s))
    counted = score(Person("p"), [view], spec, NOW).score == 10
    assert counted == (age_s <= rule_days * DAY)


@settings(max_examples=120, deadline=None)
@given(offset_s=st.integers(-3, 3) | st.integers(-30 * DAY, 30 * DAY))
@example(offset_s=0)
@example(offset_s=1)
def test_only_activities_after_the_recycle_count(offset_s: int) -> None:
    """A demo request ``offset_s`` seconds after (negative: before) the recycle."""
    recycled_at = NOW - timedelta(days=40)
    spec = build_spec(half_life_days=0, window_days=90)
    demo = Activity("d", "form_submission", recycled_at + timedelta(seconds=offset_s), name="demo")
    result = score(Person("p", recycled_at=recycled_at), [demo], spec, NOW)
    assert (result.score == 75) == (offset_s > 0)
    if offset_s <= 0:
        assert result.score == 0
        assert "1 activities before the recycle date do not count" in result.notes
