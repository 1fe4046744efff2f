"""One row per lead, as the report and ``tune`` read history: its ICP boxes and, per engagement
rule, what the rule counted at the lead's decision moment, and whether the lead converted
within the sales cycle.

Each lead has an *entry* (its first activity, first score or conversion, whichever came first)
and an *outcome*: converted within the sales cycle after entering, or not; a lead whose cycle
is still running has no outcome yet (``converted is None``) and is left out of every rate.
Its features are read at its *snapshot*: just after its last activity before the outcome (the
conversion, or the end of its cycle), i.e. at the score the lead had reached when it last
engaged. Reading everyone at their own last engagement, rather than converters at conversion
and the others at the end of their cycle, keeps decay from favouring converters merely because
they were read sooner; and nothing done after converting leaks into the features.

Per rule, ``exposure`` is what the rule's points are multiplied by in the model's score: the
sum of the decay factors of the activities it counted (window and cap applied), so a config's
engagement score is exactly ``sum(points * exposure)``. ``fired`` is how many activities it
counted. From a CSV export, which has counts and no dates, exposure is the plain count.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from leadsync.engine.scoring import merged_attributes
from leadsync.model import Activity, ModelSpec, Person, score
from leadsync.model.engagement import RuleIndex
from leadsync.store.identity import chunks
from leadsync.store.schema import activities, crm_records, people, score_history
from leadsync.store.scoring import StoredRecord

#: Just after an activity, so the snapshot counts it.
_TICK = timedelta(seconds=1)
#: Activity kinds that carry a campaign (the campaign a lead came in through).
CAMPAIGN_KINDS = ("campaign_member", "campaign_response")


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
    notes: tuple[str, ...] = field(default=())

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


def conversions(
    conn: sa.Connection, person_ids: Sequence[int] | None = None, stages: Iterable[str] = ()
) -> dict[int, datetime]:
    """When each person converted: the earliest ``converted_at`` of any of their records
    (converted and merged ones included). With ``stages``, a record whose ``lifecycle_stage``
    attribute is one of them also counts, dated by its last modification."""
    wanted = {s.strip().casefold() for s in stages if s.strip()}
    columns = (
        crm_records.c.person_id,
        crm_records.c.converted_at,
        crm_records.c.modified_at,
        crm_records.c.attributes,
    )
    query = sa.select(*columns)
    if not wanted:
        query = query.where(crm_records.c.converted_at.is_not(None))
    found: dict[int, datetime] = {}
    parts: Iterable[list[int] | None] = [None] if person_ids is None else chunks(list(person_ids))
    for part in parts:
        bounded = query if part is None else query.where(crm_records.c.person_id.in_(part))
        for pid, converted_at, modified_at, attrs in conn.execute(bounded):
            when = converted_at
            if when is None and wanted:
                stage = attrs.get("lifecycle_stage") if isinstance(attrs, dict) else None
                if isinstance(stage, str) and stage.strip().casefold() in wanted:
                    when = modified_at
            if when is not None and (pid not in found or when < found[pid]):
                found[pid] = when
    return found


def leads_from_store(
    conn: sa.Connection,
    spec: ModelSpec,
    *,
    fit_source: str | None,
    cycle_days: float,
    now: datetime,
    stages: Iterable[str] = (),
    origin: str = "store",
) -> Dataset:
    """Every person in the store with some history, read as of their snapshot."""
    cycle = timedelta(days=cycle_days)
    unit = unit_spec(spec)
    stage_list = list(stages)
    ids = list(conn.execute(sa.select(people.c.id).order_by(people.c.id)).scalars())
    leads: list[Lead] = []
    for part in chunks(ids):
        records: dict[int, list[StoredRecord]] = defaultdict(list)
        live: dict[int, list[StoredRecord]] = defaultdict(list)
        emails: dict[int, str | None] = {}
        for row in conn.execute(
            sa.select(crm_records)
            .where(crm_records.c.person_id.in_(part))
            .order_by(crm_records.c.id)
        ):
            emails.setdefault(row.person_id, row.email_norm)
            stored = StoredRecord(
                id=row.id,
                uid=row.uid,
                source=row.source,
                object_type=row.object_type,
                external_id=row.external_id,
                email=row.email_norm,
                attributes=row.attributes if isinstance(row.attributes, dict) else {},
                owner_id=row.owner_id,
                status=row.status,
                opted_out=row.opted_out,
                account_id=row.account_id,
                converted_at=row.converted_at,
                modified_at=row.modified_at,
            )
            records[row.person_id].append(stored)
            if not row.deleted and row.merged_into is None:
                live[row.person_id].append(stored)
        acts: dict[int, list[Activity]] = defaultdict(list)
        campaigns: dict[int, str] = {}
        for row in conn.execute(
            sa.select(activities)
            .where(activities.c.person_id.in_(part), activities.c.deleted.is_(False))
            .order_by(activities.c.occurred_at, activities.c.id)
        ):
            acts[row.person_id].append(
                Activity(
                    id=row.uid,
                    kind=row.kind,
                    occurred_at=row.occurred_at,
                    name=row.name,
                    campaign_type=row.campaign_type,
                    member_status=row.member_status,
                    url=row.url,
                )
            )
            if row.kind in CAMPAIGN_KINDS and row.name and row.person_id not in campaigns:
                campaigns[row.person_id] = row.name
        first_scored = dict(
            conn.execute(
                sa.select(score_history.c.person_id, sa.func.min(score_history.c.at))
                .where(score_history.c.person_id.in_(part))
                .group_by(score_history.c.person_id)
            ).all()
        )
        converted = conversions(conn, part, stage_list)
        for pid in part:
            if not records[pid]:
                continue
            starts = [t for t in (first_scored.get(pid), converted.get(pid)) if t is not None]
            if acts[pid]:
                starts.append(acts[pid][0].occurred_at)
            if not starts:
                continue
            entered = min(starts)
            conv_at = converted.get(pid)
            result, told = outcome(entered, conv_at, cycle, now)
            before = [a for a in acts[pid] if a.occurred_at < told]
            snapshot = before[-1].occurred_at + _TICK if before else min(entered, told)
            attributes = merged_attributes(live[pid] or records[pid], fit_source)
            person = Person(key=str(pid), attributes=attributes, email=emails.get(pid))
            boxes, exposure, fired = lead_features(spec, unit, person, before, snapshot)
            source = attributes.get("lead_source")
            leads.append(
                Lead(
                    key=str(pid),
                    entered_at=entered,
                    converted=result,
                    converted_at=conv_at,
                    source=str(source).strip() if source not in (None, "") else None,
                    campaign=campaigns.get(pid),
                    boxes=boxes,
                    exposure=exposure,
                    fired=fired,
                )
            )
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
    )
