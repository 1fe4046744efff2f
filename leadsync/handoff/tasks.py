"""The tasks a rep gets: one per hand-off, or one digest per rep per day, from the templates.

Keys make every task idempotent: ``ls-<person>-<seq>`` for the ``seq``-th hand-off of a
person, ``ls-digest-<owner>-<yyyymmdd>`` for a rep's digest of a business day. A retry
upserts the same task instead of adding one; a digest is sent once, when its day's business
window closes, so every lead of that day is in it (``digest_day``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from leadsync.config.operations import HandoffSettings, NotifyMode
from leadsync.errors import ConfigError
from leadsync.handoff.hours import hours_for, local_day
from leadsync.handoff.queueing import priority_key
from leadsync.handoff.routing import RoutingDecision
from leadsync.handoff.sla import due_at as sla_due_at
from leadsync.handoff.sla import windows
from leadsync.handoff.text import BODY_LIMIT, READINESS_WORDS, SUBJECT_LIMIT, clip, local_time
from leadsync.model.result import Result
from leadsync.records import RecordRef, TaskRequest

#: Contributions listed under "Top activities".
TOP_ACTIVITIES = 5


@dataclass(frozen=True, slots=True)
class HandoffPerson:
    """Who a task is about: LeadSync's person key, the CRM record, and what a rep reads."""

    key: str
    ref: RecordRef
    name: str | None = None
    email: str | None = None
    company: str | None = None
    title: str | None = None

    @property
    def display_name(self) -> str:
        return self.name or self.email or str(self.ref)


@dataclass(frozen=True, slots=True)
class DigestLead:
    """One lead in a rep's daily digest."""

    person: HandoffPerson
    readiness: str
    score: float
    cell: str
    reason: str
    due_at: datetime
    link: str | None = None


def task_key(person_key: str, seq: int) -> str:
    """The idempotency key of a person's ``seq``-th hand-off task."""
    return f"ls-{person_key}-{seq}"


def digest_key(owner_id: str, day: date) -> str:
    """The idempotency key of one rep's digest task for ``day``."""
    return f"ls-digest-{owner_id}-{day:%Y%m%d}"


def digest_day(now: datetime, owner_id: str, settings: HandoffSettings) -> tuple[date, datetime]:
    """The business day a lead handed off at ``now`` joins the owner's digest of, and when
    that digest is sent: the close of the owner's business window holding ``now``, or of the
    next one when ``now`` is outside business hours.

    A CRM creates a task once per key and never rewrites it (a rep may have edited it), so a
    digest is sent once, complete, when its day's window closes; a lead handed off after the
    close joins the next business day's digest."""
    hours = hours_for(owner_id, settings)
    opens, closes = next(windows(now, hours))
    return local_day(opens, hours), closes


def notify_mode(cell: str, settings: HandoffSettings) -> NotifyMode:
    """``immediate`` or ``daily_digest`` for a matrix cell such as ``good/hand_raiser``."""
    fit, _, readiness = cell.partition("/")
    mode: NotifyMode = getattr(settings.notify, f"{fit}_{readiness}", "immediate")
    return mode


def _fill(template: str, values: Mapping[str, object], key: str) -> str:
    try:
        return template.format_map(values)
    except (ValueError, KeyError, IndexError, AttributeError) as exc:
        raise ConfigError(
            f"[handoff.task] {key}: the template cannot be filled ({exc}); use plain "
            "placeholders such as {name} or {score}, and write literal braces as {{ }}"
        ) from None


def _explanation(result: Result, decision: RoutingDecision) -> str:
    lines = [f"Readiness: {result.readiness_reason}"]
    top = sorted(result.contributions, key=lambda c: c.points, reverse=True)[:TOP_ACTIVITIES]
    if top:
        lines.append("Top activities:")
        lines.extend(
            f"  {c.points:+.0f}  {c.rule} ({c.kind}) on {c.occurred_at:%Y-%m-%d}"
            if c.occurred_at is not None
            else f"  {c.points:+.0f}  {c.rule} (from attribute {c.activity_id})"
            for c in top
        )
    if result.criteria:
        checked = ", ".join(c.name for c in result.checked) or "none"
        lines.append(f"Fit boxes checked: {checked}")
        if result.missed:
            lines.append("Fit boxes missed: " + ", ".join(c.name for c in result.missed))
    lines.append(f"Why you: {decision.why}")
    return "\n".join(lines)


def render_task(
    person: HandoffPerson,
    result: Mapping[str, Any],
    decision: RoutingDecision,
    settings: HandoffSettings,
    record_link: str | None,
    now: datetime,
    *,
    seq: int,
) -> TaskRequest:
    """The hand-off task for the new owner, from ``[handoff.task]`` templates.

    ``result`` is ``Result.to_dict()`` of the scoring that caused the hand-off; ``seq`` the
    hand-off number (``Transition.seq``). The due time is the SLA of the lead's readiness in
    the new owner's business time, and reads in their time zone. Raises ``ValueError`` for an
    unrouted decision (there is no one to task).
    """
    if decision.owner_id is None:
        raise ValueError("cannot task an unrouted hand-off; route it to an owner first")
    scored = Result.from_dict(dict(result))
    due = sla_due_at(scored.readiness, settings, now, owner_id=decision.owner_id)
    values: dict[str, object] = {
        "name": person.display_name,
        "email": person.email or "no email",
        "company": person.company or "unknown company",
        "title": person.title or "unknown title",
        "fit": scored.fit,
        "readiness": READINESS_WORDS.get(scored.readiness, scored.readiness),
        "score": scored.score,
        "team": scored.team,
        "cell": scored.cell,
        "reason": scored.reason(now),
        "due": local_time(due, hours_for(decision.owner_id, settings)),
        "explanation": _explanation(scored, decision),
    }
    subject = _fill(settings.task.subject, values, "subject")
    body = _fill(settings.task.body, values, "body")
    if record_link:
        body = f"{body}\n\nOpen the record: {record_link}"
    priority = (
        settings.task.priority_hand_raiser
        if scored.readiness == "hand_raiser"
        else settings.task.priority_sales_ready
    )
    return TaskRequest(
        key=task_key(person.key, seq),
        person=person.ref,
        owner_id=decision.owner_id,
        subject=clip(" ".join(subject.split()), SUBJECT_LIMIT),
        body=clip(body, BODY_LIMIT),
        due_at=due,
        priority=priority,
    )


def render_digest(
    owner_id: str, leads: Sequence[DigestLead], settings: HandoffSettings, day: date
) -> TaskRequest:
    """One task listing the leads that became ``owner_id``'s on ``day``.

    Leads are listed hand-raisers first, then by score. The task hangs off the first of them
    (a task needs a record) and is due when the earliest of their SLAs is. Times read in the
    owner's time zone.
    """
    if not leads:
        raise ValueError("a digest needs at least one lead")
    hours = hours_for(owner_id, settings)
    ordered = sorted(leads, key=priority_key)
    count = len(ordered)
    noun = "lead" if count == 1 else "leads"
    subject = f"LeadSync: {count} new {noun} for you ({day:%a %d %b})"
    lines = [f"{count} {noun} became yours on {day:%A %d %B %Y}:", ""]
    for number, lead in enumerate(ordered, start=1):
        person = lead.person
        company = f" ({person.company})" if person.company else ""
        readiness = READINESS_WORDS.get(lead.readiness, lead.readiness)
        lines.append(
            f"{number}. {person.display_name}{company}: {readiness}, score {lead.score:g}, "
            f"due {local_time(lead.due_at, hours)}"
        )
        lines.append(f"   {lead.reason}")
        if lead.link:
            lines.append(f"   {lead.link}")
    hand_raiser = any(lead.readiness == "hand_raiser" for lead in ordered)
    return TaskRequest(
        key=digest_key(owner_id, day),
        person=ordered[0].person.ref,
        owner_id=owner_id,
        subject=clip(subject, SUBJECT_LIMIT),
        body=clip("\n".join(lines), BODY_LIMIT),
        due_at=min(lead.due_at for lead in ordered),
        priority=(
            settings.task.priority_hand_raiser
            if hand_raiser
            else settings.task.priority_sales_ready
        ),
    )
