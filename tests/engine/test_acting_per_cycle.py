"""What the actor does in a cycle lives in that cycle's ``Acting``, not on the long-lived
actor: the report it counts into, the CRM users it read, the owner changes riding in its
writes. A second cycle starts from nothing the first one left behind."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from leadsync.engine.act import Actor, ActReport, ActSettings
from tests.engine.memory_crm import MemoryConnector, MemoryCRM

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def _actor(names: list[str]) -> tuple[Actor, dict[str, MemoryConnector]]:
    crm = MemoryCRM()
    crm.add_user("rep-a", "Ann Rep")
    connectors = {name: MemoryConnector(crm, name) for name in names}
    return Actor(ActSettings(), connectors, lambda: T0), connectors


def test_the_actor_keeps_only_what_outlives_a_cycle() -> None:
    actor, _ = _actor(["crm_a"])
    acting = actor.begin_cycle(ActReport())
    acting.users_of("crm_a").get()
    assert set(vars(actor)) == {"settings", "connectors", "clock"}


def test_each_cycle_counts_into_its_own_report_and_reads_users_at_most_once() -> None:
    rng = random.Random(26)
    names = ["crm_a", "crm_b", "crm_c"]
    actor, connectors = _actor(names)
    for _ in range(5):
        acted = ActReport()
        acting = actor.begin_cycle(acted)
        assert acting.report is acted and acting.riding == {}
        before = {name: c.calls for name, c in connectors.items()}
        asked = [rng.choice(names) for _ in range(rng.randrange(0, 6))]
        for name in asked:
            assert [u.id for u in acting.users_of(name).get()] == ["rep-a"]
        acting.report.breaches += len(asked)
        assert acted.breaches == len(asked)
        # Each CRM's users are read once in a cycle that needs them, and again in the next.
        read = {name: c.calls - before[name] for name, c in connectors.items()}
        assert read == {name: int(name in asked) for name in names}
