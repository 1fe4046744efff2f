"""From stored inputs to a model result: one person's records merged, scored and explained.

Conflicting attribute values across a person's records are resolved by source priority: the
configured system of record (``identity.fit_source``) wins; within a source, the most
recently modified record wins; an empty value never overwrites a filled one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from leadsync.model import Activity, ModelSpec, Person, score
from leadsync.store.scoring import PersonInputs, ScoreRow, StoredRecord


def merged_attributes(records: Sequence[StoredRecord], fit_source: str | None) -> dict[str, Any]:
    """One attribute set from several CRM records; ``fit_source``'s values win."""
    ordered = sorted(records, key=lambda r: (r.source == fit_source, r.modified_at, r.id))
    merged: dict[str, Any] = {}
    for record in ordered:
        for key, value in record.attributes.items():
            if value is None or (isinstance(value, str) and not value.strip()):
                continue
            merged[key] = value
    return merged


def account_key(inputs: PersonInputs, fit_source: str | None) -> str | None:
    """The account a person rolls up to: a CRM account id, else the email's company domain."""
    for record in sorted(inputs.records, key=lambda r: r.source != fit_source):
        if record.account_id:
            return f"{record.source}:{record.account_id}"
    if inputs.email and "@" in inputs.email:
        return "domain:" + inputs.email.rsplit("@", 1)[1]
    return None


def to_person(inputs: PersonInputs, fit_source: str | None) -> Person:
    return Person(
        key=str(inputs.person_id),
        attributes=merged_attributes(inputs.records, fit_source),
        email=inputs.email,
        opted_out=any(r.opted_out for r in inputs.records),
        recycled_at=inputs.recycled_at,
        account_key=account_key(inputs, fit_source),
    )


def to_activities(inputs: PersonInputs) -> list[Activity]:
    return [
        Activity(
            id=a.uid,
            kind=a.kind,
            occurred_at=a.occurred_at,
            name=a.name,
            campaign_type=a.campaign_type,
            member_status=a.member_status,
            url=a.url,
        )
        for a in inputs.activities
    ]


class ModelScorer:
    """The engine's ``ScoreFn``: scores one person with the compiled model."""

    def __init__(self, spec: ModelSpec, fit_source: str | None = None) -> None:
        self.spec = spec
        self.fit_source = fit_source

    def __call__(self, inputs: PersonInputs, now: datetime) -> ScoreRow:
        result = score(to_person(inputs, self.fit_source), to_activities(inputs), self.spec, now)
        as_dict = result.to_dict()
        previous = inputs.previous["result"] if inputs.previous else None
        return ScoreRow(
            person_id=inputs.person_id,
            fit=result.fit,
            score=result.score,
            readiness=result.readiness,
            team=result.team,
            cell=result.cell,
            outputs=result.outputs(now),
            result=as_dict,
            cause=score_change_cause(previous, as_dict),
        )


def score_change_cause(
    previous: Mapping[str, Any] | None, current: Mapping[str, Any]
) -> dict[str, Any]:
    """Why a score moved: activities that started or stopped counting, and decay's share."""
    before = _contributions(previous)
    after = _contributions(current)
    added = [
        {"activity": key, "rule": c.get("rule"), "points": c.get("points")}
        for key, c in after.items()
        if key not in before
    ]
    removed = [
        {"activity": key, "rule": c.get("rule"), "points": c.get("points")}
        for key, c in before.items()
        if key not in after
    ]
    decay = sum(
        float(after[key].get("points") or 0) - float(before[key].get("points") or 0)
        for key in after.keys() & before.keys()
    )
    cause: dict[str, Any] = {"added": added, "removed": removed, "decay": round(decay, 2)}
    if previous is not None and previous.get("fit") != current.get("fit"):
        cause["fit"] = {"from": previous.get("fit"), "to": current.get("fit")}
    return cause


def _contributions(result: Mapping[str, Any] | None) -> dict[str, Mapping[str, Any]]:
    if not result:
        return {}
    return {f"{c.get('activity_id')}|{c.get('rule')}": c for c in result.get("contributions", ())}


__all__ = ["ModelScorer", "ModelSpec", "merged_attributes", "score_change_cause"]
