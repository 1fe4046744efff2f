"""Per-value points for a categorical column the config does not score yet.

A column with a handful of values (how the lead came in, its plan, its region) often predicts
conversion value by value, which one box cannot say. For each such fit attribute in the
training leads (at most ``MOST_VALUES`` values held by ``MIN_LEADS`` leads or more), the values
whose lift interval lies clearly above or below 1 become attribute rules, and a regression
with them beside the config's boxes and rules gives each its points, in the units of the
suggested points (the same coefficients-to-points scale). Each column is then checked on the
hold-out: the suggestion's AUC, and with that column's value rules added. Like candidate boxes,
they are shown with their evidence for the admin to add, never added on their own.

A value some box or rule already picks out (the same leads, Jaccard ``SAME_LEADS``) is left
out: the config already speaks of it.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import tomlkit

from leadsync.model import round_half_up
from leadsync.report.dataset import Dataset, Lead
from leadsync.report.stats import Share, share
from leadsync.tune.checklist import Checklist, lift_of
from leadsync.tune.regression import evaluate, fit_logistic, points_scale

#: Fewest training leads a value needs to get points.
MIN_LEADS = 30
#: Most values a column may hold (among those held by a few leads) to count as categorical.
MOST_VALUES = 12
#: A value held by fewer leads than this is a typo or a one-off, not a category.
STRAY = 5
#: A box or rule that picks out this share of the same leads (Jaccard) already says it.
SAME_LEADS = 0.8


@dataclass(frozen=True, slots=True)
class ValueRule:
    """One value of a column, as the attribute rule ``tune`` proposes for it."""

    attribute: str
    value: str
    points: int
    with_value: Share
    without: Share
    lift: float
    lift_low: float
    lift_high: float

    @property
    def name(self) -> str:
        return f"{self.attribute}: {self.value}"[:60]

    def to_dict(self) -> dict[str, Any]:
        return {
            "attribute": self.attribute,
            "value": self.value,
            "points": self.points,
            "with_value": self.with_value.to_dict(),
            "without": self.without.to_dict(),
            "lift": self.lift,
            "lift_low": self.lift_low,
            "lift_high": None if math.isinf(self.lift_high) else self.lift_high,
        }

    def toml(self) -> str:
        """The ``[[engagement.rules]]`` entry an admin would add for it (a value holding
        quotes, backslashes or line breaks escaped, so every line stays one line)."""
        entry = {
            "name": self.name,
            "attribute": self.attribute,
            "operator": "one_of",
            "values": [self.value],
            "points": self.points,
        }
        return tomlkit.dumps({"engagement": {"rules": [entry]}}).strip()


@dataclass(frozen=True, slots=True)
class ValuePoints:
    """A column's proposed value rules and what they do to the hold-out's ranking."""

    attribute: str
    rules: tuple[ValueRule, ...]
    #: Hold-out AUC (matrix order) of the suggestion, then with these rules added.
    auc_before: float | None
    auc_after: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "attribute": self.attribute,
            "rules": [rule.to_dict() for rule in self.rules],
            "holdout_auc": {"suggested": self.auc_before, "with_these": self.auc_after},
        }


def value_points(
    ds: Dataset,
    train: Sequence[Lead],
    test: Sequence[Lead],
    points: Sequence[int],
    checklist: Checklist,
    rule_coef: Sequence[float],
) -> tuple[ValuePoints, ...]:
    """Per-value rules for each categorical column no box or rule covers (see the module)."""
    scale = points_scale(rule_coef, ds.points, [any(lead.fired[i] for lead in train)
                                                for i in range(len(ds.rules))])  # fmt: skip
    said = _said(ds, train)
    before = evaluate(ds, test, points, checklist).auc
    found = []
    for attribute, values in _categorical(train).items():
        chosen = []
        for key, (shown, members) in values.items():
            if len(members) < MIN_LEADS or len(train) - len(members) < MIN_LEADS:
                continue
            if any(_jaccard(members, other) >= SAME_LEADS for other in said):
                continue
            hits = sum(bool(train[n].converted) for n in members)
            with_value = share(hits, len(members))
            without = share(_positives(train) - hits, len(train) - len(members))
            lift, low, high = lift_of(with_value, without)
            if lift is not None and (low > 1.0 or high < 1.0):
                chosen.append((key, shown, with_value, without, lift, low, high))
        if not chosen or scale is None:
            continue
        keys = [c[0] for c in chosen]
        wider = _with_indicators(ds, attribute, keys)
        fit = fit_logistic(_extend(train, attribute, keys), len(ds.criteria))
        extra = fit.rule_coef[len(ds.rules) :]
        new_points = [round_half_up(c * scale) for c in extra]
        rules = tuple(
            ValueRule(attribute, shown, p, with_value, without, lift, low, high)
            for (_, shown, with_value, without, lift, low, high), p in zip(
                chosen, new_points, strict=True
            )
            if p != 0
        )
        if not rules:
            continue
        after = evaluate(
            wider, _extend(test, attribute, keys), [*points, *new_points], checklist
        ).auc
        found.append(ValuePoints(attribute, rules, before, after))
    found.sort(key=lambda v: -((v.auc_after or 0.0) - (v.auc_before or 0.0)))
    return tuple(found)


def _categorical(leads: Sequence[Lead]) -> dict[str, dict[str, tuple[str, set[int]]]]:
    """attribute -> value (casefolded) -> (as shown, the leads holding it), for the columns
    with at most ``MOST_VALUES`` values (strays aside)."""
    holders: dict[str, dict[str, set[int]]] = defaultdict(lambda: defaultdict(set))
    shown: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for n, lead in enumerate(leads):
        for attribute, value in lead.values:
            key = value.casefold()
            holders[attribute][key].add(n)
            shown[(attribute, key)][value] += 1
    columns = {}
    for attribute, values in holders.items():
        kept = {k: m for k, m in values.items() if len(m) >= STRAY}
        if 2 <= len(kept) <= MOST_VALUES:
            columns[attribute] = {
                k: (shown[(attribute, k)].most_common(1)[0][0], m) for k, m in kept.items()
            }
    return columns


def _said(ds: Dataset, leads: Sequence[Lead]) -> list[set[int]]:
    """The leads each box checks and each rule fires for."""
    boxes = [{n for n, lead in enumerate(leads) if lead.boxes[i]} for i in range(len(ds.criteria))]
    rules = [{n for n, lead in enumerate(leads) if lead.fired[i]} for i in range(len(ds.rules))]
    return boxes + rules


def _extend(leads: Sequence[Lead], attribute: str, keys: Sequence[str]) -> list[Lead]:
    """``leads`` with one 0/1 rule per value in ``keys`` appended."""
    out = []
    for lead in leads:
        held = {v.casefold() for a, v in lead.values if a == attribute}
        flags = tuple(1 if key in held else 0 for key in keys)
        out.append(
            replace(
                lead,
                exposure=(*lead.exposure, *map(float, flags)),
                fired=(*lead.fired, *flags),
            )
        )
    return out


def _with_indicators(ds: Dataset, attribute: str, keys: Sequence[str]) -> Dataset:
    names = tuple(f"{attribute}: {key}" for key in keys)
    return replace(ds, rules=(*ds.rules, *names), points=(*ds.points, *(0.0 for _ in keys)))


def _positives(leads: Sequence[Lead]) -> int:
    return sum(bool(lead.converted) for lead in leads)


def _jaccard(a: set[int], b: set[int]) -> float:
    union = len(a | b)
    return len(a & b) / union if union else 0.0
