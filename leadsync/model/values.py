"""The values the model takes in and hands back: people, activities, account signals.

All are frozen slotted dataclasses with no behaviour beyond small conveniences, so they pickle
cheaply (the engine and the benchmark score in worker processes) and compare by value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, get_args

Fit = Literal["good", "poor"]
Readiness = Literal["hand_raiser", "sales_ready", "unready", "do_not_contact"]
Team = Literal["sales", "marketing"]
Interest = Literal["hand_raiser", "active", "passive", "not_interested"]
CriterionStatus = Literal["checked", "missed", "missing", "unreadable"]

FITS: tuple[Fit, ...] = ("good", "poor")
READINESS_LEVELS: tuple[Readiness, ...] = (
    "hand_raiser",
    "sales_ready",
    "unready",
    "do_not_contact",
)
INTERESTS: tuple[Interest, ...] = ("hand_raiser", "active", "passive", "not_interested")

#: Activity kinds the connectors emit. Rules may match only these.
ActivityKind = Literal[
    "form_submission",
    "campaign_response",
    "campaign_member",
    "email_open",
    "email_click",
    "email_sent",
    "unsubscribe",
    "page_view",
    "webinar_registered",
    "webinar_attended",
    "meeting",
    "call",
    "task",
    "email",
    "ebook_download",
    "demo_request",
    "price_sheet_download",
    "contact_us",
]
ACTIVITY_KINDS: tuple[str, ...] = get_args(ActivityKind)

#: Attribute names the model fills in itself when the CRM does not provide them.
DERIVED_ATTRIBUTES: tuple[str, ...] = ("seniority", "department", "email_domain")
#: Attribute names that exist only when account roll-up signals are passed to ``score``.
ACCOUNT_ATTRIBUTES: tuple[str, ...] = ("account_score", "account_engaged_people")


@dataclass(frozen=True, slots=True)
class Person:
    """One person as the store knows them, merged across CRMs.

    ``attributes`` maps canonical attribute names to raw CRM values, which may be missing,
    null, of the wrong type or oversized; the model reads what it can and reports the rest.
    """

    key: str
    attributes: Mapping[str, object] = field(default_factory=dict)
    email: str | None = None
    #: The CRM's email opt-out flag (Salesforce HasOptedOutOfEmail, HubSpot hs_email_optout).
    opted_out: bool = False
    #: When sales last recycled this person: only activities after it count.
    recycled_at: datetime | None = None
    #: Account id or company email domain, for the account roll-up.
    account_key: str | None = None


@dataclass(frozen=True, slots=True)
class Activity:
    """Something the person did, in canonical form. ``occurred_at`` is timezone-aware UTC.

    The time is an interval: the true instant lies between ``earliest`` (``early_s`` seconds
    before ``occurred_at``) and ``latest`` (``late_s`` seconds after), both 0 for an exact
    stamp. ``occurred_at`` is the best estimate inside it, which decay and windows use; the
    do-not-contact rule uses the bounds, so an order the stamps cannot decide is not "after".
    """

    id: str
    kind: str
    occurred_at: datetime
    name: str | None = None
    campaign_type: str | None = None
    member_status: str | None = None
    url: str | None = None
    early_s: int = 0
    late_s: int = 0

    @property
    def earliest(self) -> datetime:
        """The earliest instant the activity may have happened."""
        return _aware(self.occurred_at) - timedelta(seconds=self.early_s)

    @property
    def latest(self) -> datetime:
        """The latest instant the activity may have happened."""
        return _aware(self.occurred_at) + timedelta(seconds=self.late_s)


def _aware(moment: datetime) -> datetime:
    """A naive time from a careless source, read as UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


#: A date with no time, from a CRM that does not say in which time zone its calendar day
#: runs: the day began somewhere between UTC+14 and UTC-12, so its instants span from 14
#: hours before the date's UTC midnight to 12 hours after the next one. Its best estimate is
#: noon UTC on the date: the middle of the day wherever the CRM kept it, never more than
#: about half a day off (midnight, the old reading, put every dated activity before every
#: timed one of the same day).
DATE_EARLY_S = 26 * 3600
DATE_LATE_S = 24 * 3600


def on_date(day: date) -> tuple[datetime, int, int]:
    """``(best estimate, early_s, late_s)`` of something known only to have happened on ``day``."""
    noon = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    return noon, DATE_EARLY_S, DATE_LATE_S


def spanning(best: datetime, earliest: datetime, latest: datetime) -> tuple[datetime, int, int]:
    """``(best, early_s, late_s)`` for an instant known to lie in ``[earliest, latest]``.

    ``best`` is moved inside the interval when it falls outside; the seconds are rounded up,
    so the interval carried is never narrower than the one known."""
    if latest < earliest:
        earliest, latest = latest, earliest
    best = min(max(best, earliest), latest)
    return best, _ceil_seconds(best - earliest), _ceil_seconds(latest - best)


def _ceil_seconds(delta: timedelta) -> int:
    whole, rest = divmod(delta, timedelta(seconds=1))
    return int(whole) + (1 if rest else 0)


@dataclass(frozen=True, slots=True)
class AccountSignals:
    """Engagement of everyone at one account: summed score and the engaged buying group."""

    score: float
    engaged_people: int


@dataclass(frozen=True, slots=True)
class CriterionOutcome:
    """One ICP box for one person: checked or not, and in words why.

    ``status`` is ``checked``, ``missed`` (the value was read and does not qualify),
    ``missing`` (no value) or ``unreadable`` (a value the model could not interpret).
    """

    name: str
    attribute: str
    status: CriterionStatus
    required: bool
    reason: str

    @property
    def checked(self) -> bool:
        return self.status == "checked"


@dataclass(frozen=True, slots=True)
class Contribution:
    """One activity that scored: the rule it matched, its points before and after decay.

    An attribute rule's contribution has ``kind`` "attribute", the attribute's name as
    ``activity_id`` and no ``occurred_at``: it is the person's data, not something they did."""

    activity_id: str
    rule: str
    kind: str
    raw_points: float
    points: float
    occurred_at: datetime | None
    interest: Interest


# A frozen dataclass's __init__ sets each field through object.__setattr__, which made building
# contributions and criterion outcomes a third of a full re-score. Writing the slots through
# their descriptors builds an equal, still immutable object at a fraction of the cost. These
# are the hot-path constructors; everywhere else the ordinary constructor is used.
_new = object.__new__
_C = {f.name: Contribution.__dict__[f.name].__set__ for f in fields(Contribution)}
_c_id, _c_rule, _c_kind, _c_raw, _c_points, _c_at, _c_interest = _C.values()
_O = {f.name: CriterionOutcome.__dict__[f.name].__set__ for f in fields(CriterionOutcome)}
_o_name, _o_attribute, _o_status, _o_required, _o_reason = _O.values()
_A = {f.name: Activity.__dict__[f.name].__set__ for f in fields(Activity)}
_a_id, _a_kind, _a_at, _a_name, _a_ctype, _a_status, _a_url, _a_early, _a_late = _A.values()


def new_contribution(
    activity_id: str,
    rule: str,
    kind: str,
    raw_points: float,
    points: float,
    occurred_at: datetime | None,
    interest: Interest,
) -> Contribution:
    """``Contribution(...)``, fast (see above)."""
    obj: Contribution = _new(Contribution)
    _c_id(obj, activity_id)
    _c_rule(obj, rule)
    _c_kind(obj, kind)
    _c_raw(obj, raw_points)
    _c_points(obj, points)
    _c_at(obj, occurred_at)
    _c_interest(obj, interest)
    return obj


def new_activity(*fields_in_order: Any) -> Activity:
    """``Activity(*fields_in_order)`` with all nine fields given, fast (see above): a preview
    builds ten million of them."""
    ident, kind, occurred_at, name, campaign_type, member_status, url, early_s, late_s = (
        fields_in_order
    )
    obj: Activity = _new(Activity)
    _a_id(obj, ident)
    _a_kind(obj, kind)
    _a_at(obj, occurred_at)
    _a_name(obj, name)
    _a_ctype(obj, campaign_type)
    _a_status(obj, member_status)
    _a_url(obj, url)
    _a_early(obj, early_s)
    _a_late(obj, late_s)
    return obj


def new_outcome(
    name: str, attribute: str, status: CriterionStatus, required: bool, reason: str
) -> CriterionOutcome:
    """``CriterionOutcome(...)``, fast (see above)."""
    obj: CriterionOutcome = _new(CriterionOutcome)
    _o_name(obj, name)
    _o_attribute(obj, attribute)
    _o_status(obj, status)
    _o_required(obj, required)
    _o_reason(obj, reason)
    return obj
