"""The per-cycle cap on hand-offs, so a backfill or a model change cannot flood reps.

Hand-offs over the cap wait for the next cycle in priority order: hand-raisers first, then by
score (highest first); ties keep the order they were queued in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar


class Prioritised(Protocol):
    """Anything with a readiness and a score can be put in hand-off order."""

    @property
    def readiness(self) -> str: ...

    @property
    def score(self) -> float: ...


P = TypeVar("P", bound=Prioritised)


@dataclass(frozen=True, slots=True)
class PendingHandoff:
    """A decided hand-off waiting for its turn under the cap."""

    person_key: str
    readiness: str
    score: float
    seq: int
    queued_at: datetime


def priority_key(item: Prioritised) -> tuple[int, float]:
    """Sort key: hand-raisers before everyone else, then higher score first."""
    return (0 if item.readiness == "hand_raiser" else 1, -item.score)


def prioritise(pending: Iterable[P], cap: int) -> tuple[list[P], list[P]]:
    """Split waiting hand-offs into those to act on now (at most ``cap``) and the rest.

    Both lists are in priority order, so the caller can store ``later`` as the next cycle's
    queue. The sort is stable: equal items keep their queued order.
    """
    if cap < 0:
        raise ValueError(f"cap must not be negative (got {cap})")
    ordered = sorted(pending, key=priority_key)
    return ordered[:cap], ordered[cap:]
