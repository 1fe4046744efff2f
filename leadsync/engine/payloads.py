"""The values the act phase stores and sends: outbox payloads, digest entries, hand-off rows.

Actions wait in the store as JSON; these functions turn decisions into that JSON and back into
the connector contract's records, so what is re-sent after a crash is exactly what was decided.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from leadsync.config.operations import NurtureEnrolment, NurtureSettings
from leadsync.handoff import DigestLead, HandoffPerson, Transition
from leadsync.records import Enrolment, OwnerChange, TaskRequest
from leadsync.store import actions as outbox
from leadsync.store.scoring import ScoreRow, StoredRecord


def programmes(nurture: NurtureSettings, cell: str | None) -> set[tuple[str, str | None]]:
    """``("campaign:<id>" | "list:<id>", status)`` for a cell's enrolments."""
    found: set[tuple[str, str | None]] = set()
    entry: NurtureEnrolment
    for entry in nurture.enrol:
        if entry.cell != cell:
            continue
        if entry.campaign:
            found.add((f"campaign:{entry.campaign}", entry.status))
        if entry.list:
            found.add((f"list:{entry.list}", None))
    return found


def kind_of(target: str) -> str:
    """``campaign`` or ``list``: which CRMs' records join ``target`` (their capability)."""
    return target.split(":", 1)[0]


def handoff_row(
    person_id: int,
    target: StoredRecord,
    row: ScoreRow,
    decided: Transition,
    state: str,
    now: datetime,
) -> dict[str, Any]:
    return {
        "person_id": person_id,
        "seq": decided.seq,
        "record_uid": target.uid,
        "source": target.source,
        "state": state,
        "trigger": decided.trigger,
        "from_cell": decided.from_cell,
        "to_cell": decided.to_cell,
        "readiness": row.readiness,
        "score": row.score,
        "reason": decided.reason,
        "queued_at": now,
        "hold_until": decided.until,
        "previous_owner_id": target.owner_id,
    }


def handoff_person(
    person_id: int, record: StoredRecord, attributes: Mapping[str, Any], email: str | None
) -> HandoffPerson:
    first = str(attributes.get("first_name") or "").strip()
    last = str(attributes.get("last_name") or "").strip()
    name = " ".join(p for p in (first, last) if p) or attributes.get("name")
    return HandoffPerson(
        key=str(person_id),
        ref=outbox.ref_of(record.uid),
        name=str(name) if name else None,
        email=email,
        company=text(attributes.get("company")),
        title=text(attributes.get("title")),
    )


def text(value: Any) -> str | None:
    return str(value).strip() or None if value is not None else None


def task_payload(task: TaskRequest) -> dict[str, Any]:
    return {
        "owner_id": task.owner_id,
        "subject": task.subject,
        "body": task.body,
        "due_at": task.due_at.isoformat(),
        "priority": task.priority,
    }


def digest_dict(lead: DigestLead) -> dict[str, Any]:
    person = lead.person
    return {
        "person_key": person.key,
        "record": str(person.ref),
        "name": person.name,
        "email": person.email,
        "company": person.company,
        "title": person.title,
        "readiness": lead.readiness,
        "score": lead.score,
        "cell": lead.cell,
        "reason": lead.reason,
        "due_at": lead.due_at.isoformat(),
        "link": lead.link,
    }


def digest_lead(data: Mapping[str, Any]) -> DigestLead:
    person = HandoffPerson(
        key=data["person_key"],
        ref=outbox.ref_of(data["record"]),
        name=data.get("name"),
        email=data.get("email"),
        company=data.get("company"),
        title=data.get("title"),
    )
    return DigestLead(
        person=person,
        readiness=data["readiness"],
        score=float(data["score"]),
        cell=data["cell"],
        reason=data["reason"],
        due_at=datetime.fromisoformat(data["due_at"]),
        link=data.get("link"),
    )


def owner_change(action: outbox.DueAction) -> OwnerChange:
    return OwnerChange(action.ref, action.payload.get("owner_id"), action.payload.get("status"))


def enrolment(action: outbox.DueAction) -> Enrolment:
    payload = action.payload
    return Enrolment(
        action.ref, payload["target_id"], payload.get("status"), bool(payload.get("remove"))
    )


def task(action: outbox.DueAction) -> TaskRequest:
    payload = action.payload
    return TaskRequest(
        key=action.key,
        person=action.ref,
        owner_id=payload["owner_id"],
        subject=payload["subject"],
        body=payload["body"],
        due_at=datetime.fromisoformat(payload["due_at"]),
        priority=payload.get("priority", "Normal"),
    )
