"""The compiled model: everything ``score`` needs, prepared once from the configuration.

Compiling normalises alias tables, compiles every pattern and indexes rules by activity
kind, so scoring a person does set look-ups and a few regex searches, nothing more.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from leadsync.errors import ConfigError
from leadsync.model.definitions import (
    DEFAULT_ALIASES,
    DEFAULT_DEPARTMENTS,
    DEFAULT_ENGAGED_THRESHOLD,
    DEFAULT_HALF_LIFE_DAYS,
    DEFAULT_MATRIX,
    DEFAULT_RULES,
    DEFAULT_SALES_READY_THRESHOLD,
    DEFAULT_SENIORITY,
    DEFAULT_WINDOW_DAYS,
    CriterionDef,
    RuleDef,
    TitlePattern,
)
from leadsync.model.engagement import Rule, RuleIndex, compile_rule
from leadsync.model.fit import AliasTable, Criterion, compile_criterion
from leadsync.model.reading import norm
from leadsync.model.values import FITS, READINESS_LEVELS, Team

TitlePatterns = tuple[tuple[str, re.Pattern[str]], ...]

#: Bound on the per-spec title cache; titles repeat, but a stream of unique ones must not grow
#: memory without limit.
_TITLE_CACHE_LIMIT = 50_000


@dataclass(frozen=True, slots=True, eq=False)
class ModelSpec:
    """The qualification model, compiled. Build it with ``build_spec``; share it freely."""

    criteria: tuple[Criterion, ...]
    good_fit_min: int
    rules: tuple[Rule, ...]
    rule_index: RuleIndex
    half_life_days: float
    window_days: float
    sales_ready_threshold: float
    require_active: bool
    engaged_threshold: float
    matrix: Mapping[tuple[str, str], Team]
    seniority: TitlePatterns
    departments: TitlePatterns
    accounts_enabled: bool
    #: Which derived attributes some criterion reads, so scoring derives only those.
    derives: frozenset[str]
    #: attribute -> {normalised alias: canonical value}: how boxes and attribute rules read
    #: the attribute's values (built-ins plus the config's ``[aliases]``).
    aliases: Mapping[str, AliasTable] = field(default_factory=dict)
    #: (title, dimension) -> label; a bounded memo, since titles repeat across people.
    title_cache: dict[tuple[str, str], str | None] = field(default_factory=dict, repr=False)

    def team(self, fit: str, readiness: str) -> Team:
        """The team in charge of a matrix cell; do-not-contact is always marketing's."""
        if readiness == "do_not_contact":
            return "marketing"
        return self.matrix[(fit, readiness)]

    def classify(self, title: str, dimension: str) -> str | None:
        """Seniority or department label for a normalised title (``dimension`` names which)."""
        key = (title, dimension)
        cache = self.title_cache
        if key in cache:
            return cache[key]
        patterns = self.seniority if dimension == "seniority" else self.departments
        label = next((lab for lab, regex in patterns if regex.search(title)), None)
        if len(cache) >= _TITLE_CACHE_LIMIT:
            cache.clear()
        cache[key] = label
        return label


def alias_tables(
    extra: Mapping[str, Mapping[str, Iterable[str]]] | None = None,
    use_defaults: bool = True,
) -> dict[str, dict[str, str]]:
    """Normalised alias tables: attribute -> {alias: canonical}, built-ins plus ``extra``.

    The canonical value maps to itself, so "UK", "u.k." and "united kingdom" all read the same.
    """
    merged: dict[str, dict[str, str]] = {}
    sources: list[Mapping[str, Mapping[str, Iterable[str]]]] = []
    if use_defaults:
        sources.append(DEFAULT_ALIASES)
    if extra:
        sources.append(extra)
    for source in sources:
        for attribute, table in source.items():
            target = merged.setdefault(attribute, {})
            for canonical, spellings in table.items():
                canon = norm(canonical)
                target[canon] = canon
                for spelling in spellings:
                    target[norm(spelling)] = canon
    return merged


def _title_patterns(patterns: Iterable[TitlePattern], where: str) -> TitlePatterns:
    compiled = []
    for item in patterns:
        try:
            compiled.append((item.label, re.compile(item.pattern, re.IGNORECASE)))
        except re.error as exc:
            raise ConfigError(
                f"{where} {item.label!r}: bad pattern {item.pattern!r}: {exc}"
            ) from None
    return tuple(compiled)


def build_spec(
    criteria: Iterable[CriterionDef] = (),
    good_fit_min: int = 0,
    rules: Iterable[RuleDef] = DEFAULT_RULES,
    half_life_days: float = DEFAULT_HALF_LIFE_DAYS,
    window_days: float = DEFAULT_WINDOW_DAYS,
    sales_ready_threshold: float = DEFAULT_SALES_READY_THRESHOLD,
    require_active: bool = False,
    engaged_threshold: float = DEFAULT_ENGAGED_THRESHOLD,
    matrix: Mapping[tuple[str, str], Team] = DEFAULT_MATRIX,
    seniority: Iterable[TitlePattern] = DEFAULT_SENIORITY,
    departments: Iterable[TitlePattern] = DEFAULT_DEPARTMENTS,
    aliases: Mapping[str, Mapping[str, Iterable[str]]] | None = None,
    use_default_aliases: bool = True,
    accounts_enabled: bool = False,
) -> ModelSpec:
    """Compile the model. Raises ``ConfigError`` for a definition that cannot work.

    ``good_fit_min`` counts checked boxes; a good fit also needs every required box.
    """
    tables = alias_tables(aliases, use_default_aliases)
    compiled_criteria = []
    for definition in criteria:
        table: AliasTable = tables.get(definition.attribute, {})
        try:
            compiled_criteria.append(compile_criterion(definition, table))
        except (ValueError, re.error) as exc:
            raise ConfigError(f"criterion {definition.name!r}: {exc}") from None
    names = [c.name for c in compiled_criteria]
    if len(set(names)) != len(names):
        raise ConfigError(f"criterion names must be unique; got {names}")
    if not 0 <= good_fit_min <= len(compiled_criteria):
        raise ConfigError(
            f"good_fit_min = {good_fit_min} must be between 0 and the number of criteria "
            f"({len(compiled_criteria)})"
        )
    compiled_rules = []
    for rule in rules:
        test = rule.attribute_test
        if test is not None and test.attribute.startswith("account_"):
            # The account roll-up sums its people's scores: points from it would feed back.
            raise ConfigError(
                f"rule {rule.name!r}: an attribute rule cannot read {test.attribute!r} (the "
                "account roll-up is made of scores); use a box in [icp] for it"
            )
        test_aliases = tables.get(test.attribute, {}) if test is not None else None
        try:
            compiled_rules.append(compile_rule(rule, window_days, test_aliases))
        except re.error as exc:
            raise ConfigError(f"rule {rule.name!r}: bad pattern: {exc}") from None
        except ValueError as exc:
            raise ConfigError(f"rule {rule.name!r}: {exc}") from None
    rule_names = [r.name for r in compiled_rules]
    if len(set(rule_names)) != len(rule_names):
        raise ConfigError(f"rule names must be unique; got {rule_names}")
    missing_cells = [
        f"{fit}/{ready}"
        for fit in FITS
        for ready in READINESS_LEVELS
        if ready != "do_not_contact" and (fit, ready) not in matrix
    ]
    if missing_cells:
        raise ConfigError(f"matrix is missing cells: {', '.join(missing_cells)}")
    if half_life_days < 0 or window_days <= 0:
        raise ConfigError("half_life_days must be >= 0 and window_days > 0")
    tests = [r.attribute_test for r in compiled_rules if r.attribute_test is not None]
    attributes = {c.attribute for c in (*compiled_criteria, *tests)}
    if any(c.definition.operator == "in_list" for c in (*compiled_criteria, *tests)):
        attributes.add("email_domain")  # target accounts also match on the email's domain
    return ModelSpec(
        criteria=tuple(compiled_criteria),
        good_fit_min=good_fit_min,
        rules=tuple(compiled_rules),
        rule_index=RuleIndex.of(compiled_rules),
        half_life_days=half_life_days,
        window_days=window_days,
        sales_ready_threshold=sales_ready_threshold,
        require_active=require_active,
        engaged_threshold=engaged_threshold,
        matrix=dict(matrix),
        seniority=_title_patterns(seniority, "seniority"),
        departments=_title_patterns(departments, "department"),
        accounts_enabled=accounts_enabled,
        derives=frozenset(attributes & {"seniority", "department", "email_domain"}),
        aliases=tables,
    )
