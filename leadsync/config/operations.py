"""The operational part of the config file: ``[store]``, ``[sync]``, ``[identity]``,
``[handoff]``, ``[recycle]`` and ``[service]``.
"""

from __future__ import annotations

import ipaddress
import string
import zoneinfo
from datetime import date, datetime, time
from typing import Annotated, Literal

import holidays as holiday_lib
from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from leadsync.config.loading import is_reference
from leadsync.config.model_settings import Section
from leadsync.service.names import normalise_host, path_problem

#: A configured connection's name (``[connectors.<name>]``); checked against the file's
#: connections once loaded.
CrmName = str
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
NotifyMode = Literal["immediate", "daily_digest"]

#: Placeholders a hand-off task's subject and body may use.
TASK_FIELDS = frozenset(
    {"name", "email", "company", "title", "fit", "readiness", "score", "team", "cell", "reason",
     "due", "explanation"}
)  # fmt: skip


class StoreSettings(Section):
    """``[store]``: where LeadSync remembers people, activities, writes and runs."""

    #: SQLAlchemy URL: ``sqlite:///leadsync.db`` (relative to the config file) or
    #: ``postgresql+psycopg://user:${PGPASSWORD}@host/db``.
    url: str = "sqlite:///leadsync.db"

    @field_validator("url")
    @classmethod
    def _supported(cls, value: str) -> str:
        if not value.startswith(("sqlite:///", "postgresql+psycopg://", "postgresql://")):
            raise ValueError(
                "must start with sqlite:/// or postgresql+psycopg:// "
                "(e.g. sqlite:///leadsync.db, postgresql+psycopg://user@host/leadsync)"
            )
        return value


class SyncSettings(Section):
    """``[sync]``: the cycle's cadence, batching and retries."""

    interval_seconds: int = Field(default=300, ge=10)
    #: Re-read this much before the last cursor, so a record committed late is not skipped.
    overlap_seconds: int = Field(default=120, ge=0)
    write_batch: int = Field(default=200, ge=1, le=10_000)
    #: Pulled records stored per transaction (a resumed backfill redoes at most one batch).
    pull_batch: int = Field(default=5_000, ge=1, le=50_000)
    max_write_attempts: int = Field(default=5, ge=1, le=50)
    #: Base of the exponential back-off between write attempts (60, 120, 240 ...).
    retry_backoff_seconds: float = Field(default=60.0, gt=0)
    #: Most hand-offs acted on in one cycle; the rest wait, so a model change cannot flood reps.
    handoffs_per_cycle: int = Field(default=500, ge=1)
    #: The daily decay re-score writes a person only when their score moved this much.
    score_change_threshold: int = Field(default=5, ge=1)
    #: The daily pass also re-reads every record modified in this many hours before it,
    #: whatever the cursors: records committed late are found (0: off).
    reread_hours: int = Field(default=24, ge=0, le=24 * 31)

    @model_validator(mode="after")
    def _overlap_shorter_than_interval(self) -> SyncSettings:
        if self.overlap_seconds >= self.interval_seconds * 10:
            raise ValueError(
                f"overlap_seconds ({self.overlap_seconds}) should be well under ten intervals "
                f"({self.interval_seconds * 10}); every cycle would re-read too much"
            )
        return self


class IdentitySettings(Section):
    """``[identity]``: which CRM wins when both know a person."""

    #: Whose attributes (industry, size ...) score the fit when both CRMs have them.
    fit_source: CrmName | None = None
    #: Where hand-offs, owners and tasks happen.
    sales_crm: CrmName | None = None


def _known_zone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError("not an IANA time zone (e.g. Europe/London, America/New_York)") from None
    return value


def _some_days(value: tuple[str, ...]) -> tuple[str, ...]:
    if not value:
        raise ValueError("days must name at least one weekday (mon, tue, wed, thu, fri, sat, sun)")
    if len(set(value)) != len(value):
        raise ValueError("days lists a weekday twice")
    return value


def _iso_date(value: object) -> object:
    # TOML's bare 2026-12-24 arrives as a date; a quoted one is read here, with a hint.
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            raise ValueError("not a date; write YYYY-MM-DD (e.g. 2026-12-24)") from None
    if isinstance(value, datetime):
        raise ValueError("a day, not a date and time; write YYYY-MM-DD (e.g. 2026-12-24)")
    return value


def _one_or_many(value: object) -> object:
    # ``holidays = { country = "GB" }`` for one calendar, a list for several, [] for none.
    return [value] if isinstance(value, dict) else value


TimeZoneName = Annotated[str, AfterValidator(_known_zone)]
Weekdays = Annotated[tuple[Weekday, ...], AfterValidator(_some_days)]
IsoDate = Annotated[date, BeforeValidator(_iso_date)]


class HolidayCalendar(Section):
    """A public-holiday calendar of the ``holidays`` library: a country, maybe a subdivision."""

    #: ISO 3166-1 alpha-2 code: GB, US, DE, FR ...
    country: str
    #: The library's subdivision code (GB: ENG, NIR, SCT, WLS; US: CA, NY ...).
    subdivision: str | None = None

    @field_validator("country", "subdivision")
    @classmethod
    def _code(cls, value: str | None) -> str | None:
        return value.strip().upper() if value is not None else None

    @model_validator(mode="after")
    def _known(self) -> HolidayCalendar:
        supported = holiday_lib.list_supported_countries()
        if self.country not in supported:
            raise ValueError(
                f"country {self.country!r} has no holiday calendar; use an ISO 3166 alpha-2 "
                "code such as GB, US, DE, FR, AU, IN"
            )
        subdivisions = supported[self.country]
        if self.subdivision is not None and self.subdivision not in subdivisions:
            allowed = ", ".join(subdivisions) if subdivisions else "none (leave it out)"
            raise ValueError(
                f"subdivision {self.subdivision!r} is not one of {self.country}'s; "
                f"allowed: {allowed}"
            )
        return self


Calendars = Annotated[tuple[HolidayCalendar, ...], BeforeValidator(_one_or_many)]


def _inside(close: time, start: time, end: time) -> bool:
    """Whether a window from ``start`` can close at ``close`` without outlasting ``end``."""
    if start < end:
        return start < close <= end
    return close > start or close <= end  # the window runs past midnight


class BusinessHours(Section):
    """When a rep works: on ``days``, from ``start`` to ``end`` in ``time_zone``.

    An ``end`` before ``start`` runs into the next day (a night shift, 22:00 to 06:00); the
    day named in ``days`` is the one the window opens on. A holiday (``holidays``, the
    country's public holidays, or ``extra_holidays``, the org's own) has no window: a window
    that would open on it does not. ``half_days`` close that day's window early.
    """

    time_zone: TimeZoneName = "UTC"
    days: Weekdays = ("mon", "tue", "wed", "thu", "fri")
    start: time = time(9, 0)
    end: time = time(17, 0)
    holidays: Calendars = ()
    extra_holidays: tuple[IsoDate, ...] = ()
    #: date -> the time that day's window closes, e.g. { "2026-12-24" = 13:00:00 }.
    half_days: dict[IsoDate, time] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _window(self) -> BusinessHours:
        if self.start == self.end:
            raise ValueError(
                f"start and end are both {self.start}; a window needs a length (an end "
                "before start runs past midnight, e.g. start = 22:00:00, end = 06:00:00)"
            )
        for day, close in sorted(self.half_days.items()):
            if not _inside(close, self.start, self.end):
                raise ValueError(
                    f"half_days {day}: {close} is not inside the window {self.start} to "
                    f"{self.end}; give the time that day's window closes"
                )
        return self


class HoursOverride(Section):
    """Business-hours keys a pool or a rep sets differently; every key left out is inherited.

    A key given replaces the inherited value whole (``extra_holidays`` too, so repeat the
    org's dates in a pool that lists its own).
    """

    time_zone: TimeZoneName | None = None
    days: Weekdays | None = None
    start: time | None = None
    end: time | None = None
    holidays: Calendars | None = None
    extra_holidays: tuple[IsoDate, ...] | None = None
    half_days: dict[IsoDate, time] | None = None

    def over(self, base: BusinessHours) -> BusinessHours:
        """``base`` with the keys given here (already validated) put in."""
        given = {name: getattr(self, name) for name in self.model_fields_set}
        return base.model_copy(update=given) if given else base

    def check_over(self, base: BusinessHours, where: str) -> None:
        """Raise ``ValueError`` naming ``where`` unless these keys over ``base`` make a window."""
        data = base.model_dump() | self.model_dump(exclude_unset=True)
        try:
            BusinessHours.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
            raise ValueError(f"{where}: {problems}") from None


class PoolMatch(Section):
    """Which leads a pool takes; every key given must match (an empty match takes all)."""

    countries: tuple[str, ...] = ()
    states: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    industries: tuple[str, ...] = ()
    employees_min: int | None = Field(default=None, ge=0)
    employees_max: int | None = Field(default=None, ge=0)


class PoolSettings(Section):
    """A territory: reps (CRM user ids) who share leads round-robin, weighted."""

    name: str = Field(min_length=1)
    match: PoolMatch = PoolMatch()
    members: tuple[str, ...] = Field(min_length=1)
    weights: tuple[float, ...] | None = None
    #: Most hand-offs one rep gets per day from this pool; over it the next rep is tried.
    daily_cap: int | None = Field(default=None, ge=1)
    #: The members' hours where they differ from ``[handoff.business_hours]``.
    business_hours: HoursOverride | None = None

    @model_validator(mode="after")
    def _weights_fit_members(self) -> PoolSettings:
        if self.weights is not None:
            if len(self.weights) != len(self.members):
                raise ValueError(
                    f"weights has {len(self.weights)} entries but members has "
                    f"{len(self.members)}; give one weight per member"
                )
            if any(w <= 0 for w in self.weights):
                raise ValueError("weights must all be positive")
        if len(set(self.members)) != len(self.members):
            raise ValueError("members lists a user twice; use weights to favour a rep")
        return self


class SlaSettings(Section):
    """Minutes (of business time) sales has to touch a handed-off lead, per readiness."""

    hand_raiser: int = Field(default=5, ge=1)
    #: One business day of 8 hours.
    sales_ready: int = Field(default=480, ge=1)
    on_breach: Literal["escalate", "reroute", "both", "none"] = "escalate"


class NotifySettings(Section):
    """How the owner hears of a hand-off, per matrix cell."""

    good_hand_raiser: NotifyMode = "immediate"
    good_sales_ready: NotifyMode = "immediate"
    good_unready: NotifyMode = "daily_digest"
    poor_hand_raiser: NotifyMode = "immediate"
    poor_sales_ready: NotifyMode = "daily_digest"
    poor_unready: NotifyMode = "daily_digest"


def _template(value: str) -> str:
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
    except ValueError as exc:
        raise ValueError(
            f"not a valid template ({exc}); write literal braces as {{{{ }}}}"
        ) from None
    unknown = sorted(n for n in names if n not in TASK_FIELDS)
    if unknown:
        raise ValueError(
            f"unknown placeholder {{{unknown[0]}}}; allowed: "
            + ", ".join(f"{{{n}}}" for n in sorted(TASK_FIELDS))
        )
    return value


class TaskSettings(Section):
    """The task created for the new owner; ``{placeholders}`` are filled per lead."""

    subject: str = "LeadSync: {readiness} {fit}-fit lead {name} ({company})"
    body: str = "{reason}\n\nScore {score}, due {due}.\n\n{explanation}"
    priority_hand_raiser: Literal["High", "Normal", "Low"] = "High"
    priority_sales_ready: Literal["High", "Normal", "Low"] = "Normal"

    @field_validator("subject", "body")
    @classmethod
    def _placeholders(cls, value: str) -> str:
        return _template(value)


class HandoffSettings(Section):
    """``[handoff]``: owner, status, task and SLA when a lead moves to sales."""

    enabled: bool = True
    #: Status set on the lead at hand-off (None leaves the status alone).
    owner_status: str | None = "Working"
    #: Keep a current owner who is an active sales user instead of routing anew.
    keep_active_owner: bool = True
    #: Give a lead whose company matches an account to that account's owner.
    match_accounts: bool = True
    pools: tuple[PoolSettings, ...] = ()
    #: User or queue id that takes leads no pool matches.
    fallback_owner: str | None = None
    #: Users (ids or emails) that never take or keep a lead: other integration or automation
    #: users, shared inboxes. LeadSync's own API user is excluded without being listed.
    never_owners: tuple[str, ...] = ()
    sla: SlaSettings = SlaSettings()
    #: The org's hours; a pool's ``business_hours`` and ``rep_hours`` change some keys.
    business_hours: BusinessHours = BusinessHours()
    #: CRM user id -> the keys of that rep's hours that differ from their pool's.
    rep_hours: dict[str, HoursOverride] = Field(default_factory=dict)
    notify: NotifySettings = NotifySettings()
    task: TaskSettings = TaskSettings()

    @model_validator(mode="after")
    def _routable(self) -> HandoffSettings:
        names = [p.name for p in self.pools]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"pool names must be unique; repeated: {', '.join(duplicates)}")
        # Only when the admin turned hand-off on explicitly: a file without [handoff] still
        # loads (the demo, a fit-only roll-out), keeping existing owners.
        never = {n.lower() for n in self.never_owners}
        listed = [m for pool in self.pools for m in pool.members if m.lower() in never]
        if self.fallback_owner and self.fallback_owner.lower() in never:
            listed.append(self.fallback_owner)
        if listed:
            raise ValueError(
                f"never_owners also lists {', '.join(sorted(set(listed)))} as a pool member or "
                "the fallback_owner; remove it from one of them"
            )
        self._check_hours()
        explicit = "enabled" in self.model_fields_set
        if explicit and self.enabled and not self.pools and not self.fallback_owner:
            raise ValueError(
                "hand-off is enabled but no [[handoff.pools]] and no fallback_owner are "
                "set; add one, or set enabled = false"
            )
        return self

    def _check_hours(self) -> None:
        """Every pool's and rep's merged hours make a window, and no rep's are ambiguous."""
        default = self.business_hours
        pool_hours: dict[str, BusinessHours] = {}
        for index, pool in enumerate(self.pools):
            if pool.business_hours is not None:
                where = f"pools[{index}].business_hours (pool {pool.name})"
                pool.business_hours.check_over(default, where)
                pool_hours[pool.name] = pool.business_hours.over(default)
            else:
                pool_hours[pool.name] = default
        homes: dict[str, list[str]] = {}
        for pool in self.pools:
            for member in pool.members:
                homes.setdefault(member, []).append(pool.name)
        for rep, names in homes.items():
            differ = any(pool_hours[n] != pool_hours[names[0]] for n in names)
            if differ and rep not in self.rep_hours:
                raise ValueError(
                    f"{rep} is a member of pools {', '.join(names)}, whose business_hours "
                    f'differ; add [handoff.rep_hours."{rep}"] with that rep\'s hours (keys '
                    f"left out come from pool {names[0]})"
                )
        for rep, override in self.rep_hours.items():
            if not rep.strip():
                raise ValueError("rep_hours has an empty user id; key it by CRM user id")
            base = pool_hours[homes[rep][0]] if rep in homes else default
            override.check_over(base, f"rep_hours.{rep}")


class RecycleSettings(Section):
    """``[recycle]``: sending a lead back to marketing nurture."""

    enabled: bool = True
    #: Lead statuses sales sets to reject a lead.
    statuses: tuple[str, ...] = ("Recycled", "Unqualified")
    #: A handed-off lead with no sales activity for this long is recycled.
    inactivity_days: int = Field(default=30, ge=1)
    #: Queue (or user) id that owns nurture leads; unset keeps the owner, changes the status.
    nurture_owner: str | None = None
    nurture_status: str = "Nurture"
    #: Salesforce campaign id recycled leads join.
    nurture_campaign: str | None = None
    #: HubSpot list id recycled contacts join.
    nurture_list: str | None = None
    #: After this many recycles a lead sits out ``cool_down_days`` before it can re-qualify.
    cool_down_after: int = Field(default=3, ge=1)
    cool_down_days: int = Field(default=90, ge=0)


_CELLS = frozenset(
    f"{fit}/{readiness}"
    for fit in ("good", "poor")
    for readiness in ("hand_raiser", "sales_ready", "unready", "do_not_contact")
)


class NurtureEnrolment(Section):
    """People in ``cell`` (marketing's) join a campaign (Salesforce) and/or a list (HubSpot)."""

    cell: str
    #: Salesforce campaign id; Salesforce records join it as CampaignMembers.
    campaign: str | None = None
    #: CampaignMember status (None: the campaign's default).
    status: str | None = None
    #: HubSpot list id; HubSpot contacts join it.
    list: str | None = None

    @field_validator("cell")
    @classmethod
    def _known_cell(cls, value: str) -> str:
        if value not in _CELLS:
            raise ValueError(f"not a matrix cell; one of {', '.join(sorted(_CELLS))}")
        return value

    @model_validator(mode="after")
    def _somewhere(self) -> NurtureEnrolment:
        if not self.campaign and not self.list:
            raise ValueError("give campaign (Salesforce) and/or list (HubSpot)")
        return self


class NurtureSettings(Section):
    """``[[nurture.enrol]]``: per-cell nurture programmes; people leave them on hand-off."""

    enrol: tuple[NurtureEnrolment, ...] = ()


class HealthSettings(Section):
    """``[health]``: when ``/readyz`` turns not-ready and ``leadsync status`` exits 1."""

    #: A connector whose last good cycle is older than this is unhealthy (default: three
    #: sync intervals).
    freshness_seconds: int | None = Field(default=None, ge=10)
    #: A connector that failed this many cycles in a row is unhealthy.
    unready_after_failures: int = Field(default=2, ge=1, le=1_000)


#: Shortest ``[service] access_token`` accepted: it is the only thing between the network and
#: the dashboard's data and actions, so it must be long enough that guessing is hopeless.
MIN_SERVICE_TOKEN = 32


class ServiceSettings(Section):
    """``[service]``: the HTTP side of ``leadsync run`` (dashboard, webhooks, metrics), and what
    keeps it from serving anything it should not: a real token (never an empty or short one), a
    webhook path that takes over no page or probe, and the host names it answers to."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    access_token: SecretStr | None = None
    webhook_path: str = "/webhooks"
    #: Names (``leadsync.example.com``, ``*.example.com``) and addresses the service is
    #: reached by besides the loopback names; a request naming any other ``Host`` is refused
    #: (DNS rebinding). Empty: loopback only without a token, any host with one. ``["*"]``:
    #: any host (needs the token).
    allowed_hosts: tuple[str, ...] = ()

    @field_validator("webhook_path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/") or " " in value:
            raise ValueError("must be a URL path starting with / (e.g. /webhooks)")
        return value.rstrip("/") or "/"

    @model_validator(mode="after")
    def _token_when_exposed(self) -> ServiceSettings:
        if self.access_token is None and not _is_loopback(self.host):
            raise ValueError(
                f"host {self.host!r} is reachable from other machines; set access_token "
                "(e.g. access_token = '${LEADSYNC_TOKEN}') or bind 127.0.0.1"
            )
        return self

    @field_validator("webhook_path")
    @classmethod
    def _webhook_path_free(cls, value: str) -> str:
        problem = path_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator("allowed_hosts")
    @classmethod
    def _matchable_hosts(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        hosts = tuple(dict.fromkeys(normalise_host(entry) for entry in value))
        # An access_token that failed its own check is reported there, not here again.
        if "*" in hosts and info.data.get("access_token", "") is None:
            raise ValueError(
                "'*' (any host) needs access_token: without one, any web page the operator "
                "visits could read the dashboard through DNS rebinding; list the names instead"
            )
        return hosts

    @field_validator("access_token")
    @classmethod
    def _strong_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or is_reference(value.get_secret_value()):
            return value
        given = value.get_secret_value()
        if not given.strip():
            raise ValueError(
                f"is empty; set it to at least {MIN_SERVICE_TOKEN} characters (e.g. the "
                "output of `openssl rand -hex 32`), or remove the key to serve without a token "
                "on a loopback host"
            )
        if len(given) < MIN_SERVICE_TOKEN:
            raise ValueError(
                f"is {len(given)} characters; it must be at least {MIN_SERVICE_TOKEN} "
                "characters (e.g. the output of `openssl rand -hex 32`)"
            )
        return value


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
