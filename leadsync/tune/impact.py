"""What the suggestion would change: leads per matrix cell and hand-offs per month, before and
after, read by the same back-test as the report.

Both configs place every lead of the store's history in its back-test cell (the model's own
scoring, ``leadsync.report.dataset``), the suggested one read from the config file as the
suggestion would leave it. Per month of entry: leads in each cell, and the leads in sales'
cells (the hand-offs that month), and, when ``[handoff]`` is on, whom each hand-off would go
to, routed again by the product's rules (``leadsync.tune.routing_impact``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from leadsync.handoff import PersonFacts
from leadsync.model import ModelSpec
from leadsync.report.dataset import Lead
from leadsync.tune.routing_impact import Router, by_month, facts_from_values

#: Months of entries shown, the latest first.
MONTHS = 6


@dataclass(frozen=True, slots=True)
class MonthImpact:
    month: str
    #: cell -> (leads before, leads after)
    cells: dict[str, tuple[int, int]]
    handoffs: tuple[int, int]
    #: owner id -> (hand-offs before, after); empty without a router.
    owners: dict[str, tuple[int, int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "month": self.month,
            "cells": {cell: {"current": a, "suggested": b} for cell, (a, b) in self.cells.items()},
            "handoffs": {"current": self.handoffs[0], "suggested": self.handoffs[1]},
            "owners": {o: {"current": a, "suggested": b} for o, (a, b) in self.owners.items()},
        }


@dataclass(frozen=True, slots=True)
class Impact:
    months: tuple[MonthImpact, ...]
    #: What the hand-offs were routed again with (``None``: hand-off is off).
    router: Router | None = None

    def to_dict(self) -> dict[str, Any]:
        routing = None
        if self.router is not None:
            owners = sorted({o for month in self.months for o in month.owners})
            routing = {
                "assumes": self.router.assumes,
                "fallback_owner": self.router.settings.fallback_owner,
                "names": {o: self.router.name(o) for o in owners},
            }
        return {"routing": routing, "months": [m.to_dict() for m in self.months]}


def impact(
    before: Sequence[Lead],
    after: Sequence[Lead],
    current: ModelSpec,
    suggested: ModelSpec,
    router: Router | None = None,
    facts: Mapping[str, PersonFacts] | None = None,
    months: int = MONTHS,
) -> Impact:
    """Per month of entry (the latest ``months``), cells and hand-offs under both configs;
    ``before`` and ``after`` are the same leads read with ``current`` and ``suggested``.
    With a ``router``, every hand-off of each is routed again; ``facts`` are the leads'
    routing facts by ``Lead.key`` (else read from their text values)."""
    counts_before = _by_month(before)
    counts_after = _by_month(after)
    shown = sorted(set(counts_before) | set(counts_after), reverse=True)[:months]
    owners_before: dict[str, Counter[str]] = {}
    owners_after: dict[str, Counter[str]] = {}
    if router is not None:
        owners_before = by_month(router, _handoffs(before, current, router, facts))
        owners_after = by_month(router, _handoffs(after, suggested, router, facts))
    rows = []
    for month in shown:
        a, b = counts_before.get(month, Counter()), counts_after.get(month, Counter())
        cells = {cell: (a[cell], b[cell]) for cell in sorted(set(a) | set(b))}
        x, y = owners_before.get(month, Counter()), owners_after.get(month, Counter())
        owners = {o: (x[o], y[o]) for o in sorted(set(x) | set(y))}
        rows.append(MonthImpact(month, cells, (_sales(a, current), _sales(b, suggested)), owners))
    return Impact(tuple(rows), router)


def _by_month(leads: Sequence[Lead]) -> dict[str, Counter[str]]:
    found: dict[str, Counter[str]] = {}
    for lead in leads:
        if lead.entered_at is None or lead.cell is None:
            continue
        found.setdefault(f"{lead.entered_at:%Y-%m}", Counter())[lead.cell] += 1
    return found


def _is_sales(cell: str, spec: ModelSpec) -> bool:
    fit, _, readiness = cell.partition("/")
    return bool(readiness) and spec.team(fit, readiness) == "sales"


def _sales(cells: Counter[str], spec: ModelSpec) -> int:
    return sum(count for cell, count in cells.items() if _is_sales(cell, spec))


def _handoffs(
    leads: Sequence[Lead],
    spec: ModelSpec,
    router: Router,
    facts: Mapping[str, PersonFacts] | None,
) -> list[tuple[datetime, PersonFacts]]:
    """The leads entering a sales cell, each with its entry time and routing facts."""
    given = facts or {}
    return [
        (lead.entered_at, given.get(lead.key) or facts_from_values(lead.values, router.aliases))
        for lead in leads
        if lead.entered_at is not None and lead.cell is not None and _is_sales(lead.cell, spec)
    ]
