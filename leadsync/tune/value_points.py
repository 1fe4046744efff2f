"""Per-value points for a categorical column the config does not score yet.

A column with a handful of values (how the lead came in, its plan, its region) often predicts
conversion value by value, which one box cannot say. For each such fit attribute in the
training leads (at most ``MOST_VALUES`` values held by ``MIN_LEADS`` leads or more), the values
whose lift interval lies clearly above or below 1 are candidates (``value_candidates``). The
suggestion fits them beside the config's boxes and rules, in one regression, so their points
are in the same units as the rules' (``leadsync.tune.fitting.suggest``); those that round to
a point or more become attribute rules in the suggested config, each shown with its evidence
and the hold-out AUC with and without them.

A column a box or an attribute rule already tests, and a value some box or rule already picks
out (the same leads, Jaccard ``SAME_LEADS``), are left out: the config already speaks of them
(points on a box's column would count the same fit twice, once in fit, once in the score).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from leadsync.model.reading import norm
from leadsync.report.dataset import Dataset, Lead
from leadsync.tune.candidates import SAME_LEADS, ValueEvidence, jaccard

#: Fewest training leads a value needs to get points.
MIN_LEADS = 30
#: Most values a column may hold (among those held by a few leads) to count as categorical.
MOST_VALUES = 12
#: A value held by fewer leads than this is a typo or a one-off, not a category.
STRAY = 5
#: Longest rule name the config takes.
NAME_CHARS = 60


@dataclass(frozen=True, slots=True)
class ValueRule(ValueEvidence):
    """One value of a column (``value`` as the data spells it most often; leads match it as
    the model's ``one_of`` does), as the attribute rule ``tune`` suggests for it (a candidate,
    before the fit gives it points, has 0)."""

    points: int = 0
    #: The rule's name when ``attribute: value`` cut to 60 characters was taken.
    label: str = ""

    @property
    def name(self) -> str:
        return self.label or f"{self.attribute}: {self.value}"[:NAME_CHARS]

    def to_dict(self) -> dict[str, Any]:
        return {**ValueEvidence.to_dict(self), "points": self.points}

    def entry(self) -> dict[str, Any]:
        """Its ``[[engagement.rules]]`` entry."""
        return {
            "name": self.name,
            "attribute": self.attribute,
            "operator": "one_of",
            "values": [self.value],
            "points": self.points,
        }


@dataclass(frozen=True, slots=True)
class ValuePoints:
    """A column's value rules, as the suggestion adds them."""

    attribute: str
    rules: tuple[ValueRule, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"attribute": self.attribute, "rules": [rule.to_dict() for rule in self.rules]}


def value_candidates(ds: Dataset, train: Sequence[Lead]) -> tuple[ValueRule, ...]:
    """The values of each categorical column no box or rule covers whose training leads
    converted clearly better or worse than the rest (see the module)."""
    said = _said(ds, train)
    taken = {name.casefold() for name in ds.rules}
    converted = [bool(lead.converted) for lead in train]
    found = []
    for attribute, values in _categorical(train, ds.aliases).items():
        if attribute in ds.tested:  # a box or rule already scores this column
            continue
        for shown, members in values.values():
            if len(members) < MIN_LEADS or len(train) - len(members) < MIN_LEADS:
                continue
            if any(jaccard(members, other) >= SAME_LEADS for other in said):
                continue  # a box, a rule or a value taken before picks out these leads
            said.append(members)
            candidate = ValueRule.of(attribute, shown, members, converted)
            if candidate is None or not (candidate.lift_low > 1.0 or candidate.lift_high < 1.0):
                continue
            name = _unused(candidate.name, taken)  # a rule's name is its identity
            taken.add(name.casefold())
            found.append(replace(candidate, label="" if name == candidate.name else name))
    return tuple(found)


def widen(ds: Dataset, candidates: Sequence[ValueRule]) -> Dataset:
    """``ds`` with one rule per candidate, at 0 points (the config does not score them)."""
    return replace(
        ds,
        rules=(*ds.rules, *(c.name for c in candidates)),
        points=(*ds.points, *(0.0 for _ in candidates)),
    )


def extend(
    leads: Sequence[Lead],
    candidates: Sequence[ValueRule],
    aliases: Mapping[str, Mapping[str, str]],
) -> list[Lead]:
    """``leads`` with each candidate's rule fired (exposure 1) for those holding its value
    (read through ``aliases``, as the rule will read it)."""
    out = []
    wanted = [(c.attribute, value_key(c.attribute, c.value, aliases)) for c in candidates]
    for lead in leads:
        held = {(a, key) for a, v in lead.values for key, _ in _parts(v, aliases.get(a, {}))}
        flags = tuple(1 if w in held else 0 for w in wanted)
        out.append(
            replace(
                lead,
                exposure=(*lead.exposure, *map(float, flags)),
                fired=(*lead.fired, *flags),
            )
        )
    return out


def by_column(candidates: Sequence[ValueRule], points: Sequence[int]) -> tuple[ValuePoints, ...]:
    """The candidates given a point or more, as rules grouped by column (largest first)."""
    columns: dict[str, list[ValueRule]] = defaultdict(list)
    for candidate, value in zip(candidates, points, strict=True):
        if value != 0:
            columns[candidate.attribute].append(replace(candidate, points=value))
    found = [ValuePoints(attribute, tuple(rules)) for attribute, rules in columns.items()]
    found.sort(key=lambda v: -max(abs(r.points) for r in v.rules))
    return tuple(found)


def _unused(name: str, taken: set[str]) -> str:
    """``name``, or ``name`` cut to make room for `` (2)``, `` (3)``... when it is taken (two
    long values alike in their first 60 characters)."""
    found, n = name, 2
    while found.casefold() in taken:
        suffix = f" ({n})"
        found, n = name[: NAME_CHARS - len(suffix)] + suffix, n + 1
    return found


def _categorical(
    leads: Sequence[Lead], aliases: Mapping[str, Mapping[str, str]]
) -> dict[str, dict[str, tuple[str, set[int]]]]:
    """attribute -> value key (``_parts``) -> (as shown, the leads holding it), for the columns
    with at most ``MOST_VALUES`` values (strays aside)."""
    holders: dict[str, dict[str, set[int]]] = defaultdict(lambda: defaultdict(set))
    shown: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for n, lead in enumerate(leads):
        for attribute, value in lead.values:
            for key, spelled in _parts(value, aliases.get(attribute, {})):
                holders[attribute][key].add(n)
                shown[(attribute, key)][spelled] += 1
    columns = {}
    for attribute, values in holders.items():
        kept = {k: m for k, m in values.items() if len(m) >= STRAY}
        if 2 <= len(kept) <= MOST_VALUES:
            columns[attribute] = {
                k: (shown[(attribute, k)].most_common(1)[0][0], m) for k, m in kept.items()
            }
    return columns


def _parts(value: str, aliases: Mapping[str, str]) -> list[tuple[str, str]]:
    """``(key, as spelled)`` of each value a cell holds, read as the model's ``one_of`` reads
    it (``leadsync.model.reading.read_texts``, then the attribute's aliases): a multi-select
    "A;B" holds A and B, keys ignore case, width and spacing, and "UK" is "United Kingdom"
    when aliases say so; so a rule on a key fires for exactly its leads."""
    parts = value.split(";") if ";" in value else [value]
    return [(_aliased(part, aliases), part.strip()) for part in parts if norm(part)]


def value_key(attribute: str, value: str, aliases: Mapping[str, Mapping[str, str]]) -> str:
    """How a box or rule on ``attribute`` reads ``value``: normalised, then aliased."""
    return _aliased(value, aliases.get(attribute, {}))


def _aliased(value: str, aliases: Mapping[str, str]) -> str:
    key = norm(value)
    return aliases.get(key, key)


def _said(ds: Dataset, leads: Sequence[Lead]) -> list[set[int]]:
    """The leads each box checks and each rule fires for."""
    boxes = [{n for n, lead in enumerate(leads) if lead.boxes[i]} for i in range(len(ds.criteria))]
    rules = [{n for n, lead in enumerate(leads) if lead.fired[i]} for i in range(len(ds.rules))]
    return boxes + rules
