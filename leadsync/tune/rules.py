"""What the history says about each engagement rule, beside the points suggested for it.

Points come from the regression; this is the evidence an admin checks them against: how many
training leads the rule fired for, how many of those converted against the leads it never fired
for (each rate with its 95 % Wilson interval, and the lift with its interval), and a warning
where the suggestion deserves doubt: a rule seen for few leads (its points swing from one
history to the next), or a sign flipped against the config, explained by the rates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from leadsync.report.dataset import Dataset, Lead
from leadsync.report.stats import Share
from leadsync.tune.checklist import compare, has_fired, lift_of

#: Fewer leads than this with the rule fired: its points are flagged as unstable.
RARE_LEADS = 30
#: Units a rule's measure may be counted in, smallest first (seconds -> minutes -> hours...).
UNIT_FACTORS = (10, 60, 100, 600, 1000, 3600, 10_000, 100_000)
#: Points a measure's unit should be worth at least: rounding then costs at most 5 %.
MIN_UNIT_POINTS = 10


@dataclass(frozen=True, slots=True)
class RuleEvidence:
    name: str
    current: float
    suggested: int
    fired: Share
    not_fired: Share
    lift: float | None
    lift_low: float
    lift_high: float
    note: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "leads_fired": self.fired.to_dict(),
            "leads_not_fired": self.not_fired.to_dict(),
            "lift": self.lift,
            "lift_low": self.lift_low,
            "lift_high": None if self.lift_high == float("inf") else self.lift_high,
            "note": self.note or None,
        }


def rule_evidence(
    ds: Dataset, leads: Sequence[Lead], suggested: Sequence[int], unrounded: Sequence[float]
) -> tuple[RuleEvidence, ...]:
    """Each rule's rates and warnings; ``unrounded`` are the points before rounding, so a rule
    worth a fraction of a point per unit (seconds on site) is told which unit keeps it."""
    found = []
    for i, name in enumerate(ds.rules):
        with_rule, without = compare(leads, has_fired(i))
        lift, low, high = lift_of(with_rule, without)
        current, points = ds.points[i], suggested[i]
        note = _note(current, points, with_rule, without, low, high)
        unit = _unit(unrounded[i]) if with_rule.n and name in ds.measures else ""
        found.append(
            RuleEvidence(
                name, current, points, with_rule, without, lift, low, high,
                "; ".join(n for n in (unit, note) if n),
            )
        )  # fmt: skip
    return tuple(found)


def _unit(unrounded: float) -> str:
    """For a measure whose unit is worth too few points to round well (seconds on site): the
    unit that keeps its points (integer points per unit round away up to half a point)."""
    if unrounded == 0 or abs(unrounded) >= MIN_UNIT_POINTS:
        return ""
    for factor in UNIT_FACTORS:
        worth = round(unrounded * factor)
        if abs(worth) >= MIN_UNIT_POINTS:
            return (
                f"worth {unrounded:+.2f} points per unit, which rounds to "
                f"{round(unrounded):+d}: count it in units {factor:,} times larger "
                f"([measures] per = {factor:,} x its current per) for {worth:+d} points each"
            )
    return ""


def _note(
    current: float, suggested: int, fired: Share, idle: Share, low: float, high: float
) -> str:
    if fired.n == 0:
        return "never fired in this history: points kept"
    notes = []
    if fired.n < RARE_LEADS:
        notes.append(
            f"rare: fired for {fired.n} leads, so its points are unsure "
            f"(lift interval {low:.2f}-{_bound(high)})"
        )
    if current * suggested < 0:
        rate, other = fired.rate or 0.0, idle.rate or 0.0
        rates = f"{rate:.1%} of the leads it fired for converted, {other:.1%} of the others"
        if (rate > other) == (suggested > 0):
            notes.append(f"sign flipped: {rates}")
        else:
            notes.append(
                f"sign flipped: {rates}, but less than the other rules those leads also "
                "fired explain"
            )
    return "; ".join(notes)


def _bound(value: float) -> str:
    return "inf" if value == float("inf") else f"{value:.2f}"
