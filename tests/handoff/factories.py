"""Values the hand-off tests build again and again: settings, users, results."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from leadsync.config.operations import HandoffSettings, RecycleSettings
from leadsync.handoff import HandoffPerson
from leadsync.model.result import Result
from leadsync.model.values import Contribution, CriterionOutcome
from leadsync.records import CrmUser, RecordRef

NOW = datetime(2024, 6, 5, 10, 0, tzinfo=UTC)  # a Wednesday


def handoff_settings(**values: Any) -> HandoffSettings:
    """``[handoff]`` from plain dicts, validated as the config loader validates it."""
    return HandoffSettings.model_validate(values)


def recycle_settings(**values: Any) -> RecycleSettings:
    return RecycleSettings.model_validate(values)


def user(
    user_id: str,
    *,
    active: bool = True,
    queue: bool = False,
    manager: str | None = None,
) -> CrmUser:
    return CrmUser(
        id=user_id,
        name=f"User {user_id}",
        email=f"{user_id}@example.com",
        active=active,
        is_queue=queue,
        manager_id=manager,
    )


def result_dict(
    readiness: str = "hand_raiser",
    fit: str = "good",
    score: int = 120,
    team: str = "sales",
) -> dict[str, Any]:
    at = datetime(2024, 6, 4, 15, 30, tzinfo=UTC)
    result = Result(
        key="p-1",
        fit=fit,  # type: ignore[arg-type]
        readiness=readiness,  # type: ignore[arg-type]
        team=team,  # type: ignore[arg-type]
        score=score,
        raw_score=float(score),
        good_fit_min=2,
        criteria=(
            CriterionOutcome("Industry", "industry", "checked", True, "software is listed"),
            CriterionOutcome("Size", "employees", "missing", False, "missing: employees"),
        ),
        contributions=(
            Contribution("a1", "Demo request", "form_submission", 75, 75.0, at, "hand_raiser"),
            Contribution("a2", "Pricing page", "page_view", 50, 45.0, at, "active"),
        ),
        readiness_reason="Demo request form on 2024-06-04",
    )
    return result.to_dict()


def person(key: str = "p-1", **values: Any) -> HandoffPerson:
    defaults: dict[str, Any] = {
        "name": "Jane Doe",
        "email": "jane@acme.io",
        "company": "Acme",
        "title": "VP Sales",
    }
    defaults.update(values)
    return HandoffPerson(key=key, ref=RecordRef("salesforce", "Lead", "00Q1"), **defaults)
