"""What the suggestion would change: leads per matrix cell and hand-offs per month, before and
after, read by the same back-test as the report.

Both configs place every lead of the store's history in its back-test cell (the model's own
scoring, ``leadsync.report.dataset``), the suggested one read from the config file as the
suggestion would leave it. Per month of entry: leads in each cell, and the leads in sales'
cells (the hand-offs that month), also per rep of the routing pool when one is configured.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from leadsync.model import ModelSpec
from leadsync.report.dataset import Lead

#: Months of entries shown, the latest first.
MONTHS = 6


@dataclass(frozen=True, slots=True)
class MonthImpact:
    month: str
    #: cell -> (leads before, leads after)
    cells: dict[str, tuple[int, int]]
    handoffs: tuple[int, int]

    def to_dict(self) -> dict[str, Any]:
        return {
            "month": self.month,
            "cells": {cell: {"current": a, "suggested": b} for cell, (a, b) in self.cells.items()},
            "handoffs": {"current": self.handoffs[0], "suggested": self.handoffs[1]},
        }


@dataclass(frozen=True, slots=True)
class Impact:
    months: tuple[MonthImpact, ...]
    #: Reps hand-offs are shared among (``None``: no pool configured to divide by).
    reps: int | None

    def to_dict(self) -> dict[str, Any]:
        return {"reps": self.reps, "months": [m.to_dict() for m in self.months]}


def impact(
    before: Sequence[Lead],
    after: Sequence[Lead],
    current: ModelSpec,
    suggested: ModelSpec,
    reps: int | None,
    months: int = MONTHS,
) -> Impact:
    """Per month of entry (the latest ``months``), cells and hand-offs under both configs;
    ``before`` and ``after`` are the same leads read with ``current`` and ``suggested``."""
    counts_before = _by_month(before)
    counts_after = _by_month(after)
    shown = sorted(set(counts_before) | set(counts_after), reverse=True)[:months]
    rows = []
    for month in shown:
        a, b = counts_before.get(month, Counter()), counts_after.get(month, Counter())
        cells = {cell: (a[cell], b[cell]) for cell in sorted(set(a) | set(b))}
        rows.append(MonthImpact(month, cells, (_sales(a, current), _sales(b, suggested))))
    return Impact(tuple(rows), reps)


def _by_month(leads: Sequence[Lead]) -> dict[str, Counter[str]]:
    found: dict[str, Counter[str]] = {}
    for lead in leads:
        if lead.entered_at is None or lead.cell is None:
            continue
        found.setdefault(f"{lead.entered_at:%Y-%m}", Counter())[lead.cell] += 1
    return found


def _sales(cells: Counter[str], spec: ModelSpec) -> int:
    total = 0
    for cell, count in cells.items():
        fit, _, readiness = cell.partition("/")
        if readiness and spec.team(fit, readiness) == "sales":
            total += count
    return total
