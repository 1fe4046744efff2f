"""SLA breaches: a task for the owner's manager, a re-route, or both."""

from __future__ import annotations

from datetime import timedelta

from leadsync.handoff import Breach, Candidates, PersonFacts, RoutingState, escalate
from tests.handoff.factories import NOW, handoff_settings, person, user

SETTINGS = handoff_settings(pools=[{"name": "All", "members": ["r1", "r2"]}], fallback_owner="q1")
HANDED = NOW - timedelta(hours=2)
BREACH = Breach(
    person=person(),
    facts=PersonFacts(owner_id="r1"),
    owner_id="r1",
    seq=3,
    handed_off_at=HANDED,
    due_at=HANDED + timedelta(minutes=5),
    record_link="https://crm/00Q1",
)


def _candidates(manager_active: bool = True, manager: str | None = "m1") -> Candidates:
    return Candidates.of(
        [
            user("r1", manager=manager),
            user("r2"),
            user("m1", active=manager_active),
            user("q1", queue=True),
        ]
    )


def test_escalate_tasks_the_owners_manager() -> None:
    answer = escalate(BREACH, "escalate", _candidates(), SETTINGS, RoutingState(), NOW)
    task = answer.manager_task
    assert task is not None
    assert task.key == "ls-p-1-3-sla"
    assert task.owner_id == "m1"
    assert task.priority == "High"
    assert task.due_at == NOW
    assert task.subject == "LeadSync SLA missed: Jane Doe not contacted by User r1 (r1)"
    assert "60 business minutes late" in task.body  # due 08:05, business hours from 09:00
    assert task.body.endswith("Open the record: https://crm/00Q1")
    assert answer.reroute is None
    assert "tasked manager User m1 (m1)" in answer.why


def test_reroute_gives_the_lead_to_the_next_rep() -> None:
    answer = escalate(BREACH, "reroute", _candidates(), SETTINGS, RoutingState(), NOW)
    assert answer.manager_task is None
    assert answer.reroute is not None
    assert answer.reroute.owner_id == "r2"
    assert answer.reroute.rule == "pool"
    assert answer.reroute.state_updates.count("All", "r2") == 1


def test_both_tasks_the_manager_and_reroutes() -> None:
    answer = escalate(BREACH, "both", _candidates(), SETTINGS, RoutingState(), NOW)
    assert answer.manager_task is not None and answer.reroute is not None
    assert "LeadSync re-routed the lead: pool All" in answer.manager_task.body


def test_escalate_without_an_active_manager_reroutes_instead() -> None:
    for candidates in (_candidates(manager_active=False), _candidates(manager=None)):
        answer = escalate(BREACH, "escalate", candidates, SETTINGS, RoutingState(), NOW)
        assert answer.manager_task is None
        assert answer.reroute is not None and answer.reroute.owner_id == "r2"
        assert "has no active manager" in answer.why


def test_none_records_the_breach_only() -> None:
    answer = escalate(BREACH, "none", _candidates(), SETTINGS, RoutingState(), NOW)
    assert answer.manager_task is None and answer.reroute is None
    assert "breach recorded only" in answer.why


def test_reroute_with_nobody_else_says_so() -> None:
    alone = handoff_settings(pools=[{"name": "Solo", "members": ["r1"]}], fallback_owner="r1")
    answer = escalate(BREACH, "reroute", _candidates(), alone, RoutingState(), NOW)
    assert answer.reroute is None
    assert "no other owner found" in answer.why
