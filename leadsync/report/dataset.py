"""One row per lead, as the report and ``tune`` read history: its ICP boxes and, per engagement
rule, what the rule counted at the lead's decision moment, and whether the lead converted
within the sales cycle.

Each lead has an *entry*: when it entered the CRM (its earliest record's creation time), or,
for records stored before creation times were pulled, its first activity, first score or
conversion, whichever came first. It has an *outcome*: converted within the sales cycle after
entering, or not; a lead whose cycle is still running has no outcome yet (``converted is
None``) and is left out of every rate. Its features are read at its *snapshot*: just after its
last activity before the outcome (the conversion, or the end of its cycle), i.e. at the score
the lead had reached when it last engaged. Reading everyone at their own last engagement,
rather than converters at conversion and the others at the end of their cycle, keeps decay from
favouring converters merely because they were read sooner; and nothing done after converting
leaks into the features.

Per rule, ``exposure`` is what the rule's points are multiplied by in the model's score: the
sum of the decay factors of the activities it counted (window and cap applied), so a config's
engagement score is exactly ``sum(points * exposure)``. ``fired`` is how many activities it
counted. From a CSV export, which has counts and no dates, exposure is the plain count.

The matrix cell of a lead is a back-test (``BACKTEST_RULE``): the model scores it as of
``backtest_at``, the earliest of its entry plus the window, just before its conversion and
now, from the activities before that moment; nothing later can move it into a cell.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from leadsync.engine.scoring import merged_attributes, to_activities
from leadsync.model import Activity, ModelSpec, Person, score
from leadsync.model.engagement import RuleIndex
from leadsync.model.reading import read_texts
from leadsync.report.unmatched import (
    attribute_tests,
    attributes_held_by_nobody,
    value_tested,
    values_matching_nothing,
)
from leadsync.store import Connection
from leadsync.store.history import PersonHistory, histories

#: Just after an activity, so the snapshot counts it.
_TICK = timedelta(seconds=1)
#: Activity kinds that carry a campaign (the campaign a lead came in through).
CAMPAIGN_KINDS = ("campaign_member", "campaign_response")
#: Days after entering at which a lead's back-test cell is read, unless it converted sooner.
BACKTEST_WINDOW_DAYS = 30.0
#: The back-test's rule in words, for the report page (``{window}``: the window in days).
BACKTEST_RULE = (
    "back-test: each lead is placed in the cell the model gives it {window:g} days after it "
    "entered the CRM, or just before it converted if that came sooner (now, for a lead that "
    "entered less than {window:g} days ago), counting only the activities before that moment: "
    "nothing it did later, and nothing after converting"
)


@dataclass(frozen=True, slots=True)
class Lead:
    """One lead's history, reduced to what the report and the tuner read."""

    key: str
    entered_at: datetime | None
    #: True / False once the sales cycle has told; ``None`` while it is still running.
    converted: bool | None
    converted_at: datetime | None
    source: str | None
    campaign: str | None
    #: Per ICP criterion (in config order): whether the box was checked.
    boxes: tuple[bool, ...]
    #: Per engagement rule (in config order): the decayed count its points multiply.
    exposure: tuple[float, ...]
    #: Per engagement rule: how many activities it counted.
    fired: tuple[int, ...]
    #: The matrix cell the model gave it as of ``backtest_at`` (None from a CSV export).
    cell: str | None = None
    backtest_at: datetime | None = None
    #: Its textual fit attributes as ``(attribute, value)``, for boxes ``tune`` may suggest.
    values: tuple[tuple[str, str], ...] = ()


#: Longest attribute value kept for candidate boxes (a free-text field is no box).
_VALUE_CHARS = 80


def text_values(attributes: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """The textual attribute values of a lead, trimmed and interned (many leads share them)."""
    found = []
    for name, value in sorted(attributes.items()):
        if isinstance(value, str) and 0 < len(value.strip()) <= _VALUE_CHARS:
            found.append((sys.intern(name), sys.intern(value.strip())))
    return tuple(found)


@dataclass(frozen=True, slots=True)
class DataQuality:
    """What a messy export contained and how each cell was read, per column."""

    rows: int
    skipped_rows: int
    #: column -> {problem: count}, e.g. {"Industry": {"placeholder": 12, "blank": 40}}.
    columns: dict[str, dict[str, int]]
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "skipped_rows": self.skipped_rows,
            "columns": self.columns,
            "notes": list(self.notes),
        }


@dataclass(frozen=True, slots=True)
class Dataset:
    """Leads plus the config they were read against (criteria, rules, current points)."""

    origin: str
    criteria: tuple[str, ...]
    required: tuple[bool, ...]
    good_fit_min: int
    rules: tuple[str, ...]
    points: tuple[float, ...]
    leads: tuple[Lead, ...]
    #: True when exposure is decayed (store history); False for plain counts (CSV).
    decayed: bool
    cycle_days: float
    quality: DataQuality | None = None
    #: Days after entering at which the back-test reads a lead's cell (store only).
    window_days: float | None = None
    #: What the config names that the data never holds (store only; an export says it in
    #: ``quality``): a box value no record has, a tested attribute no record carries.
    notes: tuple[str, ...] = field(default=())
    #: Rules read from a numeric column in units (an export's ``[measures]``), not counts.
    measures: frozenset[str] = frozenset()
    #: Attributes the config's boxes and attribute rules test (``tested_attributes``).
    tested: frozenset[str] = frozenset()
    #: attribute -> {normalised alias: canonical value}, as the config reads values.
    aliases: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    @property
    def decided(self) -> tuple[Lead, ...]:
        """Leads whose outcome is known (the sales cycle has told)."""
        return tuple(lead for lead in self.leads if lead.converted is not None)

    def is_good_fit(self, lead: Lead, good_fit_min: int | None = None) -> bool:
        """The config's fit rule: every required box checked and at least ``good_fit_min``."""
        minimum = self.good_fit_min if good_fit_min is None else good_fit_min
        if any(req and not box for req, box in zip(self.required, lead.boxes, strict=True)):
            return False
        return sum(lead.boxes) >= minimum

    def engagement(self, lead: Lead, points: Sequence[float] | None = None) -> float:
        """The engagement score ``points`` (default: the config's) give this lead."""
        weights = self.points if points is None else points
        return sum(p * x for p, x in zip(weights, lead.exposure, strict=True))


def tested_attributes(spec: ModelSpec) -> frozenset[str]:
    """The attributes ``spec``'s ICP boxes and attribute rules read, with ``title`` when a
    seniority or department is derived from it."""
    read = {criterion.definition.attribute for criterion, _ in attribute_tests(spec)}
    if spec.derives & {"seniority", "department"}:
        read.add("title")
    return frozenset(read)


def unit_spec(spec: ModelSpec) -> ModelSpec:
    """``spec`` with every rule worth one point: scoring with it yields decay factors."""
    rules = tuple(replace(rule, points=1.0) for rule in spec.rules)
    return replace(spec, rules=rules, rule_index=RuleIndex.of(rules), title_cache={})


def lead_features(
    spec: ModelSpec, unit: ModelSpec, person: Person, acts: Sequence[Activity], at: datetime
) -> tuple[tuple[bool, ...], tuple[float, ...], tuple[int, ...]]:
    """Boxes, exposure and fired counts of one person as of ``at`` (activities before it)."""
    before = [a for a in acts if a.occurred_at < at]
    result = score(person, before, unit, at)
    exposure = dict.fromkeys((r.name for r in spec.rules), 0.0)
    fired = dict.fromkeys(exposure, 0)
    for item in result.contributions:
        exposure[item.rule] += item.points
        fired[item.rule] += 1
    boxes = tuple(c.status == "checked" for c in result.criteria)
    return boxes, tuple(exposure.values()), tuple(fired.values())


def backtest_at(
    entered: datetime, converted_at: datetime | None, window: timedelta, now: datetime
) -> datetime:
    """When a lead's back-test reads it: ``window`` after it entered, or just before it
    converted or now if either came sooner (never after any of them)."""
    moments = [entered + window, now]
    if converted_at is not None:
        moments.append(converted_at - _TICK)
    return min(moments)


def outcome(
    entered_at: datetime, converted_at: datetime | None, cycle: timedelta, now: datetime
) -> tuple[bool | None, datetime]:
    """(converted within the cycle, or None while open; when the outcome was told)."""
    end = entered_at + cycle
    if converted_at is not None and converted_at <= end:
        return True, converted_at
    if end <= now:
        return False, end
    return None, now


@dataclass(frozen=True, slots=True)
class Reading:
    """How the store's history is read: the model, where fit is read, the sales cycle, the
    back-test window and the clock."""

    spec: ModelSpec
    fit_source: str | None
    cycle: timedelta
    window: timedelta
    now: datetime
    unit: ModelSpec = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "unit", unit_spec(self.spec))


def entry(history: PersonHistory, acts: Sequence[Activity]) -> datetime | None:
    """When a lead entered: its CRM creation time; without one, its first activity, score or
    conversion. None without any of them."""
    if history.created_at is not None:
        return history.created_at
    starts = [t for t in (history.first_scored_at, history.converted_at) if t is not None]
    if acts:
        starts.append(acts[0].occurred_at)
    return min(starts, default=None)


def backtest_cell(reading: Reading, person: Person, acts: Sequence[Activity], at: datetime) -> str:
    """The cell the model gives ``person`` as of ``at`` from the activities before it."""
    return score(person, [a for a in acts if a.occurred_at < at], reading.spec, at).cell


def lead_of(history: PersonHistory, reading: Reading, attributes: Mapping[str, Any]) -> Lead | None:
    """One person's history read as of their snapshot, with their back-test cell; None
    without any dated history (no creation time, activity, score or conversion).
    ``attributes``: the person's records merged (``merged_attributes``)."""
    spec, unit, now = reading.spec, reading.unit, reading.now
    inputs = history.inputs
    acts = to_activities(inputs)
    entered = entry(history, acts)
    if entered is None:
        return None
    result, told = outcome(entered, history.converted_at, reading.cycle, now)
    before = [a for a in acts if a.occurred_at < told]
    snapshot = before[-1].occurred_at + _TICK if before else min(entered, told)
    person = Person(key=str(inputs.person_id), attributes=attributes, email=inputs.email)
    boxes, exposure, fired = lead_features(spec, unit, person, before, snapshot)
    source = attributes.get("lead_source")
    campaign = next((a.name for a in acts if a.kind in CAMPAIGN_KINDS and a.name), None)
    at = backtest_at(entered, history.converted_at, reading.window, now)
    return Lead(
        key=str(inputs.person_id),
        entered_at=entered,
        converted=result,
        converted_at=history.converted_at,
        source=str(source).strip() if source not in (None, "") else None,
        campaign=campaign,
        boxes=boxes,
        exposure=exposure,
        fired=fired,
        cell=backtest_cell(reading, person, acts, at),
        backtest_at=at,
        values=text_values(attributes),
    )


def leads_from_store(
    conn: Connection,
    spec: ModelSpec,
    *,
    fit_source: str | None,
    cycle_days: float,
    now: datetime,
    stages: Iterable[str] = (),
    origin: str = "store",
    window_days: float = BACKTEST_WINDOW_DAYS,
) -> Dataset:
    """Every person in the store with some history, read as of their snapshot, with their
    back-test cell ``window_days`` after entering (see ``BACKTEST_RULE``)."""
    reading = Reading(
        spec, fit_source, timedelta(days=cycle_days), timedelta(days=window_days), now
    )
    leads: list[Lead] = []
    watched = value_tested(spec, spec.derives)
    held: dict[str, set[str]] = defaultdict(set)
    for history in histories(conn, stages):
        attributes = merged_attributes(history.inputs.records, fit_source)
        lead = lead_of(history, reading, attributes)
        if lead is not None:
            leads.append(lead)
            _hold(held, attributes, watched)
    return Dataset(
        origin=origin,
        criteria=tuple(c.name for c in spec.criteria),
        required=tuple(c.definition.required for c in spec.criteria),
        good_fit_min=spec.good_fit_min,
        rules=tuple(r.name for r in spec.rules),
        points=tuple(r.points for r in spec.rules),
        leads=tuple(leads),
        decayed=True,
        cycle_days=cycle_days,
        window_days=window_days,
        notes=tuple(_unmatched(spec, held)) if leads else (),
        tested=tested_attributes(spec),
        aliases=spec.aliases,
    )


def _unmatched(spec: ModelSpec, held: Mapping[str, set[str]]) -> list[str]:
    """The config's box and rule values no record holds, and the tested attributes none
    holds (``leadsync.report.unmatched``); ``held``: attribute -> the texts records hold."""
    derived = spec.derives
    return attributes_held_by_nobody(
        spec, held, "no record in the store holds it", derived
    ) + values_matching_nothing(
        spec, held, lambda a: f"record's {a}" if held.get(a) else None, derived
    )


def _hold(held: dict[str, set[str]], attributes: Mapping[str, Any], watched: Iterable[str]) -> None:
    """Add the texts ``attributes`` hold for the ``watched`` attributes to ``held`` (any
    type: a number, a flag, a multi-select list, a long text all count)."""
    for name in watched:
        texts = read_texts(attributes.get(name))
        if isinstance(texts, tuple):
            held[name].update(texts)
