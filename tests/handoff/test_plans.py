"""What a hand-off and a recycle write, and the history each leaves behind."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from leadsync.handoff import (
    Candidates,
    HandoffHistory,
    PersonFacts,
    RoutingState,
    plan_handoff,
    plan_recycle,
    route,
    transition,
)
from leadsync.records import OwnerChange, RecordRef
from tests.handoff.factories import (
    NOW,
    handoff_settings,
    person,
    recycle_settings,
    result_dict,
    user,
)

SETTINGS = handoff_settings(pools=[{"name": "All", "members": ["r1"]}])
RECYCLE = recycle_settings(nurture_owner="00Gnurture", nurture_campaign="701", nurture_list="42")
CANDIDATES = Candidates.of([user("r1")])


def _handoff(to_cell: str = "good/hand_raiser", history: HandoffHistory | None = None):  # type: ignore[no-untyped-def]
    decided = transition(
        "marketing",
        "sales",
        "good/unready",
        to_cell,
        history=history,
        handoff=SETTINGS,
        recycle=RECYCLE,
        now=NOW,
    )
    assert decided is not None
    decision = route(
        PersonFacts(owner_id="00Gnurture"),
        CANDIDATES,
        SETTINGS,
        RoutingState(),
        NOW,
        nurture_owner="00Gnurture",
    )
    return decided, decision


def test_immediate_handoff_sets_owner_status_task_and_history() -> None:
    history = HandoffHistory(handoffs=1, recycles=1, recycled_at=NOW - timedelta(days=9))
    decided, decision = _handoff(history=history)
    plan = plan_handoff(
        person(),
        "00Gnurture",
        result_dict(),
        decided,
        decision,
        history,
        SETTINGS,
        "https://crm/00Q1",
        NOW,
    )
    assert plan.owner_change == OwnerChange(
        RecordRef("salesforce", "Lead", "00Q1"), "r1", "Working"
    )
    assert plan.mode == "immediate"
    assert plan.task is not None and plan.task.key == "ls-p-1-2"
    assert plan.digest_lead is None
    assert plan.due_at == plan.task.due_at
    assert plan.history == HandoffHistory(
        handoffs=2, handed_off_at=NOW, recycles=1, recycled_at=NOW - timedelta(days=9)
    )
    assert plan.history.open


def test_digest_handoff_adds_a_digest_entry_instead_of_a_task() -> None:
    decided, decision = _handoff("poor/hand_raiser")
    settings = handoff_settings(
        pools=[{"name": "All", "members": ["r1"]}], notify={"poor_hand_raiser": "daily_digest"}
    )
    plan = plan_handoff(
        person(),
        None,
        result_dict(fit="poor"),
        decided,
        decision,
        HandoffHistory(),
        settings,
        None,
        NOW,
    )
    assert plan.task is None
    assert plan.digest_lead is not None
    assert plan.digest_lead.cell == "poor/hand_raiser"
    assert plan.digest_lead.due_at == plan.due_at


def test_a_kept_owner_without_a_status_needs_no_owner_change() -> None:
    settings = handoff_settings(pools=[{"name": "All", "members": ["r1"]}], owner_status=None)
    decided, _ = _handoff()
    kept = route(PersonFacts(owner_id="r1"), CANDIDATES, settings, RoutingState(), NOW)
    plan = plan_handoff(
        person(), "r1", result_dict(), decided, kept, HandoffHistory(), settings, None, NOW
    )
    assert plan.owner_change is None
    assert plan.task is not None and plan.task.owner_id == "r1"


def test_plan_handoff_refuses_other_transitions() -> None:
    recycled = transition(
        "sales",
        "sales",
        "good/hand_raiser",
        "good/hand_raiser",
        status="Recycled",
        handoff=SETTINGS,
        recycle=RECYCLE,
        now=NOW,
    )
    assert recycled is not None
    _, decision = _handoff()
    with pytest.raises(ValueError, match="handoff transition"):
        plan_handoff(
            person(), None, result_dict(), recycled, decision, HandoffHistory(), SETTINGS, None, NOW
        )


@pytest.mark.parametrize(
    ("source", "nurture", "target"),
    [("salesforce", "campaign", "701"), ("hubspot", "list", "42"), ("other", None, None)],
)
def test_recycle_moves_to_nurture_and_counts(source: str, nurture, target) -> None:  # type: ignore[no-untyped-def]
    """The programme follows the CRM's capability (campaign or list), never its name."""
    ref = RecordRef(source, "Lead" if source == "salesforce" else "contact", "1")
    history = HandoffHistory(
        handoffs=2,
        handed_off_at=NOW - timedelta(days=31),
        recycles=1,
        recycled_at=NOW - timedelta(days=100),
        last_sales_touch_at=NOW - timedelta(days=30, hours=12),
    )
    decided = transition(
        "sales",
        "sales",
        "good/sales_ready",
        "good/sales_ready",
        history=history,
        handoff=SETTINGS,
        recycle=RECYCLE,
        now=NOW,
    )
    assert decided is not None and decided.kind == "recycle"
    plan = plan_recycle(ref, "r1", decided, history, RECYCLE, NOW, nurture)
    assert plan.owner_change == OwnerChange(ref, "00Gnurture", "Nurture")
    assert plan.nurture_id == target
    assert plan.outputs.values["recycle_count"] == 2
    assert plan.outputs.values["recycle_reason"].startswith("Recycled 2024-06-05: no sales touch")
    assert plan.history.recycles == 2 and plan.history.recycled_at == NOW
    assert not plan.history.open
    # Everything else the history knew is kept: the next hand-off is number 3.
    assert plan.history == dataclasses.replace(history, recycles=2, recycled_at=NOW)
    assert plan.outputs.ref == ref and plan.reason == plan.outputs.values["recycle_reason"]
    handoff = dataclasses.replace(decided, kind="handoff")
    with pytest.raises(ValueError, match="needs a recycle transition, got handoff"):
        plan_recycle(ref, "r1", handoff, history, RECYCLE, NOW, nurture)


def test_recycle_without_nurture_owner_keeps_the_owner_and_changes_the_status() -> None:
    settings = recycle_settings()
    decided = transition(
        "sales",
        "sales",
        "good/sales_ready",
        "good/sales_ready",
        status="Unqualified",
        handoff=SETTINGS,
        recycle=settings,
        now=NOW,
    )
    assert decided is not None
    ref = RecordRef("salesforce", "Lead", "1")
    assert plan_recycle(ref, "r1", decided, HandoffHistory(), settings, NOW).owner_change == (
        OwnerChange(ref, "r1", "Nurture")
    )
    assert plan_recycle(ref, None, decided, HandoffHistory(), settings, NOW).owner_change is None
