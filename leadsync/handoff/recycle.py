"""Sending a person back to marketing nurture once ``transition`` decided to recycle them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from leadsync.config.operations import RecycleSettings
from leadsync.handoff.text import clip
from leadsync.handoff.transitions import HandoffHistory, Transition
from leadsync.model.result import REASON_LIMIT
from leadsync.records import NurtureKind, OwnerChange, RecordRef, RecordUpdate


@dataclass(frozen=True, slots=True)
class RecyclePlan:
    """What to write for one recycle, and the history to persist after it.

    ``owner_change`` is ``None`` only when the record has no owner and no ``nurture_owner`` is
    configured (an owner change needs an owner). ``recycled_at`` is also the person's new
    engagement baseline (``Person.recycled_at``): only activities after it count again.
    """

    owner_change: OwnerChange | None
    outputs: RecordUpdate
    #: The nurture programme (a campaign or a list, as the record's CRM keeps them) the
    #: record joins; ``None`` when none is configured for its kind.
    nurture_id: str | None
    history: HandoffHistory
    reason: str


def plan_recycle(
    ref: RecordRef,
    current_owner: str | None,
    decided: Transition,
    history: HandoffHistory,
    settings: RecycleSettings,
    now: datetime,
    nurture: NurtureKind | None = None,
) -> RecyclePlan:
    """The writes for a ``recycle`` transition: nurture owner and status, count and reason,
    and the programme the record joins: ``nurture_campaign`` or ``nurture_list`` as its CRM
    keeps programmes (``nurture``, the connector's capability)."""
    if decided.kind != "recycle":
        raise ValueError(f"plan_recycle needs a recycle transition, got {decided.kind}")
    owner = settings.nurture_owner or current_owner
    change = None if owner is None else OwnerChange(ref, owner, settings.nurture_status)
    reason = clip(f"Recycled {now:%Y-%m-%d}: {decided.reason}", REASON_LIMIT)
    return RecyclePlan(
        owner_change=change,
        outputs=RecordUpdate(ref, {"recycle_count": decided.seq, "recycle_reason": reason}),
        nurture_id=nurture_target(settings, nurture),
        history=HandoffHistory(
            handoffs=history.handoffs,
            handed_off_at=history.handed_off_at,
            recycles=decided.seq,
            recycled_at=now,
            last_sales_touch_at=history.last_sales_touch_at,
        ),
        reason=reason,
    )


def nurture_target(settings: RecycleSettings, nurture: NurtureKind | None) -> str | None:
    """The recycle programme for records of a CRM that keeps programmes as ``nurture``."""
    if nurture == "campaign":
        return settings.nurture_campaign
    if nurture == "list":
        return settings.nurture_list
    return None
