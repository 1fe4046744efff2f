"""The model's part of the config file: ``[icp]``, ``[titles]``, ``[aliases]``,
``[engagement]``, ``[matrix]`` and ``[accounts]``, and their compilation into a ``ModelSpec``.

Validation here catches everything that would make the model misbehave (a regex that does
not compile, an operator without its limit, a duplicate rule name), each with its key path.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from leadsync.errors import ConfigError
from leadsync.model import (
    DEFAULT_DEPARTMENTS,
    DEFAULT_MATRIX,
    DEFAULT_RULES,
    DEFAULT_SENIORITY,
    CriterionDef,
    ModelSpec,
    Operator,
    RuleDef,
    TitlePattern,
    build_spec,
)
from leadsync.model.definitions import (
    DEFAULT_ENGAGED_THRESHOLD,
    DEFAULT_HALF_LIFE_DAYS,
    DEFAULT_SALES_READY_THRESHOLD,
    DEFAULT_WINDOW_DAYS,
    NUMERIC_OPERATORS,
)
from leadsync.model.values import ActivityKind

InterestLevel = Literal["hand_raiser", "active", "passive", "not_interested"]
TeamName = Literal["sales", "marketing"]

_ATTRIBUTE = re.compile(r"^[a-z][a-z0-9_]*$")
#: Column headers of a target-account CSV whose values are read; others are ignored.
_LIST_COLUMNS = ("name", "company", "account", "account_name", "domain", "website", "email_domain")


class Section(BaseModel):
    """A config section: unknown keys are errors (with "did you mean"), values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression ({exc})") from None
    return value


#: A regular expression, checked to compile (matching is case-insensitive).
Regex = Annotated[str, AfterValidator(_regex)]


class CriterionSettings(Section):
    """One ICP box (``[[icp.criteria]]``)."""

    name: str = Field(min_length=1, max_length=40)
    attribute: AttributeName
    operator: Operator
    values: tuple[str | int | float, ...] = ()
    min: float | None = None
    max: float | None = None
    pattern: Regex | None = None
    list_file: Path | None = None
    required: bool = False
    negate: bool = False

    @model_validator(mode="after")
    def _operator_has_its_keys(self) -> CriterionSettings:
        _check_operator(self.operator, self)
        return self


def _check_operator(op: Operator, test: CriterionSettings | RuleSettings) -> None:
    """The keys an attribute test (a box, or an attribute rule) needs and uses for ``op``."""
    list_file = getattr(test, "list_file", None)
    if op in ("one_of", "none_of", "contains") and not test.values:
        raise ValueError(f"operator '{op}' needs values = [...]")
    if op == "in_list" and not (test.values or list_file):
        raise ValueError("operator 'in_list' needs values = [...] or list_file = 'x.csv'")
    if op in ("below", "between") and test.max is None:
        raise ValueError(f"operator '{op}' needs max")
    if op in ("at_least", "between") and test.min is None:
        raise ValueError(f"operator '{op}' needs min")
    if test.min is not None and test.max is not None and test.min > test.max:
        raise ValueError(f"min ({test.min:g}) must not exceed max ({test.max:g})")
    if op == "matches" and not test.pattern:
        raise ValueError("operator 'matches' needs pattern = '...'")
    unused = [
        key
        for key, value, used in (
            ("min", test.min, op in ("at_least", "between")),
            ("max", test.max, op in ("below", "between")),
            ("pattern", test.pattern, op == "matches"),
            ("list_file", list_file, op == "in_list"),
            (
                "values",
                test.values,
                op not in NUMERIC_OPERATORS | {"matches", "is_set", "is_not_set"},
            ),
        )
        if not used and value not in (None, ())
    ]
    if unused:
        raise ValueError(f"operator '{op}' does not use {', '.join(unused)}; remove it")


def _attribute_name(value: str) -> str:
    if not _ATTRIBUTE.match(value):
        raise ValueError(
            "must be a canonical attribute name: lower-case letters, digits and _ "
            "(e.g. industry, employees, country, or a mapped custom name)"
        )
    return value


#: An attribute as the mapping names it (``industry``, ``employees``, ``balance``).
AttributeName = Annotated[str, AfterValidator(_attribute_name)]


class IcpSettings(Section):
    """``[icp]``: the checklist and how many boxes make a good fit."""

    good_fit_min: int = Field(default=0, ge=0)
    criteria: tuple[CriterionSettings, ...] = ()
    #: Use the built-in country aliases ("UK" = "United Kingdom", ...) besides ``[aliases]``.
    builtin_aliases: bool = True

    @model_validator(mode="after")
    def _consistent(self) -> IcpSettings:
        names = [c.name for c in self.criteria]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"criteria names must be unique; repeated: {', '.join(duplicates)}")
        if self.good_fit_min > len(self.criteria):
            raise ValueError(
                f"good_fit_min = {self.good_fit_min} is more than the {len(self.criteria)} "
                f"criteria defined; nobody could be a good fit"
            )
        return self


class TitlePatternSettings(Section):
    label: str = Field(min_length=1)
    pattern: Regex


class TitlesSettings(Section):
    """``[titles]``: seniority and department derived from the job title, first match wins."""

    #: Keep the built-in patterns after the ones given here.
    use_defaults: bool = True
    seniority: tuple[TitlePatternSettings, ...] = ()
    departments: tuple[TitlePatternSettings, ...] = ()


class RuleSettings(Section):
    """One engagement rule (``[[engagement.rules]]``): on activities (``kind`` and patterns),
    or on an attribute (``attribute`` and ``operator``, written like an ICP box), whose
    points count once, undecayed, while the person's data passes the test."""

    name: str = Field(min_length=1, max_length=60)
    kind: tuple[ActivityKind, ...] = ()
    points: float
    interest: InterestLevel | None = None
    name_pattern: Regex | None = None
    campaign_type_pattern: Regex | None = None
    member_status_pattern: Regex | None = None
    url_pattern: Regex | None = None
    cap: int | None = Field(default=None, ge=1)
    window_days: float | None = Field(default=None, gt=0)
    attribute: AttributeName | None = None
    operator: Operator | None = None
    values: tuple[str | int | float, ...] = ()
    min: float | None = None
    max: float | None = None
    pattern: Regex | None = None
    negate: bool = False

    @field_validator("kind", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return (value,) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _on_activities_or_an_attribute(self) -> RuleSettings:
        activity_keys = ("name_pattern", "campaign_type_pattern", "member_status_pattern",
                         "url_pattern", "cap", "window_days")  # fmt: skip
        test_keys = ("operator", "values", "min", "max", "pattern", "negate")
        if self.attribute is None:
            if not self.kind:
                raise ValueError(
                    "needs kind = '...' (the activities it scores) or attribute = '...' with "
                    "operator (the person's data it scores)"
                )
            if self.interest is None:
                raise ValueError(
                    "needs interest = 'hand_raiser', 'active', 'passive' or 'not_interested'"
                )
            stray = [k for k in test_keys if getattr(self, k) not in (None, (), False)]
            if stray:
                raise ValueError(
                    f"{', '.join(stray)} serve an attribute rule, which needs attribute = "
                    "'...'; a rule on activities matches them with kind and *_pattern"
                )
            return self
        if self.kind:
            raise ValueError("a rule scores activities (kind) or an attribute, not both")
        stray = [k for k in activity_keys if getattr(self, k) is not None]
        if stray:
            raise ValueError(
                f"an attribute rule does not use {', '.join(stray)} (its points count once, "
                "undecayed, while the data passes); remove it"
            )
        if self.interest not in (None, "passive"):
            raise ValueError(
                f"interest = '{self.interest}' needs an activity; an attribute rule is "
                "always passive: remove interest"
            )
        if self.operator is None:
            raise ValueError("an attribute rule needs operator (as a box in [icp] does)")
        _check_operator(self.operator, self)
        return self


class EngagementSettings(Section):
    """``[engagement]``: decay, window, thresholds and the rules (defaults when omitted)."""

    half_life_days: float = Field(default=DEFAULT_HALF_LIFE_DAYS, ge=0)
    window_days: float = Field(default=DEFAULT_WINDOW_DAYS, gt=0)
    sales_ready_threshold: float = DEFAULT_SALES_READY_THRESHOLD
    require_active: bool = False
    engaged_threshold: float = DEFAULT_ENGAGED_THRESHOLD
    rules: tuple[RuleSettings, ...] | None = None

    @model_validator(mode="after")
    def _unique_rule_names(self) -> EngagementSettings:
        names = [r.name for r in self.rules or []]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"rule names must be unique; repeated: {', '.join(duplicates)}")
        return self


class MatrixRow(Section):
    hand_raiser: TeamName
    sales_ready: TeamName
    unready: TeamName


class MatrixSettings(Section):
    """``[matrix]``: the team in charge of each (fit, readiness) cell."""

    good: MatrixRow = MatrixRow(
        hand_raiser=DEFAULT_MATRIX[("good", "hand_raiser")],
        sales_ready=DEFAULT_MATRIX[("good", "sales_ready")],
        unready=DEFAULT_MATRIX[("good", "unready")],
    )
    poor: MatrixRow = MatrixRow(
        hand_raiser=DEFAULT_MATRIX[("poor", "hand_raiser")],
        sales_ready=DEFAULT_MATRIX[("poor", "sales_ready")],
        unready=DEFAULT_MATRIX[("poor", "unready")],
    )

    def cells(self) -> dict[tuple[str, str], TeamName]:
        return {
            (fit, readiness): getattr(row, readiness)
            for fit, row in (("good", self.good), ("poor", self.poor))
            for readiness in ("hand_raiser", "sales_ready", "unready")
        }


class AccountsSettings(Section):
    """``[accounts]``: roll engagement up to the account (the buying group)."""

    enabled: bool = False
    key: Literal["account_id", "email_domain"] = "account_id"


def _rule_def(rule: RuleSettings) -> RuleDef:
    test = None
    if rule.attribute is not None and rule.operator is not None:
        test = CriterionDef(
            name=rule.name,
            attribute=rule.attribute,
            operator=rule.operator,
            values=tuple(str(v) for v in rule.values),
            minimum=rule.min,
            maximum=rule.max,
            pattern=rule.pattern,
            negate=rule.negate,
        )
    return RuleDef(
        name=rule.name,
        kinds=tuple(rule.kind),
        points=rule.points,
        interest=rule.interest or "passive",
        name_pattern=rule.name_pattern,
        campaign_type_pattern=rule.campaign_type_pattern,
        member_status_pattern=rule.member_status_pattern,
        url_pattern=rule.url_pattern,
        cap=rule.cap,
        window_days=rule.window_days,
        attribute_test=test,
    )


def read_target_list(path: Path, where: str) -> list[str]:
    """Entries of a target-account CSV: the name/domain columns, else the first column."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = [row for row in csv.reader(handle) if any(cell.strip() for cell in row)]
    except FileNotFoundError:
        raise ConfigError(f"{where}: file not found: {path}") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"{where}: cannot read {path}: {exc}") from None
    if not rows:
        raise ConfigError(f"{where}: {path} has no entries")
    header = [cell.strip().casefold() for cell in rows[0]]
    columns = [i for i, name in enumerate(header) if name in _LIST_COLUMNS]
    body = rows[1:] if columns else rows
    columns = columns or [0]
    entries = [row[i].strip() for row in body for i in columns if i < len(row) and row[i].strip()]
    if not entries:
        raise ConfigError(f"{where}: {path} has no entries in columns {', '.join(_LIST_COLUMNS)}")
    return entries


def compile_model(
    icp: IcpSettings,
    titles: TitlesSettings,
    aliases: dict[str, dict[str, list[str]]],
    engagement: EngagementSettings,
    matrix: MatrixSettings,
    accounts: AccountsSettings,
    source: str,
) -> ModelSpec:
    """Compile the model sections into a ``ModelSpec``; reads target-account list files."""
    criteria = []
    for index, item in enumerate(icp.criteria):
        values = [str(v) for v in item.values]
        if item.list_file is not None:
            values += read_target_list(item.list_file, f"{source}: icp.criteria[{index}].list_file")
        criteria.append(
            CriterionDef(
                name=item.name,
                attribute=item.attribute,
                operator=item.operator,
                values=tuple(values),
                minimum=item.min,
                maximum=item.max,
                pattern=item.pattern,
                required=item.required,
                negate=item.negate,
            )
        )
    seniority = [TitlePattern(t.label, t.pattern) for t in titles.seniority]
    departments = [TitlePattern(t.label, t.pattern) for t in titles.departments]
    if titles.use_defaults:
        seniority += DEFAULT_SENIORITY
        departments += DEFAULT_DEPARTMENTS
    rules = DEFAULT_RULES if engagement.rules is None else [_rule_def(r) for r in engagement.rules]
    try:
        return build_spec(
            criteria=criteria,
            good_fit_min=icp.good_fit_min,
            rules=rules,
            half_life_days=engagement.half_life_days,
            window_days=engagement.window_days,
            sales_ready_threshold=engagement.sales_ready_threshold,
            require_active=engagement.require_active,
            engaged_threshold=engagement.engaged_threshold,
            matrix=matrix.cells(),
            seniority=seniority,
            departments=departments,
            aliases=aliases,
            use_default_aliases=icp.builtin_aliases,
            accounts_enabled=accounts.enabled,
        )
    except ConfigError as exc:
        raise ConfigError([f"{source}: {problem}" for problem in exc.problems]) from None
