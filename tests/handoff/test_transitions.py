"""Hand-off, recycle and cool-down decisions, for every change of matrix cell."""

from __future__ import annotations

from datetime import timedelta
from itertools import product

import pytest

from leadsync.handoff import HandoffHistory, cool_down_until, transition
from leadsync.model.definitions import DEFAULT_MATRIX
from leadsync.model.values import FITS, READINESS_LEVELS
from tests.handoff.factories import NOW, handoff_settings, recycle_settings

HANDOFF = handoff_settings()
RECYCLE = recycle_settings()
CELLS = [f"{fit}/{readiness}" for fit, readiness in product(FITS, READINESS_LEVELS)]


def _team(cell: str | None) -> str | None:
    if cell is None:
        return None
    fit, readiness = cell.split("/")
    return "marketing" if readiness == "do_not_contact" else DEFAULT_MATRIX[(fit, readiness)]


@pytest.mark.parametrize(("before", "after"), list(product([None, *CELLS], CELLS)))
def test_every_cell_change(before: str | None, after: str) -> None:
    decided = transition(
        _team(before), _team(after) or "", before, after, handoff=HANDOFF, recycle=RECYCLE, now=NOW
    )
    enters_sales = _team(after) == "sales" and _team(before) != "sales"
    if not enters_sales:
        assert decided is None
        return
    assert decided is not None
    assert decided.kind == "handoff"
    assert decided.trigger == ("first_scoring" if before is None else "entered_sales")
    assert decided.seq == 1
    assert (decided.from_cell, decided.to_cell) == (before, after)
    assert after in decided.reason


def test_the_same_transition_is_decided_the_same_way_until_persisted() -> None:
    history = HandoffHistory(
        handoffs=2,
        handed_off_at=NOW - timedelta(days=40),
        recycles=2,
        recycled_at=NOW - timedelta(days=20),
    )
    first = transition(
        "marketing",
        "sales",
        "good/unready",
        "good/hand_raiser",
        history=history,
        handoff=HANDOFF,
        recycle=RECYCLE,
        now=NOW,
    )
    retry = transition(
        "marketing",
        "sales",
        "good/unready",
        "good/hand_raiser",
        history=history,
        handoff=HANDOFF,
        recycle=RECYCLE,
        now=NOW + timedelta(minutes=5),
    )
    assert first is not None and retry is not None
    assert first.seq == retry.seq == 3
    # Once the lead persisted "sales" as the acted-on team, the same scoring does nothing.
    assert (
        transition(
            "sales",
            "sales",
            "good/hand_raiser",
            "good/hand_raiser",
            history=history,
            handoff=HANDOFF,
            recycle=RECYCLE,
            now=NOW,
        )
        is None
    )


def test_handoff_disabled_hands_nothing_off() -> None:
    off = handoff_settings(enabled=False)
    assert (
        transition(
            "marketing",
            "sales",
            "good/unready",
            "good/hand_raiser",
            handoff=off,
            recycle=RECYCLE,
            now=NOW,
        )
        is None
    )


@pytest.mark.parametrize("status", ["Recycled", "unqualified", " UNQUALIFIED "])
def test_sales_setting_a_recycle_status_recycles(status: str) -> None:
    history = HandoffHistory(handoffs=1, handed_off_at=NOW - timedelta(days=2))
    decided = transition(
        "sales",
        "sales",
        "good/sales_ready",
        "good/sales_ready",
        status=status,
        history=history,
        handoff=HANDOFF,
        recycle=RECYCLE,
        now=NOW,
    )
    assert decided is not None
    assert (decided.kind, decided.trigger, decided.seq) == ("recycle", "recycle_status", 1)
    assert status in decided.reason


def test_a_recycle_status_on_a_marketing_lead_not_handed_off_is_left_alone() -> None:
    assert (
        transition(
            "marketing",
            "marketing",
            "poor/unready",
            "poor/unready",
            status="Unqualified",
            handoff=HANDOFF,
            recycle=RECYCLE,
            now=NOW,
        )
        is None
    )


def test_a_lead_sales_already_rejected_is_recycled_not_handed_off_on_first_scoring() -> None:
    decided = transition(
        None,
        "sales",
        None,
        "good/sales_ready",
        status="Unqualified",
        handoff=HANDOFF,
        recycle=RECYCLE,
        now=NOW,
    )
    assert decided is not None and decided.kind == "recycle"


def test_a_lead_sales_rejected_while_marketing_held_it_is_recycled_when_it_enters_sales() -> None:
    """bench/life.py seed 1250: sales set Unqualified on a lead marketing held, then it raised
    its hand. The lived store handed it off; a fresh store, scoring it first, recycled it. The
    verdict now counts the same way on every entry into sales."""
    decided = transition(
        "marketing",
        "sales",
        "good/unready",
        "good/hand_raiser",
        status="Unqualified",
        handoff=HANDOFF,
        recycle=RECYCLE,
        now=NOW,
    )
    assert decided is not None and (decided.kind, decided.trigger) == ("recycle", "recycle_status")


def test_an_open_handoff_whose_model_team_dropped_is_still_recycled_on_status() -> None:
    history = HandoffHistory(handoffs=1, handed_off_at=NOW - timedelta(days=3))
    decided = transition(
        "marketing",
        "marketing",
        "poor/unready",
        "poor/unready",
        status="Recycled",
        history=history,
        handoff=HANDOFF,
        recycle=RECYCLE,
        now=NOW,
    )
    assert decided is not None and decided.kind == "recycle"


def test_inactivity_recycles_after_n_days_without_a_sales_touch() -> None:
    settings = recycle_settings(inactivity_days=30)
    quiet = HandoffHistory(handoffs=1, handed_off_at=NOW - timedelta(days=30))
    decided = transition(
        "sales",
        "sales",
        "good/sales_ready",
        "good/sales_ready",
        history=quiet,
        handoff=HANDOFF,
        recycle=settings,
        now=NOW,
    )
    assert decided is not None
    assert (decided.kind, decided.trigger) == ("recycle", "inactivity")
    assert "30 days since the hand-off" in decided.reason
    touched = HandoffHistory(
        handoffs=1,
        handed_off_at=NOW - timedelta(days=40),
        last_sales_touch_at=NOW - timedelta(days=29),
    )
    assert (
        transition(
            "sales",
            "sales",
            "good/sales_ready",
            "good/sales_ready",
            history=touched,
            handoff=HANDOFF,
            recycle=settings,
            now=NOW,
        )
        is None
    )


def test_a_recycled_handoff_is_not_recycled_again_for_inactivity() -> None:
    history = HandoffHistory(
        handoffs=1,
        handed_off_at=NOW - timedelta(days=90),
        recycles=1,
        recycled_at=NOW - timedelta(days=50),
    )
    assert not history.open
    assert (
        transition(
            "marketing",
            "marketing",
            "good/unready",
            "good/unready",
            history=history,
            handoff=HANDOFF,
            recycle=RECYCLE,
            now=NOW,
        )
        is None
    )


def test_recycle_disabled_never_recycles() -> None:
    off = recycle_settings(enabled=False)
    history = HandoffHistory(handoffs=1, handed_off_at=NOW - timedelta(days=300))
    assert (
        transition(
            "sales",
            "sales",
            "good/sales_ready",
            "good/sales_ready",
            status="Recycled",
            history=history,
            handoff=HANDOFF,
            recycle=off,
            now=NOW,
        )
        is None
    )


def test_cool_down_holds_the_handoff_after_k_recycles() -> None:
    settings = recycle_settings(cool_down_after=2, cool_down_days=90)
    history = HandoffHistory(
        handoffs=2,
        handed_off_at=NOW - timedelta(days=60),
        recycles=2,
        recycled_at=NOW - timedelta(days=10),
    )
    held = transition(
        "marketing",
        "sales",
        "good/unready",
        "good/hand_raiser",
        history=history,
        handoff=HANDOFF,
        recycle=settings,
        now=NOW,
    )
    assert held is not None
    assert (held.kind, held.trigger, held.seq) == ("held", "cool_down", 3)
    assert held.until == NOW + timedelta(days=80)
    after = transition(
        "marketing",
        "sales",
        "good/unready",
        "good/hand_raiser",
        history=history,
        handoff=HANDOFF,
        recycle=settings,
        now=NOW + timedelta(days=80),
    )
    assert after is not None and after.kind == "handoff"


def test_cool_down_applies_only_after_enough_recycles() -> None:
    settings = recycle_settings(cool_down_after=3, cool_down_days=90)
    once = HandoffHistory(recycles=2, recycled_at=NOW - timedelta(days=1))
    assert cool_down_until(once, settings) is None
    thrice = HandoffHistory(recycles=3, recycled_at=NOW - timedelta(days=1))
    assert cool_down_until(thrice, settings) == NOW + timedelta(days=89)
    assert cool_down_until(thrice, recycle_settings(cool_down_days=0)) is None
