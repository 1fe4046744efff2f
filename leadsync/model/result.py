"""A person's qualification and its explanation, in three shapes.

``outputs`` gives the canonical values written to the CRM (the Reason fits a 255-character
text field), ``explain`` the full text for ``leadsync explain``, and ``to_dict`` /
``from_dict`` a JSON-able form for ``--json`` and the store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from leadsync.model.values import (
    AccountSignals,
    Contribution,
    CriterionOutcome,
    Fit,
    Readiness,
    Team,
)

#: Length of a CRM text field (Salesforce Text(255), HubSpot single-line text shown in views).
REASON_LIMIT = 255

_READINESS_WORDS = {
    "hand_raiser": "hand-raiser",
    "sales_ready": "sales-ready",
    "unready": "unready",
    "do_not_contact": "do not contact",
}


def round_half_up(value: float) -> int:
    """Round to the nearest integer, halves away from zero (37.5 -> 38, -2.5 -> -3)."""
    magnitude = int(abs(value) + 0.5)
    return magnitude if value >= 0 else -magnitude


def engagement_count(contributions: Sequence[Contribution | Mapping[str, Any]]) -> str:
    """ "3 scoring activities", with the attribute rules held apart: "1 scoring activity
    and 2 attribute rules"."""
    on_data = sum(
        (c.get("kind") if isinstance(c, Mapping) else c.kind) == "attribute" for c in contributions
    )
    done = len(contributions) - on_data
    text = f"{done} scoring {'activity' if done == 1 else 'activities'}"
    if on_data:
        text += f" and {on_data} attribute {'rule' if on_data == 1 else 'rules'}"
    return text


def _age(now: datetime, at: datetime | None) -> str:
    if at is None:  # an attribute rule's points: the person's data has no age
        return "profile"
    seconds = max((now - at).total_seconds(), 0.0)
    if seconds < 3600:
        return f"{int(seconds // 60)}m"
    if seconds < 86_400:
        return f"{int(seconds // 3600)}h"
    return f"{int(seconds // 86_400)}d"


@dataclass(frozen=True, slots=True)
class Result:
    """The model's verdict on one person, with everything needed to explain it."""

    key: str
    fit: Fit
    readiness: Readiness
    team: Team
    score: int
    #: The exact decayed sum ``score`` was rounded from.
    raw_score: float
    good_fit_min: int
    criteria: tuple[CriterionOutcome, ...]
    contributions: tuple[Contribution, ...]
    #: Why this readiness, in one sentence.
    readiness_reason: str
    account: AccountSignals | None = None
    accounts_enabled: bool = False
    notes: tuple[str, ...] = ()

    @property
    def cell(self) -> str:
        """The matrix cell, e.g. ``good/hand_raiser`` or ``poor/do_not_contact``."""
        return f"{self.fit}/{self.readiness}"

    @property
    def checked(self) -> tuple[CriterionOutcome, ...]:
        return tuple(c for c in self.criteria if c.status == "checked")

    @property
    def missed(self) -> tuple[CriterionOutcome, ...]:
        return tuple(c for c in self.criteria if c.status != "checked")

    def outputs(self, now: datetime) -> dict[str, object]:
        """Canonical output values to write to the CRM; ``now`` dates the Reason's ages."""
        values: dict[str, object] = {
            "fit": self.fit,
            "score": self.score,
            "readiness": self.readiness,
            "team": self.team,
            "reason": self.reason(now),
        }
        if self.accounts_enabled and self.account is not None:
            values["account_score"] = round_half_up(self.account.score)
            values["engaged_people"] = self.account.engaged_people
        return values

    def reason(self, now: datetime, limit: int = REASON_LIMIT) -> str:
        """The compact explanation: team, fit, readiness and score first, details after.

        Parts are dropped from the end, never cut mid-word, so the head always survives.
        """
        checked = [c.name for c in self.criteria if c.status == "checked"]
        missed = [
            c.name if c.status == "missed" else f"{c.name} ({c.status})"
            for c in self.criteria
            if c.status != "checked"
        ]
        head = (
            f"{self.team}: {self.fit} fit {len(checked)}/{len(self.criteria)}; "
            f"{_READINESS_WORDS[self.readiness]}, score {self.score}"
        )
        parts = []
        if missed:
            parts.append("missed: " + ", ".join(missed))
        if checked:
            parts.append("ok: " + ", ".join(checked))
        top = sorted(self.contributions, key=lambda c: abs(c.points), reverse=True)[:3]
        if top:
            parts.append(
                "by: "
                + ", ".join(f"{c.rule} {c.points:+.0f} {_age(now, c.occurred_at)}" for c in top)
            )
        text = head
        for part in parts:
            candidate = f"{text}; {part}"
            if len(candidate) > limit:
                room = limit - len(text) - 2
                if room > 10:
                    text = f"{text}; {part[: room - 3].rstrip(', ')}..."
                break
            text = candidate
        return text[:limit]

    def explain(self) -> str:
        """The full multi-line explanation shown by ``leadsync explain``."""
        lines = [
            f"{self.key}: {self.fit} fit, {_READINESS_WORDS[self.readiness]} -> {self.team} "
            f"(cell {self.cell}), score {self.score}",
            f"Fit: {len(self.checked)} of {len(self.criteria)} boxes checked "
            f"(good fit needs every required box and at least {self.good_fit_min})",
        ]
        for c in self.criteria:
            mark = "x" if c.checked else " "
            required = " (required)" if c.required else ""
            lines.append(f"  [{mark}] {c.name}{required}: {c.reason}")
        lines.append(f"Readiness: {self.readiness_reason}")
        if self.contributions:
            lines.append(f"Engagement: {engagement_count(self.contributions)}")
            for item in self.contributions:
                source = (
                    f"{item.kind} at {item.occurred_at.isoformat()}  {item.activity_id}"
                    if item.occurred_at is not None
                    else f"from attribute {item.activity_id}"
                )
                lines.append(
                    f"  {item.points:+8.1f} (of {item.raw_points:+g})  {item.rule} "
                    f"[{item.interest}]  {source}"
                )
        else:
            lines.append("Engagement: no scoring activities in the window")
        if self.account is not None:
            lines.append(
                f"Account: score {self.account.score:.1f}, "
                f"{self.account.engaged_people} engaged people"
            )
        lines.extend(f"Note: {note}" for note in self.notes)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict; ``Result.from_dict`` restores an equal ``Result``."""
        return {
            "key": self.key,
            "fit": self.fit,
            "readiness": self.readiness,
            "team": self.team,
            "cell": self.cell,
            "score": self.score,
            "raw_score": self.raw_score,
            "good_fit_min": self.good_fit_min,
            "criteria": [
                {
                    "name": c.name,
                    "attribute": c.attribute,
                    "status": c.status,
                    "required": c.required,
                    "reason": c.reason,
                }
                for c in self.criteria
            ],
            "contributions": [
                {
                    "activity_id": c.activity_id,
                    "rule": c.rule,
                    "kind": c.kind,
                    "raw_points": c.raw_points,
                    "points": c.points,
                    "occurred_at": None if c.occurred_at is None else c.occurred_at.isoformat(),
                    "interest": c.interest,
                }
                for c in self.contributions
            ],
            "readiness_reason": self.readiness_reason,
            "account": (
                None
                if self.account is None
                else {"score": self.account.score, "engaged_people": self.account.engaged_people}
            ),
            "accounts_enabled": self.accounts_enabled,
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Result:
        """Rebuild a ``Result`` from ``to_dict`` output (e.g. read back from the store)."""
        account = data.get("account")
        return cls(
            key=data["key"],
            fit=data["fit"],
            readiness=data["readiness"],
            team=data["team"],
            score=int(data["score"]),
            raw_score=float(data["raw_score"]),
            good_fit_min=int(data["good_fit_min"]),
            criteria=tuple(
                CriterionOutcome(
                    c["name"], c["attribute"], c["status"], bool(c["required"]), c["reason"]
                )
                for c in data["criteria"]
            ),
            contributions=tuple(
                Contribution(
                    c["activity_id"],
                    c["rule"],
                    c["kind"],
                    float(c["raw_points"]),
                    float(c["points"]),
                    None if c["occurred_at"] is None else datetime.fromisoformat(c["occurred_at"]),
                    c["interest"],
                )
                for c in data["contributions"]
            ),
            readiness_reason=data["readiness_reason"],
            account=(
                None
                if account is None
                else AccountSignals(float(account["score"]), int(account["engaged_people"]))
            ),
            accounts_enabled=bool(data.get("accounts_enabled", False)),
            notes=tuple(cast(list[str], data.get("notes", []))),
        )
