"""Engagement: match activities to rules, decay their points, apply caps and windows.

This is the hot loop of a full re-score (ten million activities), so rules are indexed by
activity kind, each rule holds precompiled patterns, and decay is one ``exp`` per activity.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from operator import itemgetter

from leadsync.model.definitions import RuleDef
from leadsync.model.fit import AliasTable, Criterion, compile_criterion
from leadsync.model.values import Activity, Contribution, Interest, new_contribution

_DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class Rule:
    """A compiled engagement rule."""

    name: str
    kinds: tuple[str, ...]
    points: float
    interest: Interest
    name_re: re.Pattern[str] | None
    campaign_type_re: re.Pattern[str] | None
    member_status_re: re.Pattern[str] | None
    url_re: re.Pattern[str] | None
    cap: int | None
    #: Seconds an activity keeps counting, from this rule's own window or the global one.
    window_seconds: float
    #: Set for an attribute rule (see ``RuleDef.attribute_test``); such a rule has no kinds.
    attribute_test: Criterion | None = None

    @property
    def unconditional(self) -> bool:
        """True when the rule sets no pattern, so its kind alone decides."""
        return not (self.name_re or self.campaign_type_re or self.member_status_re or self.url_re)

    def matches(self, activity: Activity) -> bool:
        """Whether every pattern this rule sets finds its field in ``activity``."""
        return (
            _field_matches(self.name_re, activity.name)
            and _field_matches(self.campaign_type_re, activity.campaign_type)
            and _field_matches(self.member_status_re, activity.member_status)
            and _field_matches(self.url_re, activity.url)
        )


def _field_matches(regex: re.Pattern[str] | None, value: object) -> bool:
    if regex is None:
        return True
    if not isinstance(value, str):
        return False
    return regex.search(value[:2048]) is not None


def _pattern(text: str | None) -> re.Pattern[str] | None:
    return re.compile(text, re.IGNORECASE) if text else None


def compile_rule(
    definition: RuleDef, default_window_days: float, aliases: AliasTable | None = None
) -> Rule:
    """Compile a rule's patterns once; its window falls back to the global window.
    ``aliases`` serve an attribute rule's test, as they serve a box on that attribute."""
    window = definition.window_days if definition.window_days is not None else default_window_days
    test = definition.attribute_test
    return Rule(
        name=definition.name,
        kinds=definition.kinds,
        points=float(definition.points),
        interest=definition.interest,
        name_re=_pattern(definition.name_pattern),
        campaign_type_re=_pattern(definition.campaign_type_pattern),
        member_status_re=_pattern(definition.member_status_pattern),
        url_re=_pattern(definition.url_pattern),
        cap=definition.cap,
        window_seconds=window * _DAY,
        attribute_test=None if test is None else compile_criterion(test, aliases or {}),
    )


#: Bound on the rule-resolution memo: activity names repeat, URLs may not.
_MATCH_CACHE_LIMIT = 100_000


@dataclass(frozen=True, slots=True, eq=False)
class RuleIndex:
    """Rules per activity kind, in configuration order; the first matching rule wins.

    Resolution is memoised on the fields rules look at, because the same form, campaign and
    page names recur across millions of activities and regex searches dominate otherwise.
    """

    by_kind: Mapping[str, tuple[Rule, ...]]
    #: Kinds whose first rule sets no pattern: it matches every activity of the kind.
    direct: Mapping[str, Rule]
    #: Rules that score an attribute, not activities, in configuration order.
    attribute_rules: tuple[Rule, ...] = ()
    cache: dict[tuple[str, object, object, object, object], Rule | None] = field(
        default_factory=dict, repr=False
    )

    @classmethod
    def of(cls, rules: Sequence[Rule]) -> RuleIndex:
        by_kind: dict[str, list[Rule]] = {}
        for rule in rules:
            for kind in rule.kinds:
                by_kind.setdefault(kind, []).append(rule)
        direct = {kind: found[0] for kind, found in by_kind.items() if found[0].unconditional}
        on_attributes = tuple(rule for rule in rules if rule.attribute_test is not None)
        return cls({kind: tuple(found) for kind, found in by_kind.items()}, direct, on_attributes)

    def resolve(self, activity: Activity) -> Rule | None:
        """The first rule matching ``activity``, or ``None``."""
        kind = activity.kind
        rule = self.direct.get(kind)
        if rule is not None:
            return rule
        candidates = self.by_kind.get(kind)
        if candidates is None:
            return None
        key = (kind, activity.name, activity.campaign_type, activity.member_status, activity.url)
        cache = self.cache
        try:
            return cache[key]
        except KeyError:
            pass
        except TypeError:  # an unhashable field value: match without the memo
            return next((r for r in candidates if r.matches(activity)), None)
        found = next((r for r in candidates if r.matches(activity)), None)
        if len(cache) >= _MATCH_CACHE_LIMIT:
            cache.clear()
        cache[key] = found
        return found


@dataclass(frozen=True, slots=True)
class Engagement:
    """What a person's activities add up to, before readiness is decided."""

    contributions: tuple[Contribution, ...]
    total: float
    #: The most recent hand-raise inside its window (after any recycle), if any.
    hand_raise: Contribution | None
    has_active: bool
    #: The latest unsubscribe (any age), and the latest hand-raise (any age), as best
    #: estimates: what the reason names.
    last_opt_out: datetime | None
    last_hand_raise: datetime | None
    notes: tuple[str, ...]
    #: The latest instant any opt-out may have happened, and the latest instant a hand-raise
    #: surely happened after (the largest ``earliest``): a hand-raise lifts the opt-outs only
    #: when ``hand_raised_from > opted_out_until``, so the last unsubscribe is the one to beat
    #: and an order the stamps' precision cannot decide never lifts one.
    opted_out_until: datetime | None = None
    hand_raised_from: datetime | None = None


def engage(
    activities: Sequence[Activity],
    rules: RuleIndex,
    half_life_days: float,
    now: datetime,
    recycled_at: datetime | None,
) -> Engagement:
    """Match, window, cap and decay ``activities`` as of ``now``. Never raises on bad data."""
    # Powers of two keep whole half-lives exact (30 days old at a 30-day half-life is exactly
    # half), so hand-computed scores and the Reason field agree to the point.
    half_life = half_life_days * _DAY
    seen: set[str] = set()
    matched: list[tuple[datetime, Rule, Activity, float]] = []
    last_opt_out: datetime | None = None
    last_hand_raise: datetime | None = None
    opted_out_until: datetime | None = None
    hand_raised_from: datetime | None = None
    before_recycle = 0
    unreadable: list[str] = []
    has_cap = False
    resolve = rules.resolve
    direct = rules.direct  # most kinds: one lookup, no call
    for activity in activities:
        try:
            if activity.id in seen:
                continue
            seen.add(activity.id)
            kind = activity.kind
            rule = direct.get(kind) or resolve(activity)
            if rule is None and kind != "unsubscribe":
                continue
            at = activity.occurred_at
            if at.tzinfo is None:  # a naive time from a careless source: read it as UTC
                at = at.replace(tzinfo=UTC)
            opting_out = kind == "unsubscribe" or (
                rule is not None and rule.interest == "not_interested"
            )
            if opting_out:
                if last_opt_out is None or at > last_opt_out:
                    last_opt_out = at
                until = at + timedelta(seconds=activity.late_s) if activity.late_s else at
                if opted_out_until is None or until > opted_out_until:
                    opted_out_until = until
            if rule is None:
                continue
            if rule.interest == "hand_raiser":
                if last_hand_raise is None or at > last_hand_raise:
                    last_hand_raise = at
                since = at - timedelta(seconds=activity.early_s) if activity.early_s else at
                if hand_raised_from is None or since > hand_raised_from:
                    hand_raised_from = since
            if recycled_at is not None and at <= recycled_at:
                before_recycle += 1
                continue
            age = (now - at).total_seconds()
            if age < 0:  # clock skew between CRMs: count it, but never above full points
                age = 0.0
            if age > rule.window_seconds:
                continue
            if rule.cap is not None:
                has_cap = True
            matched.append((at, rule, activity, age))
        except Exception:  # any malformed activity is reported, the rest still score
            unreadable.append(_activity_label(activity))
    matched.sort(key=itemgetter(0), reverse=True)
    counts: dict[str, int] = {}
    contributions: list[Contribution] = []
    total = 0.0
    hand_raise: Contribution | None = None
    has_active = False
    for at, rule, activity, age in matched:
        if has_cap and rule.cap is not None:
            used = counts.get(rule.name, 0)
            if used >= rule.cap:
                continue
            counts[rule.name] = used + 1
        points = rule.points
        if points and half_life > 0:
            points *= 2.0 ** (-age / half_life)
        contribution = new_contribution(
            activity.id, rule.name, activity.kind, rule.points, points, at, rule.interest
        )
        contributions.append(contribution)
        total += points
        if rule.interest == "hand_raiser":
            if hand_raise is None:
                hand_raise = contribution
        elif rule.interest == "active":
            has_active = True
    notes: list[str] = []
    if before_recycle:
        notes.append(f"{before_recycle} activities before the recycle date do not count")
    if unreadable:
        notes.append(f"could not read activities: {', '.join(unreadable[:5])}")
    return Engagement(
        tuple(contributions),
        total,
        hand_raise,
        has_active,
        last_opt_out,
        last_hand_raise,
        tuple(notes),
        opted_out_until,
        hand_raised_from,
    )


def _activity_label(activity: object) -> str:
    ident = getattr(activity, "id", None)
    return str(ident)[:80] if ident is not None else type(activity).__name__
