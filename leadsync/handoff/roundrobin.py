"""Round-robin inside a pool: smooth weighted round-robin with state the caller persists.

The scheme is nginx's smooth weighted round-robin. Each member carries a "current weight";
on every pick each *available* member's current weight grows by its configured weight, the
largest wins (the first in member order on a tie), and the winner gives back the sum of the
weights that took part. With weights 2:1 the picks run A B A A B A ..., never bunching, and
over any run of ``sum(weights)`` picks each member gets exactly its share. An unavailable
member (inactive, at its daily cap) takes no part, so it banks no credit while away.

Fair across restarts: the current weights and today's counts live in ``RoutingState``, which
the caller stores and hands back; the same state and inputs give the same pick.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any


@dataclass(frozen=True, slots=True)
class RoutingState:
    """Round-robin cursors per pool and each pool's hand-offs per rep on its business day.

    ``days`` holds, per pool, the date in that pool's time zone its counts belong to: a pool
    whose day has turned has its counts reset on first use (``on_pool``), each at its own
    midnight; the cursors carry over, so fairness does.
    """

    #: pool name -> member id -> smooth weighted round-robin current weight.
    cursors: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    #: pool name -> the business day its counts in ``assigned`` belong to.
    days: Mapping[str, date] = field(default_factory=dict)
    #: pool name -> member id -> hand-offs given on that pool's day.
    assigned: Mapping[str, Mapping[str, int]] = field(default_factory=dict)

    def on_pool(self, pool: str, day: date) -> RoutingState:
        """This state with ``pool`` as of ``day``: its counts from another day are dropped."""
        if self.days.get(pool) == day:
            return self
        assigned = {p: c for p, c in self.assigned.items() if p != pool}
        return replace(self, days={**self.days, pool: day}, assigned=assigned)

    def count(self, pool: str, member: str) -> int:
        """Hand-offs ``member`` got from ``pool`` on the pool's day."""
        return self.assigned.get(pool, {}).get(member, 0)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form; ``RoutingState.from_dict`` restores an equal state."""
        return {
            "cursors": {p: dict(c) for p, c in self.cursors.items()},
            "days": {p: d.isoformat() for p, d in self.days.items()},
            "assigned": {p: dict(c) for p, c in self.assigned.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RoutingState:
        """Rebuild a state from ``to_dict`` output (e.g. read back from the store). A state
        stored before days were kept per pool had one ``day`` for every pool's counts."""
        assigned = {
            str(p): {str(m): int(n) for m, n in c.items()}
            for p, c in (data.get("assigned") or {}).items()
        }
        days = {str(p): date.fromisoformat(d) for p, d in (data.get("days") or {}).items()}
        if not days and data.get("day"):
            days = {p: date.fromisoformat(data["day"]) for p in assigned}
        return cls(
            cursors={
                str(p): {str(m): float(w) for m, w in c.items()}
                for p, c in (data.get("cursors") or {}).items()
            },
            days=days,
            assigned=assigned,
        )


def pick(
    members: Sequence[str],
    weights: Sequence[float],
    current: Mapping[str, float],
    available: Collection[str],
) -> tuple[str | None, dict[str, float]]:
    """One smooth weighted round-robin pick among ``available`` members.

    Returns the chosen member (``None`` when no member is available) and the new current
    weights of every member (members no longer configured are dropped, new ones start at 0).
    """
    new = {m: float(current.get(m, 0.0)) for m in members}
    total = 0.0
    best: str | None = None
    for member, weight in zip(members, weights, strict=True):
        if member not in available:
            continue
        new[member] += weight
        total += weight
        if best is None or new[member] > new[best]:
            best = member
    if best is None:
        return None, new
    new[best] -= total
    return best, new


def advance(
    state: RoutingState, pool: str, cursor: Mapping[str, float], chosen: str
) -> RoutingState:
    """``state`` after ``chosen`` took one hand-off from ``pool`` (cursor and count moved)."""
    cursors = dict(state.cursors)
    cursors[pool] = dict(cursor)
    assigned = {p: dict(c) for p, c in state.assigned.items()}
    pool_counts = assigned.setdefault(pool, {})
    pool_counts[chosen] = pool_counts.get(chosen, 0) + 1
    return replace(state, cursors=cursors, assigned=assigned)
