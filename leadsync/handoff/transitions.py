"""When a person changes hands: hand-off to sales, recycle to marketing, or held by cool-down.

``transition`` compares the team LeadSync last acted on with the team just scored, and reads
the person's hand-off history and CRM status. It decides at most one thing per call:

* recycle, when a person in sales' hands has a recycle status, or an open hand-off has seen no
  sales touch for ``inactivity_days``; this wins over a hand-off (sales already said no);
* hand-off, when the new team is ``sales`` and the previous was not (or this is the first
  scoring), once per transition: ``seq`` numbers it, so a retry of the same transition reuses
  the same task key;
* held, when that hand-off falls in the cool-down after ``cool_down_after`` recycles.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from leadsync.config.operations import HandoffSettings, RecycleSettings
from leadsync.model.reading import norm

TransitionKind = Literal["handoff", "recycle", "held"]
Trigger = Literal["first_scoring", "entered_sales", "recycle_status", "inactivity", "cool_down"]


@dataclass(frozen=True, slots=True)
class HandoffHistory:
    """What LeadSync remembers of a person's hand-offs and recycles."""

    handoffs: int = 0
    handed_off_at: datetime | None = None
    recycles: int = 0
    recycled_at: datetime | None = None
    #: Latest sales touch (owner's task, call, meeting, email, or status change).
    last_sales_touch_at: datetime | None = None

    @property
    def open(self) -> bool:
        """Whether the last hand-off has not been recycled since."""
        if self.handed_off_at is None:
            return False
        return self.recycled_at is None or self.handed_off_at > self.recycled_at


@dataclass(frozen=True, slots=True)
class Transition:
    """One decided change of hands.

    ``seq`` is the hand-off number for ``handoff`` and ``held`` (history.handoffs + 1) and the
    recycle number for ``recycle`` (history.recycles + 1). ``until`` is when a ``held`` hand-off
    may go ahead.
    """

    kind: TransitionKind
    trigger: Trigger
    seq: int
    from_cell: str | None
    to_cell: str
    reason: str
    until: datetime | None = None


def cool_down_until(history: HandoffHistory, settings: RecycleSettings) -> datetime | None:
    """End of the cool-down after ``cool_down_after`` recycles, or ``None`` when none applies."""
    if (
        not settings.enabled
        or settings.cool_down_days <= 0
        or history.recycles < settings.cool_down_after
        or history.recycled_at is None
    ):
        return None
    return history.recycled_at + timedelta(days=settings.cool_down_days)


def is_recycle_status(status: str | None, settings: RecycleSettings) -> bool:
    """Whether sales set one of the configured recycle statuses (case-insensitive)."""
    if not status:
        return False
    return norm(status) in {norm(s) for s in settings.statuses}


def _recycle(
    previous_team: str | None,
    new_team: str,
    status: str | None,
    history: HandoffHistory,
    settings: RecycleSettings,
    now: datetime,
) -> tuple[Trigger, str] | None:
    if not settings.enabled:
        return None
    in_sales_hands = previous_team == "sales" or history.open
    # Sales' verdict stands whenever the person would next go to sales, not only on the first
    # scoring: a lead rejected while marketing held it, then scoring into sales, is recycled
    # (status, owner, engagement baseline) as a fresh store reading the same CRM would do.
    into_sales = previous_team != "sales" and new_team == "sales"
    if is_recycle_status(status, settings) and (in_sales_hands or into_sales):
        return "recycle_status", f"sales set status {status!r}"
    if history.open and history.handed_off_at is not None:
        last = max(filter(None, (history.handed_off_at, history.last_sales_touch_at)))
        idle = now - last
        if idle >= timedelta(days=settings.inactivity_days):
            since = "the last sales touch" if last != history.handed_off_at else "the hand-off"
            return "inactivity", (
                f"no sales touch in the {idle.days} days since {since} "
                f"(limit {settings.inactivity_days})"
            )
    return None


def transition(
    previous_team: str | None,
    new_team: str,
    previous_cell: str | None,
    new_cell: str,
    *,
    status: str | None = None,
    history: HandoffHistory | None = None,
    handoff: HandoffSettings,
    recycle: RecycleSettings,
    now: datetime,
) -> Transition | None:
    """Decide whether this scoring changes hands; ``None`` when nothing happens.

    ``previous_team`` and ``previous_cell`` are what LeadSync last acted on (``None`` on first
    scoring): persist ``new_team``/``new_cell`` after ``None``, ``handoff`` or ``recycle`` (a
    recycle leaves the person marketing's: persist ``marketing``), and keep the previous ones
    after ``held`` so the hand-off fires once the cool-down ends.
    """
    past = history or HandoffHistory()
    recycled = _recycle(previous_team, new_team, status, past, recycle, now)
    if recycled is not None:
        trigger, reason = recycled
        return Transition("recycle", trigger, past.recycles + 1, previous_cell, new_cell, reason)
    if not handoff.enabled or new_team != "sales" or previous_team == "sales":
        return None
    trigger = "first_scoring" if previous_team is None else "entered_sales"
    moved = f"first scored in {new_cell}" if previous_cell is None else (
        f"moved {previous_cell} -> {new_cell}"
    )  # fmt: skip
    seq = past.handoffs + 1
    until = cool_down_until(past, recycle)
    if until is not None and now < until:
        return Transition(
            "held",
            "cool_down",
            seq,
            previous_cell,
            new_cell,
            f"{moved}, but recycled {past.recycles} times: cool-down until {until:%Y-%m-%d}",
            until,
        )
    return Transition("handoff", trigger, seq, previous_cell, new_cell, f"{moved} (sales)")
