"""The slow life: the real Salesforce and HubSpot connectors over both sandboxes, over HTTP.

The sandboxes' own traffic generators are the org's humans (new leads, campaign responses
and web forms, rep tasks, recycles, conversions; HubSpot contacts, forms, email events,
unsubscribes, webinars, meetings); faults go in through ``POST /_sandbox/faults`` (5xx, rate
limits, expired sessions and tokens, row locks, record rejections) with the connectors'
retries set to 0, so each one reaches the engine. The invariants checked are those that need
no oracle of the CRM's insides: no cycle raises, a cycle that met an error is recorded and
seen by ``/readyz``, one task per hand-off (by the task's key in Salesforce), and once the
faults stop nothing is left owed and a fresh store's backfill over the same sandboxes scores
everyone the same. Opt-outs and partial histories are the memory life's job, where the
world knows what LeadSync could have seen.
"""

from __future__ import annotations

import random
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from jobs.runner import CycleRunner
from leadsync.config import settings_from_dict
from leadsync.engine.request import CycleRequest
from leadsync.sandboxes import Sandboxes, running_sandboxes
from leadsync.service.state import CycleLog
from leadsync.store import Store
from leadsync.store.schema import actions, handoffs, pending_writes
from leadsync.wiring import build_connectors, build_engine
from sandboxes.hubspot.traffic import TrafficGenerator as HubSpotTraffic
from sandboxes.salesforce.traffic import TrafficGenerator as SalesforceTraffic
from sandboxes.salesforce.traffic import TrafficRates
from tests.engine.life.convergence import COMPARED, SCORE_SLACK, _scores_by_records
from tests.engine.life.invariants import Violation, _failure_recorded, _readiness
from tests.engine.life.life import LifeResult
from tests.engine.life.steps import HS, SF, LifePlan
from tests.engine.life.world import INTERVAL, CycleFacts
from tests.engine.memory_crm import Fired

#: Faults per sandbox, and whether the engine must see them as an error (a row lock is a
#: record-level refusal, an expired Salesforce session is renewed by the connector).
FAULTS: dict[str, tuple[tuple[dict[str, Any], bool], ...]] = {
    SF: (
        ({"kind": "http_error", "status": 503}, True),
        ({"kind": "http_error", "status": 500}, True),
        ({"kind": "rate_limit"}, True),
        ({"kind": "lock_rows", "count": 3}, False),
        ({"kind": "expire_sessions"}, False),
    ),
    # No HubSpot rate limit: the connector waits out the ten-second window and retries
    # whatever max_retries says (by design), which costs the life ten seconds a time.
    HS: (
        ({"kind": "http_error", "status": 502}, True),
        ({"kind": "http_error", "status": 503}, True),
        ({"kind": "expire_token", "count": 1}, True),
    ),
}
LEADS = 30


class SandboxWorld:
    """The engine over both sandboxes, scheduled as the service does, on real time."""

    def __init__(self, sandboxes: Sandboxes, store_url: str, cap: int) -> None:
        data = sandboxes.config_data(store_url)
        for section in data["connectors"].values():
            section["max_retries"] = 0  # every injected fault reaches the engine
        # Real time: a rejected write's back-off must run out within the life's seconds.
        data["sync"] = {"handoffs_per_cycle": cap, "pull_batch": 20, "retry_backoff_seconds": 0.01}
        self.settings = settings_from_dict(data, "life-sandbox")
        self.sandboxes = sandboxes
        self.store_url = store_url
        self.cycles = 0
        self.store = Store(store_url)
        self._build()

    def _build(self) -> None:
        self.connectors = build_connectors(self.settings)
        self.engine = build_engine(self.settings, self.store, self.connectors)
        self.cycle_log = CycleLog(started_at=datetime.now(UTC))
        self.runner = CycleRunner(self.engine, threading.Event(), [self.cycle_log.record])

    def restart(self) -> None:
        self.close()
        self.store = Store(self.store_url)
        self._build()

    def close(self) -> None:
        for connector in self.connectors.values():
            connector.close()
        self.store.close()

    def armed(self) -> dict[str, Counter[str]]:
        sf = Counter(str(f["kind"]) for f in self.sandboxes.salesforce.api.faults.armed())
        hs = Counter(str(f["kind"]) for f in self.sandboxes.hubspot.faults.describe()["active"])
        return {SF: sf, HS: hs}

    def cycle(self, kind: str, surfacing: dict[str, set[str]]) -> CycleFacts:
        before = self.armed()
        self.cycles += 1
        facts = CycleFacts(
            self.cycles, kind, datetime.now(UTC), (kind,) if kind != "all" else (SF, HS)
        )
        try:
            if kind == "all":
                facts.report = self.engine.run()
            else:
                facts.outcome = self.runner.run(kind)
                if facts.outcome is not None and facts.outcome.report is not None:
                    facts.report = facts.outcome.report
                elif facts.outcome is not None and facts.outcome.status == "error":
                    facts.crash = "; ".join(e.splitlines()[0] for e in facts.outcome.errors)
        except Exception as exc:  # recorded by the no-crash invariant
            facts.crash = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
        facts.now = datetime.now(UTC)
        after = self.armed()
        for name in (SF, HS):
            used = before[name] - after[name]
            facts.fired[name] = [
                Fired("http", kind_, kind_ in surfacing[name], 0)
                for kind_, n in used.items()
                for _ in range(n)
            ]
        return facts


def sandbox_life(seed: int, store_url: str, rounds: int = 8) -> LifeResult:
    """One life over freshly generated sandboxes; ``store_url`` must be an empty store."""
    rng = random.Random(seed)
    began = time.monotonic()
    result = LifeResult(LifePlan(seed, rng.randint(1, 3), ()))
    surfacing = {
        name: {spec["kind"] for spec, loud in specs if loud} for name, specs in FAULTS.items()
    }
    with running_sandboxes(leads=LEADS, seed=seed) as sandboxes:
        world = SandboxWorld(sandboxes, store_url, result.plan.cap)
        rates = TrafficRates(
            new_leads=1, campaign_responses=2, rep_tasks=1, recycles=1, conversions=1
        )
        sf_traffic = SalesforceTraffic(sandboxes.salesforce.org, seed, rates)
        hs_traffic = HubSpotTraffic(sandboxes.hubspot.portal, seed)
        try:
            for _ in range(rounds):
                result.steps.update(
                    f"sf {k}" for k, n in sf_traffic.tick().items() for _ in range(n)
                )
                for _ in range(2):
                    result.steps[f"hs {hs_traffic.step()}"] += 1
                if rng.random() < 0.6:
                    name = rng.choice((SF, HS))
                    spec, _loud = rng.choice(FAULTS[name])
                    _inject(sandboxes, name, spec)
                    result.faults[f"{name}:{spec['kind']}"] += 1
                if rng.random() < 0.15:
                    world.restart()
                    result.steps["restart"] += 1
                facts = world.cycle(rng.choice((SF, HS, "all")), surfacing)
                result.steps["cycle"] += 1
                result.violations.extend(_check(world, facts))
            result.violations.extend(_settle_and_compare(world, surfacing))
        finally:
            world.close()
            result.cycles = world.cycles
            result.seconds = time.monotonic() - began
    return result


def _inject(sandboxes: Sandboxes, name: str, spec: dict[str, Any]) -> None:
    if name == SF:
        sandboxes.salesforce.inject(spec)
    else:
        sandboxes.hubspot.inject(spec)


def _check(world: SandboxWorld, facts: CycleFacts) -> list[Violation]:
    found: list[Violation] = []
    if facts.crash is not None:
        found.append(
            Violation("cycle_raised", facts.index, f"{facts.kind} cycle raised {facts.crash}")
        )
    with world.store.reading() as conn:
        for check in (_failure_recorded, _readiness):
            found.extend(
                Violation(name, facts.index, detail)
                for name, detail in check(world, facts, conn)  # type: ignore[arg-type]
            )
        found.extend(Violation(n, facts.index, d) for n, d in _tasks(world, conn))
    return found


def _tasks(world: SandboxWorld, conn: sa.Connection) -> Any:
    """One Salesforce task per key, and one for every done hand-off told immediately."""
    keys = Counter(
        str(t.get("LeadSync_Key__c"))
        for t in world.sandboxes.salesforce.org.rows("Task")
        if t.get("LeadSync_Key__c") and not t.get("IsDeleted")
    )
    for key, n in keys.items():
        if n > 1:
            yield "one_task_per_handoff", f"{n} Salesforce tasks carry the key {key}"
    for row in conn.execute(
        sa.select(handoffs).where(handoffs.c.state == "done", handoffs.c.mode == "immediate")
    ):
        key = f"ls-{row.person_id}-{row.seq}"
        if key not in keys:
            yield "one_task_per_handoff", f"hand-off {key} is done but Salesforce has no such task"


def _settle_and_compare(world: SandboxWorld, surfacing: dict[str, set[str]]) -> list[Violation]:
    found: list[Violation] = []
    for name in (SF, HS):
        _inject(world.sandboxes, name, {"kind": "clear"})
    for kind in (SF, HS, "all", "all"):
        facts = world.cycle(kind, surfacing)
        found.extend(_check(world, facts))
    index = world.cycles
    with world.store.reading() as conn:
        owed = conn.execute(
            sa.select(sa.func.count())
            .select_from(pending_writes)
            .where(pending_writes.c.state != "parked")
        ).scalar_one()
        undone = conn.execute(
            sa.select(actions.c.key, actions.c.state, actions.c.error_code).where(
                actions.c.state == "pending", actions.c.error_code.is_(None)
            )
        ).all()
        ours = _scores_by_records(conn)
    if owed:
        found.append(
            Violation("converged_writes", index, f"{owed} writes still owed after the faults")
        )
    for key, state, code in undone:
        found.append(Violation("converged_actions", index, f"action {key} still {state} ({code})"))
    with tempfile.TemporaryDirectory(prefix="leadsync-life-") as folder:
        url = f"sqlite:///{Path(folder) / 'fresh.db'}"
        fresh_store = Store(url)
        connectors = build_connectors(world.settings)
        try:
            build_engine(world.settings, fresh_store, connectors).run(
                CycleRequest(full=True, no_actions=True)
            )
            with fresh_store.reading() as conn:
                theirs = _scores_by_records(conn)
        finally:
            for connector in connectors.values():
                connector.close()
            fresh_store.close()
    for key in sorted(set(ours) | set(theirs)):
        mine, fresh_one = ours.get(key), theirs.get(key)
        if mine is None or fresh_one is None:
            where = "a fresh backfill only" if mine is None else "this life only"
            found.append(
                Violation("converged_people", index, f"records {list(key)} are a person in {where}")
            )
            continue
        names = ("fit",) if mine["recycle_count"] else COMPARED
        for name in names:
            if mine[name] != fresh_one[name]:
                detail = f"{list(key)}: {name} {mine[name]!r} here, {fresh_one[name]!r} fresh"
                found.append(Violation("converged_scores", index, detail))
        if not mine["recycle_count"] and abs(mine["score"] - fresh_one["score"]) >= SCORE_SLACK:
            detail = f"{list(key)}: score {mine['score']} here, {fresh_one['score']} fresh"
            found.append(Violation("converged_scores", index, detail))
    return found


__all__ = ["INTERVAL", "SandboxWorld", "sandbox_life"]
