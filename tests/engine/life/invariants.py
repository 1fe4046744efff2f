"""What must hold after every cycle of a life.

Each check returns violations rather than raising, so a life goes on after one and a run
counts how often each invariant fails. "Known" below means LeadSync could have seen it: the
CRM changed before the start of a cycle whose pull of that stream completed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from leadsync.service.state import HealthRules, health_from_store, readiness
from leadsync.store.schema import (
    actions,
    activities,
    crm_records,
    handoffs,
    people,
    pull_gaps,
    recycles,
    runs,
    scores,
)
from tests.engine.life.steps import HS, SF
from tests.engine.life.world import INTERVAL, CycleFacts, World

#: Forms the shipped model reads as a hand-raise ("Contact Us", "Demo request").
HAND_RAISE = re.compile(r"contact|\bdemo", re.IGNORECASE)
TASK_KEY = re.compile(r"^ls-(\d+)-(\d+)$")


@dataclass(frozen=True, slots=True)
class Violation:
    invariant: str
    cycle: int
    detail: str

    def __str__(self) -> str:
        return f"[{self.invariant}] cycle {self.cycle}: {self.detail}"


def check_cycle(world: World, facts: CycleFacts) -> list[Violation]:
    found: list[Violation] = []
    with world.store.reading() as conn:
        for check in (
            _no_crash,
            _failure_recorded,
            _readiness,
            _one_task_per_handoff,
            _opted_out_never_handed_off,
            _nothing_acted_on_a_failed_pull,
            _scored_from_whole_history,
        ):
            found.extend(
                Violation(name, facts.index, detail) for name, detail in check(world, facts, conn)
            )
    return found


Found = Iterable[tuple[str, str]]


def _no_crash(world: World, facts: CycleFacts, conn: sa.Connection) -> Found:
    if facts.crash is not None:
        yield "cycle_raised", f"{facts.kind} cycle raised {facts.crash}"


def _failure_recorded(world: World, facts: CycleFacts, conn: sa.Connection) -> Found:
    """A cycle that met an error (or raised) is recorded failed or partial, never ok; one
    that met none is ok."""
    raised = facts.raised()
    run_id = facts.report.run_id if facts.report is not None else None
    if run_id is None:
        run_id = conn.execute(sa.select(sa.func.max(runs.c.id))).scalar()
    row = conn.execute(sa.select(runs).where(runs.c.id == run_id)).first() if run_id else None
    status = facts.report.status if facts.report is not None else None
    if raised or facts.crash:
        what = ", ".join(sorted({f"{f.call}:{f.kind}" for f in raised})) or facts.crash
        if status == "ok":
            yield "failure_recorded", f"{facts.kind} cycle met {what} but reported ok"
        if row is None or row.status in ("ok", "running"):
            recorded = row.status if row is not None else "no run row"
            yield "failure_recorded", f"{facts.kind} cycle met {what}; runs row says {recorded}"
    elif status is not None and status != "ok" and facts.report is not None:
        errors = "; ".join(facts.report.errors)[:300]
        yield "unexplained_failure", f"{facts.kind} cycle {status} with no fault: {errors}"


#: The life checks the mechanism itself: every failed cycle turns its connector unready.
RULES = HealthRules(freshness=INTERVAL * 3, unready_after_failures=1)


def _readiness(world: World, facts: CycleFacts, conn: sa.Connection) -> Found:
    """After a scheduled cycle, ``/readyz`` (which reads each connector's health from the
    runs table, on the leader and every standby alike) is not ready for a connector that
    failed in it, and ready for one the cycle pulled from without a failure."""
    outcome = facts.outcome
    if outcome is None:
        return
    report = outcome.report
    failed = set(report.failed_connectors) if report is not None else {outcome.connector}
    names = sorted(world.engine.connectors)
    health = health_from_store(conn, names)
    checks = readiness(facts.now, world.cycle_log.started_at, names, health, None, RULES)
    for name in names:
        failing = [c.name for c in checks if not c.ok and c.name.startswith(f"{name}.")]
        if name in failed and not failing:
            errors = "; ".join(e.splitlines()[0] for e in outcome.errors)[:200]
            yield "readiness", f"/readyz ready after {name} failed in a cycle: {errors}"
        elif name == outcome.connector and name not in failed and failing:
            yield "readiness_false_alarm", f"/readyz fails {failing} after an ok cycle"


def _one_task_per_handoff(world: World, facts: CycleFacts, conn: sa.Connection) -> Found:
    """Each hand-off is one task in the CRM: a done task action exists there, a done
    hand-off told its rep, and no upsert ever moved a task to another record."""
    crm = world.crms[SF]
    for key, old, new in crm.task_moves:
        if new not in _successors(crm.people, old):
            yield "one_task_per_handoff", f"task {key} of record {old} was re-used for record {new}"
    crm.task_moves.clear()
    done_tasks = conn.execute(
        sa.select(actions.c.key, actions.c.source, actions.c.error_code).where(
            actions.c.kind == "task", actions.c.state == "done"
        )
    )
    superseded: set[str] = set()
    for key, source, code in done_tasks:
        if code == "SUPERSEDED":  # the lead was recycled before the task was made
            superseded.add(key)
        elif key not in world.crms[source].tasks:
            yield "one_task_per_handoff", f"task action {key} is done but the CRM has no task"
    # A hand-off's task is keyed when it is decided; a merge of people may renumber the
    # hand-off later, so its task is found through the action it owed, not rebuilt.
    task_keys = dict(
        conn.execute(
            sa.select(actions.c.handoff_id, actions.c.key).where(
                actions.c.kind == "task", actions.c.handoff_id.is_not(None)
            )
        ).all()
    )
    for row in conn.execute(
        sa.select(handoffs).where(handoffs.c.state == "done", handoffs.c.mode == "immediate")
    ):
        key = task_keys.get(row.id, f"ls-{row.person_id}-{row.seq}")
        if key not in world.crms[row.source].tasks and key not in superseded:
            yield "one_task_per_handoff", f"hand-off {row.id} is done but the CRM has no task {key}"
    keys = {f"ls-{p}-{s}" for p, s in conn.execute(sa.select(handoffs.c.person_id, handoffs.c.seq))}
    keys |= set(task_keys.values())
    for key in crm.tasks:
        match = TASK_KEY.match(key)
        forgotten = int(match.group(1)) in world.forgotten_people if match else False
        if match and key not in keys and not forgotten and key not in world.forgotten_task_keys:
            yield "one_task_per_handoff", f"the CRM has task {key} for no hand-off"


def _successors(records: dict[str, dict[str, Any]], rid: str) -> set[str]:
    """The records ``rid`` was converted or merged into, following the chain: a task
    re-sent there after the conversion is the same task, moved to where the person lives."""
    found: set[str] = set()
    while (merged := records.get(rid, {}).get("merged_into")) and merged[1] not in found:
        rid = merged[1]
        found.add(rid)
    return found


def _opted_out_never_handed_off(world: World, facts: CycleFacts, conn: sa.Connection) -> Found:
    """Nobody known to have opted out (flag in any CRM, or an unsubscribe with no later
    hand-raise) is queued for or routed to sales in this cycle.

    A hand-off cancelled before it was routed reached nobody: hand-offs are queued on what
    the cycle's pulls read, and routing reads the target record again first; what that read
    finds (seed 3265: the lead merged, in the CRM this cycle did not pull, into an opted-out
    one) may cancel it. The person is then this one, but was not when it was queued."""
    now = facts.now
    rows = conn.execute(
        sa.select(handoffs.c.person_id, handoffs.c.seq, handoffs.c.queued_at,
                  handoffs.c.handed_off_at, people.c.email_norm)
        .join(people, people.c.id == handoffs.c.person_id)
        .where(sa.or_(handoffs.c.queued_at == now, handoffs.c.handed_off_at == now))
        .where(sa.or_(handoffs.c.state != "cancelled", handoffs.c.handed_off_at.is_not(None)))
    )  # fmt: skip
    for person_id, seq, queued_at, handed_off_at, email in rows:
        why = known_opt_out(world, email)
        if why is None:
            continue
        what = "routed to a rep" if handed_off_at == now else "queued for sales"
        late = " (queued before, while still opted in)" if queued_at != now else ""
        yield (
            "opted_out_handed_off",
            (
                f"{email} (person {person_id}, hand-off {seq}) {what}{late}: {why}"
                f"{context(world, facts, email)}"
            ),
        )


def context(world: World, facts: CycleFacts, email: str | None) -> str:
    """What a violation happened next to: a known defect's trigger, so a run can tell them
    from the rest (issue 21: #5 a failed pull, #6 ``forget``)."""
    notes = []
    if facts.failed_pulls:
        notes.append(f"pull failed: {', '.join(sorted(facts.failed_pulls))}")
    if email in world.forgotten_emails:
        notes.append("forgotten before")
    return f" [{'; '.join(notes)}]" if notes else ""


def known_opt_out(world: World, email: str | None) -> str | None:
    """Why LeadSync should know ``email`` must not be contacted, or ``None``.

    The product's rule (PRODUCT.md; ``tests/model/test_matrix_table.py``): do not contact
    someone opted out or unsubscribed with no later hand-raise. A CRM's opt-out flag carries
    no time; a dated unsubscribe of the person dates it, so a hand-raise after their last
    unsubscribe lifts both; a flag with no dated unsubscribe is never lifted."""
    if not email:
        return None
    flagged: str | None = None
    for (source, rid), at in sorted(world.opted_at.items()):
        record = world.crms[source].people.get(rid)
        seen = world.seen_until.get((source, "people"))
        if record is None or record.get("email") != email or not record.get("opted_out"):
            continue
        # A converted or merged-away record is frozen history: its flag went to the record
        # it became (Salesforce copies HasOptedOutOfEmail to the contact), whose flag the
        # CRM keeps current from then on (an opt-in there lifts it).
        if record.get("deleted") or record.get("merged_into") or seen is None or at >= seen:
            continue
        flagged = f"{source} record {rid} opted out at {at:%m-%d %H:%M:%S}"
        break
    crm = world.crms[HS]
    seen = world.seen_until.get((HS, "activities"))
    # A record merged into another (in either CRM) is the same person: its address's
    # unsubscribes and hand-raises are the survivor's too (the store gives a merged-away
    # address to the survivor's person).
    addresses = _merged_addresses(world, email)
    own = {rid for rid, p in crm.people.items() if p.get("email") in addresses}
    merged = {
        rid for rid, p in crm.people.items()
        if p.get("merged_into") and p["merged_into"][1] in own
    }  # fmt: skip
    # Every unsubscribe may date the flag (the store may have read one by id, e.g. after
    # ``forget``); only one a pull has seen makes a person do-not-contact on its own.
    every = [
        (datetime.fromisoformat(a["at"]), datetime.fromisoformat(a["modified"]))
        for a in crm.activities.values()
        if a["kind"] == "unsubscribe" and not a.get("deleted")
        and (a.get("email") in addresses or a["person"] in own | merged)
    ]  # fmt: skip
    unsubscribed = [at for at, modified in every if seen is not None and modified < seen]
    if not every or (not unsubscribed and flagged is None):
        return flagged
    last = max(at for at, _ in every) if flagged else max(unsubscribed)
    for other in world.crms.values():
        mine = {rid for rid, p in other.people.items() if p.get("email") in addresses}
        # A merge moves the merged record's activities to its survivor: a hand-raise made on
        # the merged-away record is the same person's, now found on the survivor.
        mine |= {
            p["merged_into"][1]
            for rid, p in other.people.items()
            if rid in mine and p.get("merged_into")
        }
        for a in other.activities.values():
            if (
                a["person"] in mine
                and HAND_RAISE.search(a["name"] or "")
                and (a["kind"] == "form_submission" and datetime.fromisoformat(a["at"]) > last)
            ):
                return None
    return flagged or f"unsubscribed at {last:%m-%d %H:%M:%S} with no later hand-raise"


def _merged_addresses(world: World, email: str) -> set[str]:
    """``email`` and every address a merge in either CRM tied to it, transitively."""
    addresses = {email}
    grew = True
    while grew:
        grew = False
        for crm in world.crms.values():
            for record in crm.people.values():
                into = record.get("merged_into")
                survivor = crm.people.get(into[1]) if into else None
                if survivor is None:
                    continue
                pair = {record.get("email"), survivor.get("email")} - {None}
                if pair & addresses and not pair <= addresses:
                    addresses |= pair
                    grew = True
    return addresses


def _nothing_acted_on_a_failed_pull(world: World, facts: CycleFacts, conn: sa.Connection) -> Found:
    """A person LeadSync knows to have data in a CRM whose pull failed this cycle (a record
    or an activity of theirs stored from it) is not re-scored, queued for a hand-off or
    recycled in it: their data is half read. (Records that CRM created since its last
    complete pull cannot be known; when it never completed one, nobody may be acted on.)"""
    if not facts.failed_pulls:
        return
    failed = sorted(facts.failed_pulls)
    exposed: dict[int, str] = {}
    for person_id, uid in conn.execute(
        sa.select(crm_records.c.person_id, crm_records.c.uid).where(
            crm_records.c.source.in_(failed)
        )
    ):
        # A record first read after the cycle scored (the read of others' changes before
        # its writes, ``engine.pulls.catch_up``) was not known when it scored.
        if uid in facts.known_records:
            exposed.setdefault(person_id, uid)
    for person_id, uid in conn.execute(
        sa.select(activities.c.person_id, activities.c.uid).where(
            activities.c.person_id.is_not(None),
            sa.or_(*(activities.c.uid.startswith(f"{name}:") for name in failed)),
        )
    ):
        exposed.setdefault(person_id, uid)
    never = {
        name
        for (name,) in conn.execute(
            sa.select(pull_gaps.c.connector).where(
                pull_gaps.c.connector.in_(failed), pull_gaps.c.completed_at.is_(None)
            )
        )
    }
    now = facts.now
    touched = [
        ("re-scored", sa.select(scores.c.person_id).where(scores.c.scored_at == now)),
        ("queued", sa.select(handoffs.c.person_id).where(handoffs.c.queued_at == now)),
        ("recycled", sa.select(recycles.c.person_id).where(recycles.c.recycled_at == now)),
    ]
    for what, query in touched:
        for person_id in sorted(set(conn.execute(query).scalars())):
            record = exposed.get(person_id) or (f"anyone: {', '.join(sorted(never))} never "
                                                "completed a pull" if never else None)  # fmt: skip
            if record is not None:
                yield (
                    "acted_on_failed_pull",
                    (f"person {person_id} ({record}) {what} while the "
                     f"{', '.join(failed)} pull failed"),
                )  # fmt: skip


def _scored_from_whole_history(world: World, facts: CycleFacts, conn: sa.Connection) -> Found:
    """A person scored in this cycle was scored from every record and activity of theirs
    that LeadSync could have seen."""
    scored = conn.execute(
        sa.select(people.c.id, people.c.email_norm)
        .join(scores, scores.c.person_id == people.c.id)
        .where(scores.c.scored_at == facts.now, people.c.active.is_(True))
    ).all()
    for person_id, email in scored:
        missing = missing_history(world, conn, person_id, email)
        if missing:
            more = f" and {len(missing) - 4} more" if len(missing) > 4 else ""
            yield (
                "scored_from_partial_history",
                (
                    f"person {person_id} ({email}) scored without {', '.join(missing[:4])}{more}"
                    f"{context(world, facts, email)}"
                ),
            )


def missing_history(
    world: World, conn: sa.Connection, person_id: int, email: str | None
) -> list[str]:
    """Known records and activities of this person's the store does not link to them."""
    records = {
        uid for (uid,) in conn.execute(
            sa.select(crm_records.c.uid).where(crm_records.c.person_id == person_id)
        )
    }  # fmt: skip
    linked = set(
        conn.execute(
            sa.select(activities.c.uid).where(
                activities.c.person_id == person_id, activities.c.deleted.is_(False)
            )
        ).scalars()
    )
    missing: list[str] = []
    for name, crm in world.crms.items():
        people_seen = world.seen_until.get((name, "people"))
        acts_seen = world.seen_until.get((name, "activities"))
        mine = set()
        for rid, p in crm.people.items():
            uid = f"{name}:{p.get('object', 'Lead')}:{rid}"
            if uid in records:
                # A deleted record's activities wait for it and count for nobody (the
                # product's rule: a store that met the record deleted would not link them).
                if not p.get("deleted"):
                    mine.add(rid)
                continue
            if p.get("email") != email or p.get("deleted") or p.get("converted_at"):
                continue
            if people_seen is not None and _stamp(p) < people_seen:
                missing.append(f"record {uid}")
        for aid, a in crm.activities.items():
            if a.get("deleted") or acts_seen is None or _stamp(a) >= acts_seen:
                continue
            ours = a["person"] in mine or (a["person"] is None and a.get("email") == email)
            uid = f"{name}:Activity:{aid}"
            if ours and uid not in linked:
                missing.append(f"activity {uid} ({a['kind']} {a['name']})")
    return missing


def _stamp(item: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(item["modified"])


__all__ = ["Violation", "check_cycle", "context", "known_opt_out", "missing_history"]
