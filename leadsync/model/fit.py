"""Fit: ICP criteria compiled once, then checked against one person's attributes.

A criterion reads its attribute with the reader its operator needs, applies the value aliases
of that attribute, and returns a ``CriterionOutcome`` whose reason names the value it saw, or
that the value was missing or unreadable, so enrichment gaps show up in the Reason field.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from leadsync.model.definitions import CriterionDef
from leadsync.model.reading import (
    MISSING,
    Interval,
    Unreadable,
    _Missing,
    company_key,
    domain_of,
    norm,
    read_number,
    read_text,
    read_texts,
    shown,
)
from leadsync.model.values import CriterionOutcome, CriterionStatus, new_outcome

#: normalised alias -> normalised canonical value, per attribute.
AliasTable = Mapping[str, str]

_Verdict = tuple[CriterionStatus, str]  # (status, reason)


def _fmt(number: float) -> str:
    return f"{number:,.0f}" if float(number).is_integer() else f"{number:,.2f}"


def _interval_text(interval: Interval) -> str:
    low, high = interval
    if low == high:
        return _fmt(low)
    if math.isinf(high):
        return f"{_fmt(low)}+"
    if math.isinf(low):
        return f"under {_fmt(high)}"
    return f"{_fmt(low)}-{_fmt(high)}"


@dataclass(frozen=True, slots=True)
class Criterion:
    """A compiled ICP box. ``evaluate`` never raises on a person's data."""

    definition: CriterionDef
    values: frozenset[str]
    substrings: tuple[str, ...]
    regex: re.Pattern[str] | None
    domains: frozenset[str]
    companies: frozenset[str]
    aliases: AliasTable
    #: The check for the operator; a negated one_of / none_of / is_set / is_not_set uses its
    #: opposite check directly, so reasons read "is none of", not "not (is one of)".
    check: Callable[[Criterion, object, Mapping[str, object]], _Verdict]
    #: Turn the check's readable outcome around (``negate`` on operators without an opposite).
    invert: bool
    memo: dict[tuple[type, object], CriterionOutcome] | None = field(
        default=None, repr=False, compare=False
    )

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def attribute(self) -> str:
        return self.definition.attribute

    def evaluate(self, attributes: Mapping[str, object]) -> CriterionOutcome:
        """Check this box against ``attributes`` (already holding derived values).

        Outcomes are memoised per raw value: the same industry or country recurs across
        millions of people, and an outcome depends only on the value (``in_list`` excepted,
        since it also reads the email and website domains).
        """
        raw = attributes.get(self.definition.attribute)
        memo = self.memo
        if memo is None or type(raw) not in _MEMO_TYPES:
            return self._evaluate(raw, attributes)
        key = (type(raw), raw)
        outcome = memo.get(key)
        if outcome is None:
            outcome = self._evaluate(raw, attributes)
            if len(memo) >= _MEMO_LIMIT:
                memo.clear()
            memo[key] = outcome
        return outcome

    def _evaluate(self, raw: object, attributes: Mapping[str, object]) -> CriterionOutcome:
        d = self.definition
        status: CriterionStatus
        try:
            status, reason = self.check(self, raw, attributes)
        except Exception as exc:  # a criterion must never take a scoring run down
            status, reason = "unreadable", f"could not read {d.attribute}: {type(exc).__name__}"
        if self.invert and status in ("checked", "missed"):
            status = "missed" if status == "checked" else "checked"
            reason = f"not ({reason})"
        return new_outcome(d.name, d.attribute, status, d.required, reason)

    def _texts(self, raw: object, split: bool = True) -> tuple[str, ...] | _Missing | Unreadable:
        got = read_texts(raw, split)
        if isinstance(got, tuple) and self.aliases:
            aliases = self.aliases
            return tuple(aliases.get(v, v) for v in got)
        return got


def _absent(criterion: Criterion, got: object) -> _Verdict | None:
    attribute = criterion.definition.attribute
    if got is MISSING:
        return "missing", f"missing: {attribute}"
    if isinstance(got, Unreadable):
        return "unreadable", f"could not read {attribute}: {got.shown}"
    return None


def _one_of(c: Criterion, raw: object, _: Mapping[str, object]) -> _Verdict:
    got = c._texts(raw)
    absent = _absent(c, got)
    if absent:
        return absent
    assert isinstance(got, tuple)
    hit = next((v for v in got if v in c.values), None)
    if hit is not None:
        return "checked", f"{c.attribute} is {shown(raw)}"
    return "missed", f"{c.attribute} {shown(raw)} is not one of {_listed(c)}"


def _none_of(c: Criterion, raw: object, _: Mapping[str, object]) -> _Verdict:
    got = c._texts(raw)
    absent = _absent(c, got)
    if absent:
        return absent
    assert isinstance(got, tuple)
    if any(v in c.values for v in got):
        return "missed", f"{c.attribute} is {shown(raw)}"
    return "checked", f"{c.attribute} {shown(raw)} is none of {_listed(c)}"


def _contains(c: Criterion, raw: object, _: Mapping[str, object]) -> _Verdict:
    got = c._texts(raw, split=False)
    absent = _absent(c, got)
    if absent:
        return absent
    assert isinstance(got, tuple)
    if any(s in v for v in got for s in c.substrings):
        return "checked", f"{c.attribute} {shown(raw)} contains {_listed(c)}"
    return "missed", f"{c.attribute} {shown(raw)} does not contain {_listed(c)}"


def _matches(c: Criterion, raw: object, _: Mapping[str, object]) -> _Verdict:
    got = read_text(raw)
    absent = _absent(c, got)
    if absent:
        return absent
    assert isinstance(got, str) and c.regex is not None
    if c.regex.search(got):
        return "checked", f"{c.attribute} {shown(raw)} matches /{c.regex.pattern}/"
    return "missed", f"{c.attribute} {shown(raw)} does not match /{c.regex.pattern}/"


def _numeric(c: Criterion, raw: object, _: Mapping[str, object]) -> _Verdict:
    got = read_number(raw)
    absent = _absent(c, got)
    if absent:
        return absent
    assert isinstance(got, tuple)
    low, high = got
    d = c.definition
    lo_limit = -math.inf if d.minimum is None else d.minimum
    hi_limit = math.inf if d.maximum is None else d.maximum
    if d.operator == "below":
        all_in, none_in = high < hi_limit, low >= hi_limit
        wanted = f"below {_fmt(hi_limit)}"
    elif d.operator == "at_least":
        all_in, none_in = low >= lo_limit, high < lo_limit
        wanted = f"at least {_fmt(lo_limit)}"
    else:
        all_in = low >= lo_limit and high <= hi_limit
        none_in = high < lo_limit or low > hi_limit
        wanted = f"between {_fmt(lo_limit)} and {_fmt(hi_limit)}"
    seen = _interval_text(got)
    if all_in:
        return "checked", f"{c.attribute} {seen} is {wanted}"
    if none_in:
        return "missed", f"{c.attribute} {seen} is not {wanted}"
    return "unreadable", f"could not read {c.attribute}: {shown(raw)} is partly {wanted}"


def _in_list(c: Criterion, raw: object, attributes: Mapping[str, object]) -> _Verdict:
    """Target accounts: the company name, email domain or website domain is on the list."""
    names: list[str] = []
    if c.attribute not in ("email_domain", "website"):
        company = read_text(raw)
        if isinstance(company, str):
            names.append(company)
            if company_key(company) in c.companies:
                return "checked", f"{c.attribute} {shown(raw)} is a target account"
    for source in dict.fromkeys((c.attribute, "email_domain", "website")):
        value = attributes.get(source)
        if isinstance(value, str) and value:
            domain = domain_of(value)
            if domain:
                names.append(domain)
                if _domain_listed(domain, c.domains):
                    return "checked", f"{source} {domain} is a target account"
    if not names:
        return "missing", f"missing: {c.attribute}"
    return "missed", f"{', '.join(shown(n) for n in names)} not on the target-account list"


def _domain_listed(domain: str, listed: frozenset[str]) -> bool:
    # A subsidiary's sub-domain (uk.acme.com) belongs to the listed parent (acme.com).
    while True:
        if domain in listed:
            return True
        _, dot, rest = domain.partition(".")
        if not dot or "." not in rest:
            return False
        domain = rest


def _is_set(c: Criterion, raw: object, _: Mapping[str, object]) -> _Verdict:
    got = read_texts(raw)
    if got is MISSING:
        return "missed", f"{c.attribute} is not set"
    return "checked", f"{c.attribute} is set"


def _is_not_set(c: Criterion, raw: object, _: Mapping[str, object]) -> _Verdict:
    got = read_texts(raw)
    if got is MISSING:
        return "checked", f"{c.attribute} is not set"
    return "missed", f"{c.attribute} is set ({shown(raw)})"


def _listed(c: Criterion, limit: int = 4) -> str:
    items = list(c.definition.values[:limit])
    more = len(c.definition.values) - limit
    return ", ".join(items) + (f" (+{more} more)" if more > 0 else "")


_CHECKS: dict[str, Callable[[Criterion, object, Mapping[str, object]], _Verdict]] = {
    "one_of": _one_of,
    "none_of": _none_of,
    "contains": _contains,
    "matches": _matches,
    "below": _numeric,
    "at_least": _numeric,
    "between": _numeric,
    "in_list": _in_list,
    "is_set": _is_set,
    "is_not_set": _is_not_set,
}


_OPPOSITE = {
    "one_of": "none_of",
    "none_of": "one_of",
    "is_set": "is_not_set",
    "is_not_set": "is_set",
}
_MEMO_TYPES = frozenset({str, int, float, bool, type(None)})
_MEMO_LIMIT = 20_000


def compile_criterion(definition: CriterionDef, aliases: AliasTable) -> Criterion:
    """Normalise a criterion's values once (aliases applied) so checks are set look-ups.

    Raises ``ValueError`` for a definition its operator cannot use; the config layer has
    already rejected those with the key path, so this guards direct callers.
    """
    op = definition.operator
    values = frozenset(aliases.get(norm(v), norm(v)) for v in definition.values)
    regex = None
    if op == "matches":
        if not definition.pattern:
            raise ValueError(f"criterion {definition.name!r}: operator 'matches' needs a pattern")
        regex = re.compile(definition.pattern, re.IGNORECASE)
    if op in ("one_of", "none_of", "contains", "in_list") and not definition.values:
        raise ValueError(f"criterion {definition.name!r}: operator {op!r} needs values")
    if op in ("below", "between") and definition.maximum is None:
        raise ValueError(f"criterion {definition.name!r}: operator {op!r} needs max")
    if op in ("at_least", "between") and definition.minimum is None:
        raise ValueError(f"criterion {definition.name!r}: operator {op!r} needs min")
    domains = frozenset(
        d for d in (domain_of(v) for v in definition.values if "." in v and " " not in v) if d
    )
    companies = frozenset(company_key(v) for v in definition.values)
    check = _CHECKS[op]
    invert = definition.negate
    if invert and op in _OPPOSITE:
        check, invert = _CHECKS[_OPPOSITE[op]], False
    return Criterion(
        definition=definition,
        check=check,
        invert=invert,
        memo=None if op == "in_list" else {},
        values=values,
        substrings=tuple(sorted(values)),
        regex=regex,
        domains=domains if op == "in_list" else frozenset(),
        companies=companies if op == "in_list" else frozenset(),
        aliases=aliases,
    )


def classify_title(title: str, patterns: tuple[tuple[str, re.Pattern[str]], ...]) -> str | None:
    """The label of the first pattern that matches the normalised title, if any."""
    for label, regex in patterns:
        if regex.search(title):
            return label
    return None
