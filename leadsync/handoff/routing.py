"""Who takes a lead handed to sales: the admin's rules from ``[handoff]``, in order.

1. keep the current owner when they are an active sales user (not a queue, not the nurture
   owner) and ``keep_active_owner`` is on;
2. account match: a Contact or Account with the lead's email domain already owned by an active
   rep (``match_accounts``);
3. territory pools, in file order: the first pool whose ``match`` takes the lead and has an
   available member picks one by smooth weighted round-robin, skipping inactive users and
   members at the pool's ``daily_cap``;
4. ``fallback_owner`` (a user or a queue).

Every decision names its rule and says why, including why earlier rules did not apply.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any, Literal

from leadsync.config.operations import HandoffSettings, PoolSettings
from leadsync.handoff.facts import Aliases, PersonFacts, match_pool
from leadsync.handoff.hours import local_day, pool_hours
from leadsync.handoff.roundrobin import RoutingState, advance, pick
from leadsync.records import CrmUser

Rule = Literal["keep_owner", "account_match", "pool", "fallback", "unrouted"]


def members_as_users(settings: HandoffSettings, also: Iterable[str] = ()) -> list[CrmUser]:
    """Every pool member (and each id in ``also``) as an active user named by their id: whom
    a screen that calls no CRM, so has no user list, routes among (``preview``, ``tune``)."""
    ids = dict.fromkeys([*(m for pool in settings.pools for m in pool.members), *also])
    return [CrmUser(id=i, name=i) for i in ids]


@dataclass(frozen=True, slots=True)
class Candidates:
    """Who can own a lead: the CRM's users and queues, and account owners by email domain.

    ``sales_users`` names the users that count as sales for the keep-owner rule; when it is
    ``None`` they are the members of every pool plus the owners in ``account_owners``.
    ``ignored_domains`` (free mailbox providers) never match an account.
    """

    users: Mapping[str, CrmUser] = field(default_factory=dict)
    #: email domain (lower case, no ``www.``) -> id of the rep who owns that account.
    account_owners: Mapping[str, str] = field(default_factory=dict)
    sales_users: frozenset[str] | None = None
    ignored_domains: frozenset[str] = frozenset()
    #: Ids and emails (lower case) of users who never take or keep a lead
    #: (``[handoff] never_owners``); users flagged ``integration`` are excluded too.
    never: frozenset[str] = frozenset()

    @classmethod
    def of(
        cls,
        users: Iterable[CrmUser],
        account_owners: Mapping[str, str] | None = None,
        *,
        sales_users: Iterable[str] | None = None,
        ignored_domains: Iterable[str] = (),
        never: Iterable[str] = (),
    ) -> Candidates:
        """Build candidates from ``Connector.users()`` and the store's account owners."""
        return cls(
            users={u.id: u for u in users},
            account_owners={d.lower(): o for d, o in (account_owners or {}).items()},
            sales_users=None if sales_users is None else frozenset(sales_users),
            ignored_domains=frozenset(d.lower() for d in ignored_domains),
            never=frozenset(n.lower() for n in never),
        )

    def name(self, user_id: str) -> str:
        """``Name (id)`` when the user is known, else the bare id."""
        user = self.users.get(user_id)
        return f"{user.name} ({user_id})" if user else user_id


@dataclass(frozen=True, slots=True)
class RoutingDecision:
    """The owner picked for one hand-off, the rule that picked them and why.

    ``owner_id`` is ``None`` only for ``unrouted`` (no rule found anyone: leave the lead where
    it is and tell the admin). ``state_updates`` is the routing state to persist: what was
    passed in, with the chosen pool's cursor and the chosen rep's count moved.
    """

    owner_id: str | None
    rule: Rule
    why: str
    pool: str | None
    state_updates: RoutingState
    #: Why each earlier rule did not apply, in the order they were tried.
    passed_over: tuple[str, ...] = ()

    def explain(self) -> str:
        """Multi-line text for ``leadsync explain``."""
        return explain_routing(self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        """The decision as stored with the hand-off (the routing state is stored apart)."""
        return {
            "owner_id": self.owner_id,
            "rule": self.rule,
            "why": self.why,
            "pool": self.pool,
            "passed_over": list(self.passed_over),
        }


def explain_routing(stored: Mapping[str, Any]) -> str:
    """The text ``leadsync explain`` shows for a decision stored with ``to_dict``."""
    lines = [f"Owner: {stored['why']} [rule {stored['rule']}]"]
    lines.extend(f"  not {item}" for item in stored.get("passed_over", ()))
    return "\n".join(lines)


def business_day(now: datetime, settings: HandoffSettings, pool: str | None = None) -> date:
    """The date ``now`` falls on in ``pool``'s time zone (the org's without one).

    A pool's daily caps reset at its own midnight.
    """
    return local_day(now, pool_hours(pool, settings))


def _owner_problem(
    user_id: str, candidates: Candidates, nurture_owner: str | None, *, sales_only: bool
) -> str | None:
    """Why ``user_id`` cannot take a lead, or ``None`` when they can."""
    user = candidates.users.get(user_id)
    if user_id.lower() in candidates.never or (
        user is not None and user.email and user.email.lower() in candidates.never
    ):
        return "is listed in [handoff] never_owners"
    if user is None:
        return "is not a user of the CRM (deleted, or not visible to LeadSync)"
    if user.integration:
        return "is LeadSync's own API user"
    if user.is_queue:
        return "is a queue"
    if not user.active:
        return "is inactive"
    if nurture_owner is not None and user_id == nurture_owner:
        return "is the nurture owner"
    if sales_only and candidates.sales_users is not None and user_id not in candidates.sales_users:
        return "is not a sales user"
    return None


def _derived_sales_users(candidates: Candidates, settings: HandoffSettings) -> frozenset[str]:
    members = {m for pool in settings.pools for m in pool.members}
    return frozenset(members | set(candidates.account_owners.values()))


def _pool_pick(
    pool: PoolSettings,
    candidates: Candidates,
    state: RoutingState,
    exclude: frozenset[str],
    nurture_owner: str | None,
) -> tuple[str | None, dict[str, float], list[str]]:
    skipped: list[str] = []
    available: list[str] = []
    for member in pool.members:
        problem = _unavailable(member, candidates, exclude, nurture_owner, sales_only=False)
        if problem:
            skipped.append(f"{candidates.name(member)} ({problem.removeprefix('is ')})")
            continue
        if pool.daily_cap is not None and state.count(pool.name, member) >= pool.daily_cap:
            skipped.append(f"{candidates.name(member)} (at daily cap {pool.daily_cap})")
            continue
        available.append(member)
    weights = pool.weights or tuple(1.0 for _ in pool.members)
    chosen, cursor = pick(pool.members, weights, state.cursors.get(pool.name, {}), available)
    return chosen, cursor, skipped


def _unavailable(
    user_id: str,
    candidates: Candidates,
    banned: frozenset[str],
    nurture_owner: str | None,
    *,
    sales_only: bool,
) -> str | None:
    if user_id in banned:
        return "is being re-routed away from"
    return _owner_problem(user_id, candidates, nurture_owner, sales_only=sales_only)


def _kept_owner(
    facts: PersonFacts,
    candidates: Candidates,
    banned: frozenset[str],
    nurture_owner: str | None,
    passed: list[str],
) -> str | None:
    owner = facts.owner_id
    if not owner:
        passed.append("keep owner: the record has no owner")
        return None
    problem = _unavailable(owner, candidates, banned, nurture_owner, sales_only=True)
    if problem is None:
        return owner
    passed.append(f"keep owner: current owner {candidates.name(owner)} {problem}")
    return None


def _account_owner(
    facts: PersonFacts,
    candidates: Candidates,
    banned: frozenset[str],
    nurture_owner: str | None,
    passed: list[str],
) -> str | None:
    domain = facts.email_domain
    if not domain:
        passed.append("account match: no email domain")
        return None
    if domain in candidates.ignored_domains:
        passed.append(f"account match: {domain} is a free mailbox domain")
        return None
    owner = candidates.account_owners.get(domain)
    if owner is None:
        passed.append(f"account match: no account owned for {domain}")
        return None
    problem = _unavailable(owner, candidates, banned, nurture_owner, sales_only=False)
    if problem is None:
        return owner
    passed.append(f"account match: {domain} owner {candidates.name(owner)} {problem}")
    return None


def _fallback(
    settings: HandoffSettings, candidates: Candidates, banned: frozenset[str], passed: list[str]
) -> tuple[str | None, str]:
    fallback = settings.fallback_owner
    if not fallback:
        passed.append("fallback: no fallback_owner configured")
    elif fallback in banned:
        passed.append(f"fallback: {candidates.name(fallback)} is being re-routed away from")
    else:
        user = candidates.users.get(fallback)
        # A queue id the user list does not show is still a valid owner: `leadsync check`
        # validates configured owners against the org.
        if user is None or user.is_queue or user.active:
            kind = "queue" if user is not None and user.is_queue else "owner"
            return fallback, f"fallback {kind} {candidates.name(fallback)}"
        passed.append(f"fallback: {candidates.name(fallback)} is inactive")
    return None, "no rule found an owner; set [handoff] fallback_owner"


def route(
    facts: PersonFacts,
    candidates: Candidates,
    settings: HandoffSettings,
    state: RoutingState,
    now: datetime,
    *,
    nurture_owner: str | None = None,
    exclude: Iterable[str] = (),
    aliases: Aliases | None = None,
) -> RoutingDecision:
    """Pick the owner of one lead handed to sales.

    ``exclude`` names users who must not get the lead (the owner an SLA breach re-routes
    away from); an excluded current owner is not kept. ``nurture_owner`` (``[recycle]``) is
    never kept as a sales owner. ``aliases`` is the model's alias table for territory values.
    """
    banned = frozenset(exclude)
    if candidates.sales_users is None:
        candidates = replace(candidates, sales_users=_derived_sales_users(candidates, settings))
    passed: list[str] = []

    if settings.keep_active_owner:
        kept = _kept_owner(facts, candidates, banned, nurture_owner, passed)
        if kept is not None:
            why = f"kept current owner {candidates.name(kept)}"
            return RoutingDecision(kept, "keep_owner", why, None, state, tuple(passed))

    if settings.match_accounts:
        account = _account_owner(facts, candidates, banned, nurture_owner, passed)
        if account is not None:
            why = f"account owner for {facts.email_domain}: {candidates.name(account)}"
            return RoutingDecision(account, "account_match", why, None, state, tuple(passed))

    for pool in settings.pools:
        matched, reason = match_pool(pool.match, facts, aliases)
        if not matched:
            passed.append(f"pool {pool.name}: {reason}")
            continue
        # Each pool's daily caps reset at its own business midnight.
        state = state.on_pool(pool.name, business_day(now, settings, pool.name))
        chosen, cursor, skipped = _pool_pick(pool, candidates, state, banned, nurture_owner)
        if chosen is None:
            passed.append(
                f"pool {pool.name} ({reason}): no member available; skipped " + "; ".join(skipped)
            )
            continue
        count = state.count(pool.name, chosen) + 1
        cap = f" of {pool.daily_cap}" if pool.daily_cap is not None else ""
        why = (
            f"pool {pool.name} ({reason}): round-robin gave {candidates.name(chosen)} "
            f"their hand-off {count}{cap} today"
        )
        if pool.weights:
            why += f" (weight {pool.weights[pool.members.index(chosen)]:g})"
        if skipped:
            why += "; skipped " + "; ".join(skipped)
        moved = advance(state, pool.name, cursor, chosen)
        return RoutingDecision(chosen, "pool", why, pool.name, moved, tuple(passed))

    owner, why = _fallback(settings, candidates, banned, passed)
    rule: Rule = "fallback" if owner else "unrouted"
    return RoutingDecision(owner, rule, why, None, state, tuple(passed))
