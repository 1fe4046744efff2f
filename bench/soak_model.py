"""The soak checker's model recompute: every person's written fields against the real model.

People are joined here, not in LeadSync's store: one person per normalized email across
Salesforce Leads/Contacts and HubSpot contacts (a converted lead belongs to its contact's
person), attributes merged with the configured system of record winning (within a source the
most recently created record; an empty value never overwrites a filled one), opted out when
any live record is. Activities attach through the record they name, else through their email.

Each live record LeadSync wrote is recomputed with ``leadsync.model.score`` at the instant
its Scored At field says, from every activity that existed in the CRM by then, and Fit, Score,
Readiness, Team and Reason must equal what it shows. Then the activities that arrived after
that instant are added: the result may not move (else a later activity was lost: LeadSync
never re-scored it).

The recycle baseline (``recycled_at``) lives only in LeadSync: for a recycled person any
baseline between sales setting the recycle status and the record's Scored At is accepted,
and such persons are counted apart ("bounded by the recycle").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bench.soak_state import CrmActivity, CrmRecord, SandboxState
from connectors.hubspot.mapping import parse_time
from connectors.salesforce.pull import parse_datetime
from leadsync.model import Activity, ModelSpec, Person, Result, score

COMPARED = ("fit", "score", "readiness", "team", "reason")


@dataclass
class People:
    """The checker's own identity join."""

    key_of_record: dict[str, str] = field(default_factory=dict)
    records: dict[str, list[CrmRecord]] = field(default_factory=dict)
    activities: dict[str, list[CrmActivity]] = field(default_factory=dict)
    unlinked: list[CrmActivity] = field(default_factory=list)


def email_key(email: object) -> str | None:
    if not isinstance(email, str):
        return None
    value = email.strip().lower()
    local, at, domain = value.partition("@")
    return value if at and local and "." in domain else None


def join(state: SandboxState) -> People:
    people = People()
    by_uid = {str(r.person.ref): r for r in state.records}
    for uid, record in by_uid.items():
        target = record.person.merged_into
        owner = by_uid.get(str(target)) if target is not None else None
        base = owner.person if owner is not None else record.person
        key = email_key(base.email) or email_key(record.person.email) or str(base.ref)
        people.key_of_record[uid] = key
        if target is None and not record.person.deleted:
            people.records.setdefault(key, []).append(record)
    for item in state.activities:
        activity = item.record
        if activity.deleted:
            continue
        if activity.person is not None:
            who = people.key_of_record.get(str(activity.person))
        else:
            who = email_key(activity.email)
        if who is None or who not in people.records:
            people.unlinked.append(item)
        else:
            people.activities.setdefault(who, []).append(item)
    return people


def merged_attributes(records: Sequence[CrmRecord], fit_source: str | None) -> dict[str, Any]:
    """Within a source the newest record (by creation, then CRM id) wins: a stamp LeadSync's
    own writes never move, so one reading is right (issue 21, bench/life.py seed 1542)."""
    ordered = sorted(
        records,
        key=lambda r: (
            r.person.ref.source == fit_source,
            r.person.created_at or r.person.modified_at,
            r.person.ref.external_id,
        ),
    )
    merged: dict[str, Any] = {}
    for record in ordered:
        for name, value in record.person.attributes.items():
            if value is None or (isinstance(value, str) and not value.strip()):
                continue
            merged[name] = value
    return merged


def model_activity(item: CrmActivity) -> Activity:
    a = item.record
    return Activity(
        id=str(a.ref),
        kind=a.kind,
        occurred_at=a.occurred_at,
        name=a.name,
        campaign_type=a.campaign_type,
        member_status=a.member_status,
        url=a.url,
        early_s=a.early_s,
        late_s=a.late_s,
    )


@dataclass
class Recompute:
    checked_records: int = 0
    checked_people: set[str] = field(default_factory=set)
    recycle_bounded: set[str] = field(default_factory=set)
    same_source_ties: set[str] = field(default_factory=set)
    exclusions: Counter[str] = field(default_factory=Counter)
    excluded: list[str] = field(default_factory=list)
    activities_used: int = 0
    problems: list[str] = field(default_factory=list)
    activity_problems: list[str] = field(default_factory=list)


def recompute(
    people: People,
    spec: ModelSpec,
    fit_source: str | None,
    labels: Mapping[str, Mapping[str, Mapping[str, str]]],
    recycle_floor: Mapping[str, datetime],
    default_floor: datetime,
) -> Recompute:
    """Compare every written live record with the model. ``labels``: source -> output ->
    CRM value -> canonical value; ``recycle_floor``: person key -> when sales set a recycle
    status (``default_floor`` when it was set before the soak)."""
    out = Recompute()
    for key, records in sorted(people.records.items()):
        items = people.activities.get(key, [])
        ids = Counter(str(i.record.ref) for i in items)
        doubled = [uid for uid, n in ids.items() if n > 1]
        if doubled:
            out.activity_problems.append(f"{key}: activity read twice from the CRMs: {doubled[:3]}")
        variants = _variants(key, records, fit_source)
        if _same_source_conflict(records, fit_source):
            out.same_source_ties.add(key)
        recycled = any(_int(r.written.get("recycle_count")) for r in records)
        for record in records:
            r = record.person.ref
            ref = f"{r.source} {r.object_type} {r.external_id}"
            reason = _exclusion(record)
            if reason is not None:
                out.exclusions[reason] += 1
                out.excluded.append(f"{key} ({ref}): {reason}")
                continue
            at = _scored_at(record)
            assert at is not None
            known = [model_activity(i) for i in items if i.known_at <= at]
            later = [model_activity(i) for i in items if i.known_at > at]
            written = _canonical(record, labels.get(record.person.ref.source, {}))
            floor = recycle_floor.get(key, default_floor) if recycled else None
            mismatch = _first_match(variants, known, spec, at, written, floor)
            out.checked_records += 1
            out.checked_people.add(key)
            out.activities_used += len(known) + len(later)
            if recycled:
                out.recycle_bounded.add(key)
            if mismatch is not None:
                out.problems += [f"{key} {ref} {m}" for m in mismatch]
                continue
            if later:
                moved = _moved(variants, [*known, *later], spec, at, written, floor)
                if moved:
                    out.problems += [
                        f"{key} {ref} after {len(later)} later activities: {m}" for m in moved
                    ]
    return out


def _exclusion(record: CrmRecord) -> str | None:
    if record.legal_hold:
        return "lead under legal hold: the org's validation rule refuses every edit"
    if _scored_at(record) is None:
        return "never written (no Scored At)"
    return None


def _variants(key: str, records: Sequence[CrmRecord], fit_source: str | None) -> list[Person]:
    """The person as merged by the rule: one reading. (Until the rule ranked records by
    creation, a same-source tie allowed each record of the winning source to win, since
    "most recently modified" moved with LeadSync's own writes.)"""
    opted_out = any(r.person.opted_out for r in records)
    email = key if "@" in key else None
    return [Person(key, merged_attributes(records, fit_source), email, opted_out)]


def _same_source_conflict(records: Sequence[CrmRecord], fit_source: str | None) -> bool:
    """Several records of the winning source disagree on an attribute (counted, for the
    page: the rule decides them by creation)."""
    top = max((r.person.ref.source == fit_source for r in records), default=False)
    group = [r for r in records if (r.person.ref.source == fit_source) == top]
    values = [{k: v for k, v in r.person.attributes.items() if v not in (None, "")} for r in group]
    return len(group) > 1 and any(
        a.get(k) not in (None, v) for a in values for b in values for k, v in b.items()
    )


def _first_match(
    variants: list[Person],
    activities: list[Activity],
    spec: ModelSpec,
    at: datetime,
    written: Mapping[str, str],
    floor: datetime | None,
) -> list[str] | None:
    """None when the model at ``at`` gives the written values (for some admissible recycle
    baseline); else the mismatches of the plainest candidate."""
    first: list[str] | None = None
    for person in variants:
        for baseline in _baselines(activities, floor, at):
            result = score(_with_recycle(person, baseline), activities, spec, at)
            diffs = _diffs(_expected(result, at), written, COMPARED)
            if not diffs:
                return None
            first = first if first is not None else diffs
    return first


def _moved(
    variants: list[Person],
    activities: list[Activity],
    spec: ModelSpec,
    at: datetime,
    written: Mapping[str, str],
    floor: datetime | None,
) -> list[str]:
    """Mismatches once every later activity counts too (at full points: the instant LeadSync
    would have re-scored is after ``at``); Reason's ages are left out, Score within 1."""
    fewest: list[str] | None = None
    for person in variants:
        for baseline in _baselines(activities, floor, at):
            result = score(_with_recycle(person, baseline), activities, spec, at)
            expected = _expected(result, at)
            diffs = _diffs(expected, written, ("fit", "readiness", "team"))
            if abs(_int(expected["score"]) - _int(written.get("score"))) > 1:
                diffs.append(f"score expected {expected['score']} actual {written.get('score')}")
            if not diffs:
                return []
            fewest = diffs if fewest is None or len(diffs) < len(fewest) else fewest
    return fewest or []


def _baselines(
    activities: Iterable[Activity], floor: datetime | None, at: datetime
) -> list[datetime | None]:
    if floor is None:
        return [None]
    inside = sorted({a.occurred_at for a in activities if floor < a.occurred_at <= at})
    return [floor, *inside]


def _with_recycle(person: Person, baseline: datetime | None) -> Person:
    if baseline is None:
        return person
    return Person(person.key, person.attributes, person.email, person.opted_out, baseline)


def _expected(result: Result, at: datetime) -> dict[str, str]:
    return {k: _norm(v) for k, v in result.outputs(at).items() if k in COMPARED}


def _diffs(
    expected: Mapping[str, str], written: Mapping[str, str], names: Sequence[str]
) -> list[str]:
    return [
        f"{n}: expected {expected.get(n)!r} actual {written.get(n)!r}"
        for n in names
        if expected.get(n) != written.get(n)
    ]


def _canonical(record: CrmRecord, labels: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    out = {}
    for name, value in record.written.items():
        text = _norm(value)
        if name != "reason":
            text = text.lower()
        out[name] = labels.get(name, {}).get(text, text)
    return out


def _scored_at(record: CrmRecord) -> datetime | None:
    value = record.written.get("scored_at")
    if record.person.ref.source == "hubspot":
        return parse_time(value)
    return parse_datetime(value)


def _norm(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text
    return str(int(number)) if number.is_integer() else text


def _int(value: Any) -> int:
    try:
        return int(float(str(value)))
    except ValueError:
        return 0
