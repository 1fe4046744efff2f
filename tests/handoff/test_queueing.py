"""The per-cycle cap: hand-raisers first, then score, stable, never more than the cap."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadsync.handoff import PendingHandoff, prioritise
from tests.handoff.factories import NOW


def _pending(key: str, readiness: str, score: float, minute: int = 0) -> PendingHandoff:
    return PendingHandoff(key, readiness, score, 1, NOW + timedelta(minutes=minute))


def test_hand_raisers_go_first_then_higher_scores() -> None:
    queue = [
        _pending("a", "sales_ready", 60),
        _pending("b", "hand_raiser", 5),
        _pending("c", "sales_ready", 90),
        _pending("d", "hand_raiser", 50),
        _pending("e", "unready", 200),
    ]
    now, later = prioritise(queue, 3)
    assert [p.person_key for p in now] == ["d", "b", "e"]
    assert [p.person_key for p in later] == ["c", "a"]


def test_equal_items_keep_their_queued_order() -> None:
    queue = [_pending(str(i), "sales_ready", 70, i) for i in range(5)]
    now, later = prioritise(queue, 2)
    assert [p.person_key for p in now + later] == ["0", "1", "2", "3", "4"]


def test_cap_zero_defers_everything_and_negative_is_refused() -> None:
    queue = [_pending("a", "hand_raiser", 1)]
    assert prioritise(queue, 0) == ([], queue)
    with pytest.raises(ValueError, match="negative"):
        prioritise(queue, -1)


items = st.lists(
    st.tuples(st.sampled_from(["hand_raiser", "sales_ready", "unready"]), st.integers(-50, 300)),
    max_size=60,
)


@given(items=items, cap=st.integers(0, 80))
def test_split_is_a_priority_ordered_partition(items: list[tuple[str, int]], cap: int) -> None:
    queue = [_pending(str(i), r, s) for i, (r, s) in enumerate(items)]
    now, later = prioritise(queue, cap)
    assert len(now) == min(cap, len(queue))
    assert sorted(p.person_key for p in now + later) == sorted(p.person_key for p in queue)
    ranked = [(p.readiness != "hand_raiser", -p.score) for p in now + later]
    assert ranked == sorted(ranked)
