"""What routing needs to know about a person, read once from raw CRM attributes.

Territory values are compared in the model's normalised form with the model's alias tables
applied, so a pool for "United Kingdom" takes a lead whose country reads "UK" or "u.k.".
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from leadsync.config.operations import PoolMatch
from leadsync.emails import email_domain
from leadsync.model.reading import domain_of, norm, read_number, read_text
from leadsync.model.spec import alias_tables

#: attribute -> {normalised spelling: normalised canonical value}, as ``alias_tables`` builds.
Aliases = Mapping[str, Mapping[str, str]]

#: The facts a pool can match on, in the order a "why" names them.
TERRITORY_ATTRIBUTES: tuple[str, ...] = ("country", "state", "region", "industry")

_DEFAULT_ALIASES: Aliases = alias_tables()


@dataclass(frozen=True, slots=True)
class PersonFacts:
    """A person's routing facts: territory values normalised, size as an interval."""

    country: str | None = None
    state: str | None = None
    region: str | None = None
    industry: str | None = None
    #: ``(low, high)`` employees; a band such as "201-500" stays a band, exact counts have
    #: ``low == high``.
    employees: tuple[float, float] | None = None
    email_domain: str | None = None
    owner_id: str | None = None


def person_facts(
    attributes: Mapping[str, object],
    *,
    email: str | None = None,
    owner_id: str | None = None,
    aliases: Aliases | None = None,
) -> PersonFacts:
    """Read routing facts from a person's merged raw attributes (canonical names).

    ``aliases`` is the model's table (``leadsync.model.spec.alias_tables``); the built-in
    country aliases are used when it is not given. Unreadable values count as missing.
    """
    table = _DEFAULT_ALIASES if aliases is None else aliases
    texts = {name: _canonical(name, attributes.get(name), table) for name in TERRITORY_ATTRIBUTES}
    size = read_number(attributes.get("employees"))
    domain = email_domain(email)
    given = attributes.get("email_domain")
    if domain is None and isinstance(given, str) and given.strip():
        domain = domain_of(given)
    return PersonFacts(
        country=texts["country"],
        state=texts["state"],
        region=texts["region"],
        industry=texts["industry"],
        employees=size if isinstance(size, tuple) else None,
        email_domain=domain,
        owner_id=owner_id or None,
    )


def _canonical(attribute: str, raw: object, aliases: Aliases) -> str | None:
    got = read_text(raw)
    if not isinstance(got, str):
        return None
    return aliases.get(attribute, {}).get(got, got)


def _wanted(attribute: str, values: Sequence[str], aliases: Aliases) -> frozenset[str]:
    table = aliases.get(attribute, {})
    return frozenset(table.get(norm(v), norm(v)) for v in values)


def _fmt(number: float) -> str:
    return f"{number:g}" if math.isfinite(number) else "unbounded"


def match_pool(
    match: PoolMatch, facts: PersonFacts, aliases: Aliases | None = None
) -> tuple[bool, str]:
    """Whether a pool's ``match`` takes this person, and in words why (or why not).

    Every key the admin gave must match; an empty match takes everyone. A size band must lie
    wholly inside ``employees_min``..``employees_max`` (the model's fit check does the same),
    and a missing fact never matches a key that asks for it.
    """
    table = _DEFAULT_ALIASES if aliases is None else aliases
    reasons: list[str] = []
    for attribute, values in (
        ("country", match.countries),
        ("state", match.states),
        ("region", match.regions),
        ("industry", match.industries),
    ):
        if not values:
            continue
        have: str | None = getattr(facts, attribute)
        if have is None:
            return False, f"no {attribute} on the record"
        if have not in _wanted(attribute, values, table):
            return False, f"{attribute} {have!r} not in {list(values)}"
        reasons.append(f"{attribute} {have!r}")
    if match.employees_min is not None or match.employees_max is not None:
        if facts.employees is None:
            return False, "no readable employees on the record"
        low, high = facts.employees
        shown = _fmt(low) if low == high else f"{_fmt(low)}-{_fmt(high)}"
        if match.employees_min is not None and low < match.employees_min:
            return False, f"employees {shown} below {match.employees_min}"
        if match.employees_max is not None and high > match.employees_max:
            return False, f"employees {shown} above {match.employees_max}"
        reasons.append(f"employees {shown}")
    return True, (", ".join(reasons) if reasons else "pool takes every lead")
