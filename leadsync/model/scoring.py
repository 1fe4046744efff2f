"""``score``: one person's fit, engagement, readiness, matrix cell and team.

Pure and deterministic: the result depends only on the arguments (``now`` included), and no
value in a person's data makes it raise; what cannot be read is named in the result.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from leadsync.emails import email_domain
from leadsync.model.engagement import Engagement, Rule, engage
from leadsync.model.reading import read_text
from leadsync.model.result import Result, round_half_up
from leadsync.model.spec import ModelSpec
from leadsync.model.values import (
    AccountSignals,
    Activity,
    Contribution,
    Fit,
    Person,
    Readiness,
    new_contribution,
)

_TRUE_WORDS = frozenset({"true", "1", "yes", "y", "t"})


def score(
    person: Person,
    activities: Sequence[Activity],
    spec: ModelSpec,
    now: datetime,
    account: AccountSignals | None = None,
) -> Result:
    """Qualify ``person`` from their attributes and ``activities`` as of ``now``.

    ``account`` carries the roll-up of the person's account (see ``account_signals``); it
    feeds ``account_*`` criteria and the account outputs when the spec enables accounts.
    """
    notes: list[str] = []
    attributes = _attributes(person, spec, account, notes)
    outcomes = tuple(criterion.evaluate(attributes) for criterion in spec.criteria)
    checked = 0
    required_ok = True
    for outcome in outcomes:
        if outcome.status == "checked":
            checked += 1
        elif outcome.required:
            required_ok = False
    fit: Fit = "good" if required_ok and checked >= spec.good_fit_min else "poor"
    engagement = engage(activities, spec.rule_index, spec.half_life_days, now, person.recycled_at)
    contributions = engagement.contributions
    total = engagement.total
    if spec.rule_index.attribute_rules:
        held = _attribute_points(spec.rule_index.attribute_rules, attributes)
        contributions += held
        total += sum(c.points for c in held)
    points = round_half_up(total)
    readiness, why = _readiness(person, engagement, points, spec)
    notes.extend(engagement.notes)
    return Result(
        key=person.key,
        fit=fit,
        readiness=readiness,
        team=spec.team(fit, readiness),
        score=points,
        raw_score=total,
        good_fit_min=spec.good_fit_min,
        criteria=outcomes,
        contributions=contributions,
        readiness_reason=why,
        account=account,
        accounts_enabled=spec.accounts_enabled,
        notes=tuple(notes),
    )


def account_signals(per_person_scores: Iterable[float], spec: ModelSpec) -> AccountSignals:
    """Roll the scores of one account's people up into the account's signals.

    The account score sums positive scores only: one person unsubscribing does not cancel a
    colleague's demo request. A person is engaged at or above ``spec.engaged_threshold``.
    """
    total = 0.0
    engaged = 0
    for value in per_person_scores:
        if value > 0:
            total += value
        if value >= spec.engaged_threshold:
            engaged += 1
    return AccountSignals(score=total, engaged_people=engaged)


def score_account(
    members: Sequence[tuple[Person, Sequence[Activity]]], spec: ModelSpec, now: datetime
) -> list[Result]:
    """Score everyone at one account, with the account's roll-up fed back to each of them.

    Engagement never depends on fit, so one pass gives the scores to roll up and a second pass
    (only when accounts are enabled) applies the signals to account criteria and outputs.
    """
    first = [score(person, activities, spec, now) for person, activities in members]
    if not spec.accounts_enabled:
        return first
    signals = account_signals((r.score for r in first), spec)
    return [score(person, activities, spec, now, signals) for person, activities in members]


def _attributes(
    person: Person, spec: ModelSpec, account: AccountSignals | None, notes: list[str]
) -> Mapping[str, object]:
    raw = person.attributes
    if not isinstance(raw, Mapping):
        notes.append(f"attributes are not readable ({type(raw).__name__}); scored without them")
        raw = {}
    if not spec.derives and account is None:
        return raw
    attributes = dict(raw)
    derives = spec.derives
    if "email_domain" in derives and not attributes.get("email_domain"):
        domain = email_domain(person.email)
        if domain:
            attributes["email_domain"] = domain
    if ("seniority" in derives and attributes.get("seniority") in (None, "")) or (
        "department" in derives and attributes.get("department") in (None, "")
    ):
        title = read_text(attributes.get("title"))
        if isinstance(title, str):
            for dimension in ("seniority", "department"):
                if dimension in derives and attributes.get(dimension) in (None, ""):
                    label = spec.classify(title, dimension)
                    if label is not None:
                        attributes[dimension] = label
    if account is not None:
        attributes["account_score"] = account.score
        attributes["account_engaged_people"] = account.engaged_people
    return attributes


def _attribute_points(
    rules: Sequence[Rule], attributes: Mapping[str, object]
) -> tuple[Contribution, ...]:
    """What the attribute rules give: their points, undecayed, for each test the person's
    attributes pass (an unreadable or missing value passes none)."""
    held = []
    for rule in rules:
        test = rule.attribute_test
        if test is not None and test.evaluate(attributes).status == "checked":
            points = rule.points
            held.append(
                new_contribution(
                    test.attribute, rule.name, "attribute", points, points, None, rule.interest
                )
            )
    return tuple(held)


def _opted_out(flag: object) -> bool:
    if isinstance(flag, bool):
        return flag
    if isinstance(flag, str):
        return flag.strip().casefold() in _TRUE_WORDS
    return flag == 1


def _readiness(
    person: Person, engagement: Engagement, points: int, spec: ModelSpec
) -> tuple[Readiness, str]:
    # "After" is judged on the stamps' intervals (see ``Engagement.opted_out_until``): a
    # hand-raise lifts an opt-out only if it surely came after the last one.
    until = engagement.opted_out_until
    since = engagement.hand_raised_from
    lifted = until is not None and since is not None and since > until
    last_out = engagement.last_opt_out
    if (_opted_out(person.opted_out) or until is not None) and not lifted:
        if last_out is not None:
            when = last_out.date().isoformat()
            return "do_not_contact", f"unsubscribed {when}, no later hand-raise"
        return "do_not_contact", "opted out in the CRM"
    hand = engagement.hand_raise
    if hand is not None and hand.occurred_at is not None:  # a hand-raise is an activity
        return "hand_raiser", f"{hand.rule} on {hand.occurred_at.date().isoformat()}"
    threshold = spec.sales_ready_threshold
    if points >= threshold:
        if spec.require_active and not engagement.has_active:
            return (
                "unready",
                f"score {points} reaches {threshold:g} but no actively-investigating activity",
            )
        return "sales_ready", f"score {points} at or above {threshold:g}"
    return "unready", f"score {points} below {threshold:g}"


__all__ = ["account_signals", "score", "score_account"]
