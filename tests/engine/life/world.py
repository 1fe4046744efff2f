"""The world a life happens in: two CRMs, LeadSync's engine over one store, and a clock.

``World.apply`` plays one step. Cycles run the way LeadSync runs them: a connector's
scheduled cycle (and a webhook's) through the service's ``CycleRunner`` with its ``CycleLog``,
``leadsync sync`` and the daily decay pass by calling the engine. What the world learns while
playing (which pulls succeeded when, who opted out when, who was forgotten) is what the
invariants need to tell a defect from data LeadSync could not have seen yet.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import structlog

from jobs.runner import CycleOutcome, CycleRunner
from leadsync.config import settings_from_dict
from leadsync.config.loading import read_toml
from leadsync.engine.cycle import CycleReport, SyncEngine
from leadsync.engine.request import CycleRequest
from leadsync.errors import CycleBusy
from leadsync.records import RecordRef
from leadsync.service.state import CycleLog
from leadsync.store import Store
from leadsync.store.privacy import forget
from leadsync.store.schema import actions, crm_records, handoffs, people
from leadsync.wiring import build_engine
from tests.engine.life.steps import HS, PROFILES, SF, VALUES, Step
from tests.engine.memory_crm import Fault, Fired, MemoryConnector, MemoryCRM

log = structlog.get_logger(__name__)

#: A Monday in business hours (Europe/London), as the shipped config's hand-off SLA reads it.
START = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
#: The scheduled cadence: each cycle runs this long after the one before.
INTERVAL = timedelta(minutes=5)
CONFIG_FILE = Path(__file__).resolve().parents[3] / "config.example.toml"
REPS = ("005000000000001", "005000000000002", "005000000000003")
MANAGER = "005000000000009"
SALES_QUEUE, NURTURE_QUEUE = "00G000000000001", "00G000000000002"
DOMAINS = ("acme.co.uk", "usine.fr", "shop.de", "globex.co.uk", "gmail.com")


def life_config(cap: int) -> dict[str, Any]:
    """The shipped example config (model, hand-off, recycle, nurture), with the CRMs left out
    and a per-cycle hand-off cap of ``cap``; small pull batches so a pull commits in pages."""
    data = read_toml(CONFIG_FILE)
    for section in ("store", "connectors", "service"):
        data.pop(section, None)
    data["sync"] = {**data["sync"], "handoffs_per_cycle": cap, "pull_batch": 4}
    return data


def email_of(slot: int) -> str:
    return f"p{slot}@{DOMAINS[slot % len(DOMAINS)]}"


def new_crms() -> dict[str, MemoryCRM]:
    sf, hs = MemoryCRM(stamp_writes=True), MemoryCRM(stamp_writes=True)
    for i, rep in enumerate(REPS):
        sf.add_user(rep, f"Rep {i}", manager=MANAGER)
    sf.add_user(MANAGER, "Sales manager")
    sf.add_user(SALES_QUEUE, "Sales queue", queue=True)
    sf.add_user(NURTURE_QUEUE, "Nurture queue", queue=True)
    hs.add_user("hs-owner-1", "HubSpot owner")
    return {SF: sf, HS: hs}


@dataclass
class CycleFacts:
    """What one cycle did and met, for the invariants."""

    index: int
    kind: str
    now: datetime
    pulled: tuple[str, ...]
    report: CycleReport | None = None
    outcome: CycleOutcome | None = None
    crash: str | None = None
    fired: dict[str, list[Fired]] = field(default_factory=dict)
    #: Connectors whose pull (people or activities) failed in this cycle.
    failed_pulls: frozenset[str] = frozenset()
    #: The webhook's people could not be read by id (a hook cycle's people pull failed).
    by_id_failed: bool = False
    #: The records the store held when the cycle began (what LeadSync knew of).
    known_records: frozenset[str] = frozenset()

    def raised(self, connector: str | None = None) -> list[Fired]:
        """Faults that reached the engine as errors (of one connector, or any)."""
        names = [connector] if connector else list(self.fired)
        return [f for n in names for f in self.fired.get(n, []) if f.raised]


class World:
    def __init__(self, store_url: str, cap: int, crms: dict[str, MemoryCRM] | None = None) -> None:
        self.store_url = store_url
        self.cap = cap
        self.now = START
        self.crms = crms or new_crms()
        for crm in self.crms.values():
            crm.set_clock(START)
        self.connectors = {name: MemoryConnector(crm, name) for name, crm in self.crms.items()}
        for connector in self.connectors.values():
            connector.page_size = 3  # several pages per pull: faults can land between them
        self.settings = settings_from_dict(life_config(cap), "life")
        self.cycles = 0
        self.steps: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        #: When each connector's pull of each stream last completed: the cycle's start.
        self.seen_until: dict[tuple[str, str], datetime] = {}
        #: When each record's opt-out flag was set, by (connector, record id).
        self.opted_at: dict[tuple[str, str], datetime] = {}
        self.forgotten_emails: set[str] = set()
        self.forgotten_people: set[int] = set()
        #: Every record the forgotten people held: a person is forgotten whole, with the
        #: other addresses a merge gave it, and a fresh store still reads those records.
        self.forgotten_records: set[str] = set()
        self.forgotten_task_keys: set[str] = set()
        self._activity_ids = 0
        self._last_cycle_at = START
        #: The facts of the latest cycle (a ``cycle`` step's outcome).
        self.last = CycleFacts(0, "none", START, ())
        self.store = Store(store_url)
        self._build()

    # -- the engine -----------------------------------------------------------------------

    def _build(self) -> None:
        self.engine: SyncEngine = build_engine(
            self.settings, self.store, dict(self.connectors), clock=lambda: self.now
        )
        self.cycle_log = CycleLog(started_at=self.now)
        self.runner = CycleRunner(
            self.engine, threading.Event(), [self.cycle_log.record], clock=lambda: self.now
        )

    def restart(self) -> None:
        """A new process over the same store: nothing survives but the store and the CRMs."""
        self.store.close()
        self.store = Store(self.store_url)
        self._build()

    def close(self) -> None:
        self.store.close()

    def disarm(self) -> None:
        """The faults stop: those no call met yet are dropped (and counted)."""
        for connector in self.connectors.values():
            for call, fault in connector.disarm():
                self.faults[f"unmet {call}:{fault.kind}"] += 1

    # -- people and records -----------------------------------------------------------------

    def record_id(self, connector: str, slot: int) -> str | None:
        """The slot's record in ``connector``: in Salesforce its Contact once it has one."""
        people_there = self.crms[connector].people
        if connector == HS:
            return f"H{slot}" if f"H{slot}" in people_there else None
        for rid in (f"C{slot}", f"L{slot}"):
            if rid in people_there:
                return rid
        return None

    def live(self, connector: str, slot: int) -> str | None:
        rid = self.record_id(connector, slot)
        if rid is None:
            return None
        record = self.crms[connector].people[rid]
        if record.get("deleted") or record.get("converted_at"):
            return None
        return rid

    def _activity(
        self, connector: str, rid: str | None, kind: str, name: str = "", **kw: Any
    ) -> None:
        self._activity_ids += 1
        aid = f"{connector[0].upper()}A{self._activity_ids}"
        self.crms[connector].add_activity(aid, rid, kind, name, **kw)

    def _targets(self, step: Step) -> list[str]:
        return [SF, HS] if step.crm == "both" else [step.crm]

    # -- steps ------------------------------------------------------------------------------

    def apply(self, step: Step) -> bool:
        """Play one step; ``False`` when it had nothing to act on (it then did nothing)."""
        handler = getattr(self, f"_do_{step.kind}")
        done = bool(handler(step))
        if done:
            self.steps[step.kind] += 1
        return done

    def _do_create(self, step: Step) -> bool:
        done = False
        for connector in self._targets(step):
            if self.record_id(connector, step.who) is not None:
                continue
            rid = f"L{step.who}" if connector == SF else f"H{step.who}"
            kind = "Lead" if connector == SF else "contact"
            attrs = dict(PROFILES[step.n % len(PROFILES)])
            self.crms[connector].add_person(rid, email_of(step.who), kind, **attrs)
            done = True
        return done

    def _do_edit(self, step: Step) -> bool:
        rid = self.live(step.crm, step.who)
        if rid is None:
            return False
        choices = VALUES[step.arg]
        value = choices[step.n % len(choices)]
        self.crms[step.crm].set_attribute(rid, step.arg, value)
        if step.n >= 3:
            self.steps["unreadable"] += 1
        return True

    def _do_edit_during(self, step: Step) -> bool:
        """An edit that lands while the connector's next cycle runs, after it read the people
        (a rep working the lead as LeadSync scores it)."""
        if self.live(step.crm, step.who) is None:
            return False
        self.connectors[step.crm].during_activities_pull.append(partial(self._do_edit, step))
        return True

    def _do_form(self, step: Step) -> bool:
        rid = self.live(step.crm, step.who)
        if rid is None:
            return False
        self._activity(step.crm, rid, "form_submission", step.arg)
        return True

    def _do_campaign(self, step: Step) -> bool:
        rid = self.live(SF, step.who)
        if rid is None:
            return False
        self._activity(SF, rid, "campaign_response", "Product webinar",
                       campaign_type="Webinar", member_status="Registered")  # fmt: skip
        return True

    def _do_email(self, step: Step) -> bool:
        if self.live(HS, step.who) is None:
            return False
        # HubSpot's email events name only the address.
        url = "https://example.com/pricing" if step.arg == "email_click" else None
        self._activity(HS, None, step.arg, "Newsletter", email=email_of(step.who), url=url)
        return True

    def _do_page(self, step: Step) -> bool:
        rid = self.live(HS, step.who)
        if rid is None:
            return False
        self._activity(HS, rid, "page_view", "Blog", url="https://example.com/blog/post")
        return True

    def _do_opt_out(self, step: Step) -> bool:
        rid = self.live(step.crm, step.who)
        if rid is None:
            return False
        crm = self.crms[step.crm]
        crm.touch(rid, opted_out=bool(step.n))
        if step.n:
            self.opted_at.setdefault(
                (step.crm, rid), datetime.fromisoformat(crm.people[rid]["modified"])
            )
        else:
            self.opted_at.pop((step.crm, rid), None)
        return True

    def _do_status(self, step: Step) -> bool:
        rid = self.live(SF, step.who)
        if rid is None:
            return False
        self.crms[SF].set_status(rid, step.arg)
        return True

    def _do_touch(self, step: Step) -> bool:
        """A sales call logged by the record's owner."""
        rid = self.live(SF, step.who)
        owner = self.crms[SF].owners.get(rid or "")
        if rid is None or owner is None:
            return False
        self._activity(SF, rid, "call", "Intro call", actor=owner)
        return True

    def _do_convert(self, step: Step) -> bool:
        lead = f"L{step.who}"
        if self.live(SF, step.who) != lead:
            return False
        contact = f"C{step.who}"
        self.crms[SF].convert(lead, contact)
        if (SF, lead) in self.opted_at:
            stamp = datetime.fromisoformat(self.crms[SF].people[contact]["modified"])
            self.opted_at[(SF, contact)] = stamp
        return True

    def _do_merge(self, step: Step) -> bool:
        loser, survivor = self.live(step.crm, step.other), self.live(step.crm, step.who)
        if loser is None or survivor is None or loser == survivor:
            return False
        self.crms[step.crm].merge(loser, survivor)
        return True

    def _do_delete(self, step: Step) -> bool:
        rid = self.live(step.crm, step.who)
        if rid is None:
            return False
        self.crms[step.crm].touch(rid, deleted=True)
        return True

    def _do_undelete(self, step: Step) -> bool:
        rid = self.record_id(step.crm, step.who)
        crm = self.crms[step.crm]
        if rid is None or not crm.people[rid].get("deleted") or crm.people[rid].get("merged_into"):
            return False
        crm.touch(rid, deleted=False)
        if crm.people[rid].get("opted_out"):
            self.opted_at[(step.crm, rid)] = datetime.fromisoformat(crm.people[rid]["modified"])
        return True

    def _do_forget(self, step: Step) -> bool:
        """``leadsync forget``; with ``n=1`` the admin erased the person in both CRMs first."""
        email = email_of(step.who)
        if step.n:
            for connector, crm in self.crms.items():
                rid = self.live(connector, step.who)
                if rid is None:
                    continue
                crm.people[rid]["attrs"] = {}
                crm.touch(rid, deleted=True)
                for activity in crm.activities.values():
                    if activity["person"] == rid or activity.get("email") == email:
                        activity["deleted"] = True
                        activity["modified"] = crm.tick().isoformat()
        with self.store.transaction() as conn:
            # Whom ``forget`` takes: a person with a record (live, merged or deleted) or a
            # head carrying the address.
            by_record = sa.select(crm_records.c.person_id).where(crm_records.c.email_norm == email)
            ids = list(
                conn.execute(
                    sa.select(people.c.id).where(
                        sa.or_(people.c.email_norm == email, people.c.id.in_(by_record))
                    )
                ).scalars()
            )
            self.forgotten_people.update(ids)
            self.forgotten_records.update(
                conn.execute(
                    sa.select(crm_records.c.uid).where(crm_records.c.person_id.in_(ids))
                ).scalars()
            )
            # A merge may have renumbered their hand-offs: their tasks' keys are kept as sent.
            owed = sa.select(handoffs.c.id).where(handoffs.c.person_id.in_(ids))
            self.forgotten_task_keys.update(
                conn.execute(
                    sa.select(actions.c.key).where(
                        actions.c.kind == "task", actions.c.handoff_id.in_(owed)
                    )
                ).scalars()
            )
            done = forget(conn, email, self.now)
        self.forgotten_emails.add(email)
        return bool(done.people) or bool(step.n)

    def _do_reject(self, step: Step) -> bool:
        """The CRM refuses this record's writes: a row lock for ``n`` attempts, or a
        validation rule until ``unreject`` (``n=0``)."""
        rid = self.live(step.crm, step.who)
        if rid is None:
            return False
        crm = self.crms[step.crm]
        if step.arg == "UNABLE_TO_LOCK_ROW" or step.n:
            crm.reject_next[rid] = [step.arg] * max(step.n, 1)
        else:
            crm.reject[rid] = step.arg
        return True

    def _do_unreject(self, step: Step) -> bool:
        rid = self.record_id(step.crm, step.who)
        return self.crms[step.crm].reject.pop(rid or "", None) is not None

    def _do_rep(self, step: Step) -> bool:
        """A rep leaves or comes back (an inactive user is skipped by round-robin)."""
        user = self.crms[SF].users[step.n % len(REPS)]
        user["active"] = not user["active"]
        return True

    def _do_fault(self, step: Step) -> bool:
        call, kind = step.arg.split(":")
        self.connectors[step.crm].arm(call, Fault(kind, step.n))
        return True

    def _do_wait(self, step: Step) -> bool:
        self.now += timedelta(minutes=step.n)
        for crm in self.crms.values():
            crm.set_clock(self.now)  # what people do next happens now, not before
        return True

    def _do_restart(self, step: Step) -> bool:
        self.restart()
        return True

    def _do_cycle(self, step: Step) -> bool:
        self.last = self.cycle(step.arg)
        return True

    # -- cycles -----------------------------------------------------------------------------

    def cycle(self, kind: str) -> CycleFacts:
        """One cycle of ``kind``: a connector's scheduled one, ``hook`` (HubSpot's webhook
        names the contacts changed since the last cycle), ``all`` (``leadsync sync``),
        ``replay`` (``leadsync sync --retry-failed``) or ``decay`` (the daily decay pass)."""
        self.now += INTERVAL
        for crm in self.crms.values():
            crm.set_clock(self.now)
        for connector in self.connectors.values():
            connector.fired, connector.people_pulls = [], 0
        self.cycles += 1
        pulled = (kind,) if kind in (SF, HS) else (HS,) if kind == "hook" else (SF, HS)
        with self.store.reading() as conn:
            known = frozenset(conn.execute(sa.select(crm_records.c.uid)).scalars())
        facts = CycleFacts(self.cycles, kind, self.now, pulled, known_records=known)
        reads_before = len(self.connectors[HS].read_attempts)
        notified: Sequence[RecordRef] = ()
        try:
            if kind in (SF, HS, "hook"):
                notified = self._changed_contacts() if kind == "hook" else ()
                name = HS if kind == "hook" else kind
                outcome = self.runner.run(name, notified)
                facts.outcome = outcome
                if outcome is not None and outcome.report is not None:
                    facts.report = outcome.report
                elif outcome is not None and outcome.status == "error":
                    facts.crash = "; ".join(e.splitlines()[0][:300] for e in outcome.errors)
            else:
                facts.report = self.engine.run(
                    CycleRequest(decay=kind == "decay", retry_failed=kind == "replay")
                )
        except CycleBusy as exc:
            facts.crash = f"CycleBusy: {exc}"
        except Exception as exc:  # a cycle must never raise: the invariant records it
            facts.crash = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
        for name, connector in self.connectors.items():
            facts.fired[name] = list(connector.fired)
            for fired in connector.fired:
                self.faults[f"{fired.call}:{fired.kind}"] += 1
        # The webhook's people are read by id before anything else reads people by id (a
        # re-read after ``forget`` comes later): only that read failing is a failed pull.
        reads = self.connectors[HS].read_attempts[reads_before:]
        facts.by_id_failed = bool(notified) and bool(reads) and not reads[0][1]
        facts.failed_pulls = self._note_pulls(facts)
        self._last_cycle_at = self.now
        return facts

    def _changed_contacts(self) -> list[RecordRef]:
        since = self._last_cycle_at.isoformat()
        return [
            RecordRef(HS, p.get("object", "contact"), rid)
            for rid, p in self.crms[HS].people.items()
            if p["modified"] >= since
        ]

    def _note_pulls(self, facts: CycleFacts) -> frozenset[str]:
        """Record which streams were read completely in this cycle; return the connectors
        whose pull failed."""
        failed = set()
        for name in facts.pulled:
            # A second people read (others' changes, read after scoring and before the
            # writes) that fails stops the writes, not a pull the scores rested on.
            raised = {f.call for f in facts.raised(name) if f.nth <= 1}
            by_id = name == HS and facts.by_id_failed
            people_ok = "pull_people" not in raised and not by_id and facts.crash is None
            activities_ok = people_ok and "pull_activities" not in raised
            if not (people_ok and activities_ok):
                failed.add(name)
            if people_ok and facts.kind != "hook":
                self.seen_until[(name, "people")] = facts.now
            if activities_ok:
                self.seen_until[(name, "activities")] = facts.now
        return frozenset(failed)
