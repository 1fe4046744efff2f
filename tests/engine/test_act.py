"""Hand-off, SLA watch and recycle through the engine, with the real model and routing rules.

The CRM is the in-memory one (owners, statuses, tasks upserted by key, campaign members);
the same scenarios run against the sandboxes in the connector suites.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from leadsync.config import settings_from_dict
from leadsync.engine.cycle import SyncEngine
from leadsync.engine.request import CycleRequest
from leadsync.store import Store
from leadsync.store.schema import actions, handoffs, recycles
from leadsync.wiring import build_engine
from tests.engine.memory_crm import MemoryConnector, MemoryCRM

MONDAY_10 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
NURTURE_QUEUE = "00G-nurture"
CAMPAIGN = "701-nurture"


class Clock:
    def __init__(self) -> None:
        self.now = MONDAY_10

    def __call__(self) -> datetime:
        return self.now


def config(**handoff: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "handoff": {
            "enabled": True,
            "owner_status": "Working",
            "pools": [
                {"name": "UK", "match": {"countries": ["United Kingdom"]},
                 "members": ["rep-a", "rep-b"]},
                {"name": "France", "match": {"countries": ["France"]}, "members": ["rep-c"]},
            ],
            "fallback_owner": "00G-sales",
            "sla": {"hand_raiser": 5, "sales_ready": 480, "on_breach": "escalate"},
        },
        "recycle": {
            "statuses": ["Recycled"],
            "nurture_owner": NURTURE_QUEUE,
            "nurture_status": "Nurture",
            "nurture_campaign": CAMPAIGN,
            "inactivity_days": 30,
        },
    }  # fmt: skip
    base["handoff"].update(handoff)
    return base


@pytest.fixture
def store(migrated_store_url: str) -> Iterator[Store]:
    s = Store(migrated_store_url)
    yield s
    s.close()


@pytest.fixture
def crm() -> MemoryCRM:
    crm = MemoryCRM()
    crm.add_user("rep-a", "Ann Rep", manager="mgr-1")
    crm.add_user("rep-b", "Bob Rep", manager="mgr-1")
    crm.add_user("rep-c", "Cleo Rep")
    crm.add_user("mgr-1", "Mia Manager")
    crm.add_user("00G-sales", "Sales queue", queue=True)
    crm.add_user(NURTURE_QUEUE, "Nurture queue", queue=True)
    return crm


def make_engine(store: Store, crm: MemoryCRM, clock: Clock, **handoff: Any) -> SyncEngine:
    settings = settings_from_dict(config(**handoff), "test")
    return build_engine(settings, store, {"salesforce": MemoryConnector(crm, "salesforce")},
                        clock=clock)  # fmt: skip


def hand_raise(crm: MemoryCRM, pid: str, country: str = "United Kingdom", **attrs: Any) -> None:
    crm.add_person(pid, f"{pid.lower()}@{pid.lower()}corp.com", country=country, **attrs)
    crm.add_activity(f"form-{pid}", pid, "form_submission", "Contact Us")


def rows(store: Store, table: sa.Table) -> list[Any]:
    with store.reading() as conn:
        return list(conn.execute(sa.select(table).order_by(table.c.id)))


def test_hand_raiser_gets_owner_status_and_one_high_priority_task(
    store: Store, crm: MemoryCRM
) -> None:
    clock = Clock()
    hand_raise(crm, "L1")
    engine = make_engine(store, crm, clock)

    report = engine.run()

    assert report.actions["handed_off"] == 1
    assert crm.owners["L1"] == "rep-a" and crm.statuses["L1"] == "Working"
    [(key, task)] = crm.tasks.items()
    assert task["owner"] == "rep-a" and task["record"] == "L1"
    assert task["priority"] == "High"
    # due 5 business minutes after the hand-off (Monday 10:00 UTC is business time)
    assert datetime.fromisoformat(task["due"]) == MONDAY_10 + timedelta(minutes=5)
    assert "UK" in task["body"] and "Contact Us" in task["body"]
    [handoff] = rows(store, handoffs)
    assert handoff.state == "done" and handoff.decision["rule"] == "pool"

    # nothing changed: the next cycle neither re-assigns nor re-tasks
    clock.now += timedelta(minutes=1)
    again = engine.run()
    assert again.actions["handed_off"] == 0 and len(crm.owner_log) == 1
    assert crm.task_log == [key]


def test_round_robin_alternates_and_skips_inactive_reps(store: Store, crm: MemoryCRM) -> None:
    crm.users[1]["active"] = False  # rep-b left
    for i in range(3):
        hand_raise(crm, f"U{i}")
    make_engine(store, crm, Clock()).run()
    assert [crm.owners[f"U{i}"] for i in range(3)] == ["rep-a", "rep-a", "rep-a"]
    [*_, last] = rows(store, handoffs)
    assert "rep-b" in last.decision["why"] and "inactive" in last.decision["why"]


def test_fair_round_robin_survives_a_restart(store: Store, crm: MemoryCRM) -> None:
    clock = Clock()
    hand_raise(crm, "R0")
    make_engine(store, crm, clock).run()
    hand_raise(crm, "R1")
    clock.now += timedelta(minutes=1)
    make_engine(store, crm, clock).run()  # a new process: state comes from the store
    assert (crm.owners["R0"], crm.owners["R1"]) == ("rep-a", "rep-b")


def test_active_sales_owner_is_kept_and_account_owner_wins_over_pools(
    store: Store, crm: MemoryCRM
) -> None:
    crm.owners["K1"] = "rep-c"
    hand_raise(crm, "K1")  # UK lead already owned by an active rep: stays with rep-c
    crm.add_person("C1", "buyer@bigco.com", object_type="Contact")
    crm.owners["C1"] = "rep-b"
    crm.add_person("N1", "new@bigco.com", country="United Kingdom")
    crm.add_activity("form-N1", "N1", "form_submission", "Contact Us")
    make_engine(store, crm, Clock()).run()
    assert crm.owners["K1"] == "rep-c"
    assert crm.owners["N1"] == "rep-b"
    rules = {h.record_uid.rsplit(":", 1)[1]: h.decision["rule"] for h in rows(store, handoffs)}
    assert rules["K1"] == "keep_owner" and rules["N1"] == "account_match"


def test_unmatched_lead_goes_to_the_fallback_queue(store: Store, crm: MemoryCRM) -> None:
    hand_raise(crm, "D1", country="Germany")
    make_engine(store, crm, Clock()).run()
    assert crm.owners["D1"] == "00G-sales"


def test_cap_queues_the_rest_hand_raisers_first(store: Store, crm: MemoryCRM) -> None:
    settings = settings_from_dict({**config(), "sync": {"handoffs_per_cycle": 2}}, "test")
    clock = Clock()
    engine = build_engine(settings, store, {"salesforce": MemoryConnector(crm, "salesforce")},
                          clock=clock)  # fmt: skip
    for i in range(3):
        crm.add_person(f"S{i}", f"s{i}@s{i}.com", country="France")
        for n in range(3):
            crm.add_activity(f"S{i}-{n}", f"S{i}", "form_submission", "Price sheet")
    hand_raise(crm, "H1", country="France")
    report = engine.run()
    handed = {h.record_uid.rsplit(":", 1)[1] for h in rows(store, handoffs) if h.state == "done"}
    if report.actions["handoffs_queued"] == 4:
        assert "H1" in handed and len(handed) == 2 and report.actions["waiting"] == 2
        clock.now += timedelta(minutes=5)
        engine.run()
        assert all(h.state == "done" for h in rows(store, handoffs))
    else:  # the model kept the price-sheet leads in marketing: only the hand-raiser moved
        assert handed == {"H1"}


def test_unrouted_hand_off_waits_visible_until_an_owner_exists(
    store: Store, crm: MemoryCRM
) -> None:
    clock = Clock()
    hand_raise(crm, "X1", country="Germany")
    crm.users[4].update(active=False, queue=False)  # the fallback is a user who left
    engine = make_engine(store, crm, clock)
    report = engine.run()
    assert report.actions["unrouted"] == 1 and "X1" not in crm.owners
    [waiting] = rows(store, handoffs)
    assert waiting.state == "queued" and "fallback_owner" in (waiting.note or "")
    crm.users[4]["active"] = True
    clock.now += timedelta(minutes=5)
    engine.run()
    assert crm.owners["X1"] == "00G-sales" and len(crm.tasks) == 1


def test_rejected_owner_change_keeps_the_hand_off_pending_and_untasked(
    store: Store, crm: MemoryCRM
) -> None:
    clock = Clock()
    hand_raise(crm, "J1")
    crm.reject["J1"] = "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    engine = make_engine(store, crm, clock)
    engine.run()
    assert crm.tasks == {} and "J1" not in crm.owners
    [pending] = rows(store, handoffs)
    assert pending.state == "acting"
    [owner_action, task_action] = rows(store, actions)
    assert owner_action.error_code == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert task_action.state == "pending" and task_action.attempts == 0

    del crm.reject["J1"]
    clock.now += timedelta(minutes=2)  # past the 1-minute backoff
    engine.run()
    assert crm.owners["J1"] == "rep-a" and len(crm.tasks) == 1
    assert rows(store, handoffs)[0].state == "done"


def test_no_actions_backfill_hands_nobody_off_later_either(store: Store, crm: MemoryCRM) -> None:
    clock = Clock()
    hand_raise(crm, "B1")
    engine = make_engine(store, crm, clock)
    engine.run(CycleRequest(no_actions=True))
    clock.now += timedelta(minutes=5)
    engine.run()
    assert crm.tasks == {} and rows(store, handoffs) == []


def test_sla_breach_tasks_the_manager_once(store: Store, crm: MemoryCRM) -> None:
    clock = Clock()
    hand_raise(crm, "E1")
    engine = make_engine(store, crm, clock)
    engine.run()
    clock.now += timedelta(minutes=30)
    report = engine.run()
    assert report.actions["breaches"] == 1
    escalation = crm.tasks[f"ls-{person_key(store)}-1-sla"]
    assert escalation["owner"] == "mgr-1" and escalation["priority"] == "High"
    clock.now += timedelta(minutes=30)
    assert engine.run().actions["breaches"] == 0
    assert len(crm.tasks) == 2


def test_a_touch_by_the_owner_within_the_sla_is_no_breach(store: Store, crm: MemoryCRM) -> None:
    clock = Clock()
    hand_raise(crm, "T1")
    engine = make_engine(store, crm, clock)
    engine.run()
    crm.add_activity("call-T1", "T1", "call", "Intro call", actor="rep-a")
    crm.activities["call-T1"]["at"] = (MONDAY_10 + timedelta(minutes=3)).isoformat()
    clock.now += timedelta(minutes=30)
    report = engine.run()
    assert report.actions["breaches"] == 0
    [handoff] = rows(store, handoffs)
    assert handoff.touched_at == MONDAY_10 + timedelta(minutes=3)


def test_sla_breach_reroutes_to_the_next_rep(store: Store, crm: MemoryCRM) -> None:
    clock = Clock()
    hand_raise(crm, "W1")
    engine = make_engine(
        store, crm, clock,
        sla={"hand_raiser": 5, "sales_ready": 480, "on_breach": "reroute"},
    )  # fmt: skip
    engine.run()
    assert crm.owners["W1"] == "rep-a"
    clock.now += timedelta(minutes=30)
    engine.run()
    assert crm.owners["W1"] == "rep-b"
    first, second = rows(store, handoffs)
    assert first.closed_by == "sla_reroute" and first.breached_at is not None
    assert second.seq == 2 and second.owner_id == "rep-b" and second.state == "done"
    assert {t["owner"] for t in crm.tasks.values()} == {"rep-a", "rep-b"}


def test_recycle_by_status_then_requalify(store: Store, crm: MemoryCRM) -> None:
    clock = Clock()
    hand_raise(crm, "Z1")
    engine = make_engine(store, crm, clock)
    engine.run()
    assert crm.owners["Z1"] == "rep-a"

    clock.now += timedelta(hours=2)
    crm.set_status("Z1", "Recycled")
    report = engine.run()
    assert report.actions["recycled"] == 1
    assert crm.owners["Z1"] == NURTURE_QUEUE and crm.statuses["Z1"] == "Nurture"
    assert crm.members[CAMPAIGN] == ["Z1"]
    assert crm.fields["Z1"]["recycle_count"] == 1
    assert "sales set status 'Recycled'" in crm.fields["Z1"]["recycle_reason"]
    # the engagement baseline moved: the old form no longer counts
    assert crm.fields["Z1"]["team"] == "marketing"
    [recycle] = rows(store, recycles)
    assert recycle.state == "done" and recycle.requalified_at is None

    # fresh engagement after the recycle qualifies again: a second hand-off, out of nurture
    clock.now += timedelta(days=1)
    crm.add_activity("form-Z1-again", "Z1", "form_submission", "Contact Us")
    crm.activities["form-Z1-again"]["at"] = clock.now.isoformat()
    engine.run()
    assert crm.statuses["Z1"] == "Working" and crm.owners["Z1"] != NURTURE_QUEUE
    assert crm.members[CAMPAIGN] == []
    assert sorted(h.seq for h in rows(store, handoffs)) == [1, 2]
    assert rows(store, recycles)[0].requalified_at == clock.now
    # one task per hand-off (the first one also missed its SLA: its manager was tasked)
    assert sorted(crm.tasks) == ["ls-1-1", "ls-1-1-sla", "ls-1-2"]


def test_no_sales_touch_for_n_days_recycles(store: Store, crm: MemoryCRM) -> None:
    clock = Clock()
    hand_raise(crm, "I1")
    engine = make_engine(store, crm, clock, sla={"on_breach": "none"})
    engine.run()
    clock.now += timedelta(days=29)
    assert engine.run().actions["recycled"] == 0
    clock.now += timedelta(days=2)
    report = engine.run()
    assert report.actions["recycled"] == 1
    [recycle] = rows(store, recycles)
    assert recycle.trigger == "inactivity" and crm.owners["I1"] == NURTURE_QUEUE


def test_daily_digest_is_one_task_per_rep_listing_every_lead(store: Store, crm: MemoryCRM) -> None:
    clock = Clock()
    notify = {"good_hand_raiser": "daily_digest", "poor_hand_raiser": "daily_digest"}
    sla = {"hand_raiser": 480, "sales_ready": 480}
    engine = make_engine(store, crm, clock, notify=notify, sla=sla)
    hand_raise(crm, "G1", country="France")
    engine.run()
    clock.now += timedelta(minutes=10)
    hand_raise(crm, "G2", country="France")
    engine.run()
    # Owners change at once; the digest waits for the close of the rep's day (17:00 UTC), as
    # a CRM creates a task once per key and never rewrites it.
    assert crm.owners["G1"] == crm.owners["G2"] == "rep-c"
    assert crm.tasks == {}
    clock.now = MONDAY_10.replace(hour=17, minute=1)
    hand_raise(crm, "G3", country="France")  # after the close: Tuesday's digest
    engine.run()
    [(key, digest)] = crm.tasks.items()
    assert key.startswith("ls-digest-rep-c-20260302")
    assert "2 new leads" in digest["subject"]
    assert "g1@" in digest["body"] and "g2@" in digest["body"] and "g3@" not in digest["body"]
    clock.now += timedelta(days=1)
    engine.run()
    assert sorted(crm.tasks) == [key, "ls-digest-rep-c-20260303"]
    assert "g3@" in crm.tasks["ls-digest-rep-c-20260303"]["body"]


def test_dry_run_counts_hand_offs_without_acting(store: Store, crm: MemoryCRM) -> None:
    hand_raise(crm, "Y1")
    report = make_engine(store, crm, Clock()).run(CycleRequest(dry_run=True))
    assert report.would_write["handoffs"] == 1
    assert crm.tasks == {} and crm.owners == {} and rows(store, handoffs) == []


def person_key(store: Store) -> int:
    [handoff] = [h for h in rows(store, handoffs) if h.seq == 1][:1]
    return int(handoff.person_id)


def test_a_logged_email_by_the_owner_counts_as_a_touch(store: Store, crm: MemoryCRM) -> None:
    # Salesforce's mapping names a logged Email task "email": it must stop the SLA clock.
    clock = Clock()
    hand_raise(crm, "M1")
    engine = make_engine(store, crm, clock)
    engine.run()
    crm.add_activity("mail-M1", "M1", "email", "Re: your request", actor="rep-a")
    crm.activities["mail-M1"]["at"] = (MONDAY_10 + timedelta(minutes=2)).isoformat()
    clock.now += timedelta(minutes=30)
    assert engine.run().actions["breaches"] == 0


def test_marketing_cells_join_their_nurture_programme_and_leave_it_on_hand_off(
    store: Store, crm: MemoryCRM
) -> None:
    data = config()
    data["nurture"] = {
        "enrol": [
            {"cell": "good/unready", "campaign": "701-good", "status": "Sent"},
            {"cell": "poor/unready", "campaign": "701-poor"},
        ]
    }
    clock = Clock()
    engine = build_engine(
        settings_from_dict(data, "test"),
        store,
        {"salesforce": MemoryConnector(crm, "salesforce")},
        clock=clock,
    )
    crm.add_person("N1", "n1@n1corp.com", country="United Kingdom")
    first = engine.run()
    assert first.actions["enrolled"] == 1
    [(campaign, members)] = [(k, v) for k, v in crm.members.items() if v]
    assert members == ["N1"] and campaign in {"701-good", "701-poor"}

    assert engine.run().actions["enrolled"] == 0  # same cell: nothing owed

    clock.now += timedelta(minutes=5)
    crm.add_activity("form-N1", "N1", "form_submission", "Contact Us")
    moved = engine.run()
    assert moved.actions["handed_off"] == 1 and moved.actions["unenrolled"] == 1
    assert crm.members[campaign] == []


def test_decay_pass_writes_only_people_whose_score_or_cell_really_moved(
    store: Store, crm: MemoryCRM
) -> None:
    clock = Clock()
    hand_raise(crm, "O1")  # the form is two months old at the first cycle
    crm.add_person("Q1", "q1@q1corp.com", country="France")  # nothing to decay
    data = config(sla={"on_breach": "none"})
    data["recycle"]["inactivity_days"] = 120  # not what this test is about
    connectors = {"salesforce": MemoryConnector(crm, "salesforce")}
    engine = build_engine(settings_from_dict(data, "test"), store, connectors, clock=clock)
    engine.run()
    engine.run()  # reads back the owner and status the hand-off set
    assert crm.fields["O1"]["team"] == "sales"
    writes = len(crm.write_log)

    clock.now += timedelta(days=40)  # the form leaves the 90-day window
    assert engine.run().written == {}  # a plain sync does not re-score the idle
    report = engine.run(CycleRequest(decay=True))
    assert report.scored == 2 and report.written == {"salesforce": 1}
    assert crm.fields["O1"]["team"] == "marketing" and crm.fields["O1"]["score"] == 0
    assert len(crm.write_log) == writes + 1
    with store.reading() as conn:
        acted = conn.execute(sa.text("SELECT acted_team FROM people ORDER BY id")).scalars()
        assert next(iter(acted)) == "marketing"
    assert engine.run(CycleRequest(decay=True)).written == {}  # nothing moved since


def test_after_k_recycles_the_next_hand_off_waits_out_the_cool_down(
    store: Store, crm: MemoryCRM
) -> None:
    data = config()
    data["recycle"].update({"cool_down_after": 1, "cool_down_days": 10})
    clock = Clock()
    connectors = {"salesforce": MemoryConnector(crm, "salesforce")}
    engine = build_engine(settings_from_dict(data, "test"), store, connectors, clock=clock)
    hand_raise(crm, "C1")
    engine.run()
    clock.now += timedelta(hours=1)
    crm.set_status("C1", "Recycled")
    assert engine.run().actions["recycled"] == 1

    # a fresh hand-raise two days later: held, not handed off (1 recycle = cool-down)
    clock.now += timedelta(days=2)
    crm.add_activity("form-C1-b", "C1", "form_submission", "Contact Us")
    crm.activities["form-C1-b"]["at"] = clock.now.isoformat()
    held = engine.run()
    assert held.actions["handoffs_held"] == 1 and held.actions["handed_off"] == 0
    [_first, waiting] = rows(store, handoffs)
    assert waiting.state == "held" and waiting.hold_until == MONDAY_10 + timedelta(hours=1, days=10)
    # once the cool-down is over the sweep looks again and the hand-off goes ahead
    clock.now = MONDAY_10 + timedelta(days=10, hours=2)  # nothing new in the CRM
    after = engine.run()
    assert after.actions["handed_off"] == 1, after.actions
    assert sorted(h.state for h in rows(store, handoffs)) == ["done", "done"]
    assert crm.owners["C1"] != NURTURE_QUEUE and crm.statuses["C1"] == "Working"


def test_an_owner_change_the_crm_refuses_starts_no_sla_clock(store: Store, crm: MemoryCRM) -> None:
    clock = Clock()
    hand_raise(crm, "H1")
    crm.reject["H1"] = "FIELD_CUSTOM_VALIDATION_EXCEPTION"  # e.g. a legal-hold rule
    engine = make_engine(store, crm, clock)
    breaches = 0
    for _ in range(12):  # two hours: far past the 5-minute SLA, and past parking
        breaches += engine.run().actions["breaches"]
        clock.now += timedelta(minutes=10)
    assert breaches == 0 and crm.tasks == {}
    [owner_action, task_action] = rows(store, actions)
    assert owner_action.state == "parked" and task_action.state == "pending"
    assert rows(store, handoffs)[0].breached_at is None


def test_a_cancelled_waiting_hand_off_does_not_block_the_next_one(
    store: Store, crm: MemoryCRM
) -> None:
    """Issue 21 #1: a queued hand-off cancelled by a recycle kept its ``seq``; the person's
    next hand-off reused it, broke ``handoffs(person_id, seq)`` and aborted every cycle."""
    settings = settings_from_dict({**config(), "sync": {"handoffs_per_cycle": 1}}, "test")
    clock = Clock()
    engine = build_engine(settings, store, {"salesforce": MemoryConnector(crm, "salesforce")},
                          clock=clock)  # fmt: skip
    hand_raise(crm, "W1")
    hand_raise(crm, "W2")
    engine.run()
    [waiting] = [h for h in rows(store, handoffs) if h.state == "queued"]
    waiter = waiting.record_uid.rsplit(":", 1)[1]

    clock.now += timedelta(minutes=5)
    crm.set_status(waiter, "Recycled")
    assert engine.run().status == "ok"
    assert {h.state for h in rows(store, handoffs)} == {"done", "cancelled"}

    clock.now += timedelta(days=1)
    crm.set_status(waiter, "Open")
    crm.add_activity(f"form-{waiter}-again", waiter, "form_submission", "Contact Us")
    crm.activities[f"form-{waiter}-again"]["at"] = clock.now.isoformat()
    report = engine.run()
    assert report.status == "ok", report.errors
    assert crm.owners[waiter] != NURTURE_QUEUE and crm.statuses[waiter] == "Working"
    mine = sorted((h.seq, h.state) for h in rows(store, handoffs) if h.record_uid.endswith(waiter))
    assert mine == [(1, "cancelled"), (2, "done")]
    clock.now += timedelta(minutes=5)
    assert engine.run().status == "ok"


def _reassign_by_hand(crm: MemoryCRM, pid: str, owner: str, at: datetime) -> None:
    """A manager gives the lead to another owner in the CRM at ``at`` (real modstamps)."""
    crm.owners[pid] = owner
    crm.people[pid]["modified"] = at.isoformat()


def test_the_sla_watch_follows_a_human_re_assignment(store: Store, crm: MemoryCRM) -> None:
    """Issue 22 #6: the new owner's call within the SLA counts; nobody is tasked about the
    rep who no longer owns the lead, and the lead is not taken from the rep working it."""
    clock = Clock()
    hand_raise(crm, "V1")
    engine = make_engine(
        store, crm, clock, sla={"hand_raiser": 5, "sales_ready": 480, "on_breach": "both"}
    )
    engine.run()
    assert crm.owners["V1"] == "rep-a"
    moved_at = MONDAY_10 + timedelta(minutes=2)
    _reassign_by_hand(crm, "V1", "rep-b", moved_at)
    # Bob calls at 10:06: after Ann's 10:05 due time, within his own five minutes.
    crm.add_activity("call-V1", "V1", "call", "Intro call", actor="rep-b")
    crm.activities["call-V1"]["at"] = (moved_at + timedelta(minutes=4)).isoformat()
    clock.now += timedelta(minutes=30)
    report = engine.run()
    assert report.actions["breaches"] == 0
    assert crm.owners["V1"] == "rep-b" and not any(k.endswith("-sla") for k in crm.tasks)
    [handoff] = rows(store, handoffs)
    assert handoff.watch_owner_id == "rep-b" and handoff.watch_since == moved_at
    assert handoff.touched_at == moved_at + timedelta(minutes=4)
    assert handoff.due_at == moved_at + timedelta(minutes=5)


def test_a_breach_after_a_re_assignment_names_the_new_owner(store: Store, crm: MemoryCRM) -> None:
    clock = Clock()
    hand_raise(crm, "V2")
    engine = make_engine(store, crm, clock)
    engine.run()
    _reassign_by_hand(crm, "V2", "rep-b", MONDAY_10 + timedelta(minutes=1))
    clock.now += timedelta(minutes=30)
    assert engine.run().actions["breaches"] == 1
    [escalation] = [t for k, t in crm.tasks.items() if k.endswith("-sla")]
    assert escalation["owner"] == "mgr-1" and "Bob Rep" in escalation["body"]
    assert "Ann Rep" not in escalation["body"]


def test_a_lead_moved_to_a_queue_by_hand_ends_the_watch(store: Store, crm: MemoryCRM) -> None:
    clock = Clock()
    hand_raise(crm, "V3")
    engine = make_engine(store, crm, clock)
    engine.run()
    _reassign_by_hand(crm, "V3", "00G-sales", MONDAY_10 + timedelta(minutes=1))
    clock.now += timedelta(minutes=30)
    assert engine.run().actions["breaches"] == 0
    [handoff] = rows(store, handoffs)
    assert handoff.closed_by == "reassigned" and handoff.breached_at is None
