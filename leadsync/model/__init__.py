"""The qualification model: fit x engagement -> readiness, matrix cell and team, explained.

Pure: no I/O, no clock (``now`` is an argument), frozen values in and out. The configuration
layer compiles the admin's TOML into a ``ModelSpec`` once; ``score`` applies it to a person.
"""

from leadsync.model.definitions import (
    DEFAULT_DEPARTMENTS,
    DEFAULT_MATRIX,
    DEFAULT_RULES,
    DEFAULT_SENIORITY,
    OPERATORS,
    CriterionDef,
    Operator,
    RuleDef,
    TitlePattern,
)
from leadsync.model.result import REASON_LIMIT, Result, round_half_up
from leadsync.model.scoring import account_signals, score, score_account
from leadsync.model.spec import ModelSpec, build_spec
from leadsync.model.values import (
    ACTIVITY_KINDS,
    INTERESTS,
    READINESS_LEVELS,
    AccountSignals,
    Activity,
    Contribution,
    CriterionOutcome,
    Fit,
    Interest,
    Person,
    Readiness,
    Team,
)

__all__ = [
    "ACTIVITY_KINDS",
    "DEFAULT_DEPARTMENTS",
    "DEFAULT_MATRIX",
    "DEFAULT_RULES",
    "DEFAULT_SENIORITY",
    "INTERESTS",
    "OPERATORS",
    "READINESS_LEVELS",
    "REASON_LIMIT",
    "AccountSignals",
    "Activity",
    "Contribution",
    "CriterionDef",
    "CriterionOutcome",
    "Fit",
    "Interest",
    "ModelSpec",
    "Operator",
    "Person",
    "Readiness",
    "Result",
    "RuleDef",
    "Team",
    "TitlePattern",
    "account_signals",
    "build_spec",
    "round_half_up",
    "score",
    "score_account",
]
