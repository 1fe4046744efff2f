"""From stored inputs to a model result: one person's records merged, scored and explained.

Conflicting attribute values across a person's records are resolved by source priority: the
configured system of record (``identity.fit_source``) wins; within a source, the most
recently created record wins; an empty value never overwrites a filled one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from leadsync.emails import FREE_MAIL_DOMAINS, email_domain
from leadsync.model import AccountSignals, Activity, ModelSpec, Person, score
from leadsync.store.scoring import PersonInputs, ScoreRow, StoredRecord


def merged_attributes(records: Sequence[StoredRecord], fit_source: str | None) -> dict[str, Any]:
    """One attribute set from several CRM records; ``fit_source``'s values win."""
    ordered = sorted(records, key=lambda r: (r.source == fit_source, *age_order(r)))
    merged: dict[str, Any] = {}
    for record in ordered:
        for key, value in record.attributes.items():
            if value is None or (isinstance(value, str) and not value.strip()):
                continue
            merged[key] = value
    return merged


def age_order(record: StoredRecord) -> tuple[datetime, str]:
    """Oldest first, by when the record entered the CRM. Not by its last modification:
    LeadSync's own write-backs move that stamp, so the winner would flip with each write and a
    fresh store would pick another record than the one that lived through them. A record read
    before its creation date was stored falls back to its modification stamp until read again;
    the CRM's id settles a tie the same way in every store."""
    return (record.created_at or record.modified_at, record.external_id)


def account_key(inputs: PersonInputs, fit_source: str | None, mode: str) -> str | None:
    """The account a person rolls up to: a CRM account id, or a company email domain."""
    if mode == "email_domain":
        domain = email_domain(inputs.email)
        return None if domain is None or domain in FREE_MAIL_DOMAINS else "domain:" + domain
    for record in sorted(inputs.records, key=lambda r: r.source != fit_source):
        if record.account_id:
            return f"{record.source}:{record.account_id}"
    return None


def to_person(inputs: PersonInputs, fit_source: str | None, key_mode: str = "account_id") -> Person:
    return Person(
        key=str(inputs.person_id),
        attributes=merged_attributes(inputs.records, fit_source),
        email=inputs.email,
        opted_out=any(r.opted_out for r in inputs.records),
        recycled_at=inputs.recycled_at,
        account_key=account_key(inputs, fit_source, key_mode),
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
            early_s=a.early_s,
            late_s=a.late_s,
        )
        for a in inputs.activities
    ]


@dataclass(frozen=True, slots=True)
class Placement:
    """Where the model puts a person, without the explanation a saved score keeps."""

    fit: str
    score: int
    readiness: str
    team: str
    cell: str


class ModelScorer:
    """The engine's ``ScoreFn``: scores one person with the compiled model."""

    def __init__(
        self,
        spec: ModelSpec,
        fit_source: str | None = None,
        account_key_mode: str = "account_id",
        fingerprint: str = "",
    ) -> None:
        self.spec = spec
        self.fit_source = fit_source
        self.account_key_mode = account_key_mode
        #: Of the model's config (``leadsync.wiring.model_fingerprint``), saved with scores.
        self.fingerprint = fingerprint

    def __call__(
        self, inputs: PersonInputs, now: datetime, account: AccountSignals | None = None
    ) -> ScoreRow:
        person = to_person(inputs, self.fit_source, self.account_key_mode)
        result = score(person, to_activities(inputs), self.spec, now, account)
        as_dict = result.to_dict()
        previous = inputs.previous["result"] if inputs.previous else None
        outputs = result.outputs(now)
        if inputs.recycle_count:
            # Only once recycled: a never-recycled lead's fields stay empty, not "0".
            outputs["recycle_count"] = inputs.recycle_count
            outputs["recycle_reason"] = inputs.recycle_reason
        return ScoreRow(
            person_id=inputs.person_id,
            fit=result.fit,
            score=result.score,
            readiness=result.readiness,
            team=result.team,
            cell=result.cell,
            outputs=outputs,
            result=as_dict,
            cause=score_change_cause(previous, as_dict),
            account_key=person.account_key,
            model=self.fingerprint,
        )


def place(
    scorer: ModelScorer, inputs: PersonInputs, activities: Sequence[Activity], now: datetime
) -> Placement:
    """The cell ``scorer`` gives a person with these ``activities``, as its ``__call__`` would
    (``to_activities(inputs)``): what ``leadsync preview`` counts. Skips the outputs, the
    stored explanation and the change's cause (they were half the time of a preview)."""
    person = to_person(inputs, scorer.fit_source, scorer.account_key_mode)
    result = score(person, activities, scorer.spec, now)
    return Placement(result.fit, result.score, result.readiness, result.team, result.cell)


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
