"""What an admin defines, as plain values: criteria, rules, title patterns, the matrix.

The configuration layer validates the TOML file into these; ``leadsync.model.spec.build_spec``
compiles them into a ``ModelSpec``. The built-in defaults live here too, so the config layer
and the model share one source of truth (the example points from the product brief).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from leadsync.model.values import Interest, Team

Operator = Literal[
    "one_of",
    "none_of",
    "below",
    "at_least",
    "between",
    "contains",
    "matches",
    "in_list",
    "is_set",
    "is_not_set",
]
OPERATORS: tuple[Operator, ...] = (
    "one_of",
    "none_of",
    "below",
    "at_least",
    "between",
    "contains",
    "matches",
    "in_list",
    "is_set",
    "is_not_set",
)
NUMERIC_OPERATORS = frozenset({"below", "at_least", "between"})
TEXT_LIST_OPERATORS = frozenset({"one_of", "none_of", "contains"})


@dataclass(frozen=True, slots=True)
class CriterionDef:
    """One ICP box. ``values`` serve one_of / none_of / contains / in_list; ``minimum`` and
    ``maximum`` serve the numeric operators (``below`` uses ``maximum``, exclusive;
    ``at_least`` uses ``minimum``, inclusive; ``between`` both, inclusive); ``pattern`` serves
    ``matches``. ``negate`` turns a readable outcome around ("NOT publicly traded")."""

    name: str
    attribute: str
    operator: Operator
    values: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    pattern: str | None = None
    required: bool = False
    negate: bool = False


@dataclass(frozen=True, slots=True)
class RuleDef:
    """One engagement rule: which activities it matches and the points each one gives.

    Patterns are case-insensitive regular expressions searched anywhere in the field; a rule
    with a pattern does not match an activity lacking that field. ``cap`` counts at most that
    many (the most recent) matches; ``window_days`` overrides the global window.
    """

    name: str
    kinds: tuple[str, ...]
    points: float
    interest: Interest
    name_pattern: str | None = None
    campaign_type_pattern: str | None = None
    member_status_pattern: str | None = None
    url_pattern: str | None = None
    cap: int | None = None
    window_days: float | None = None
    #: An attribute rule: instead of matching activities (``kinds`` is empty), it gives its
    #: points once, undecayed, while the person's attribute passes this test ("balance at
    #: least 1,000", "lead origin is Lead Add Form"), so fit data can carry points without
    #: becoming a box. It is written like a box and read with the same aliases.
    attribute_test: CriterionDef | None = None


@dataclass(frozen=True, slots=True)
class TitlePattern:
    """A label (``VP``, ``Legal``) given to a job title matching ``pattern`` (case-insensitive)."""

    label: str
    pattern: str


DEFAULT_RULES: tuple[RuleDef, ...] = (
    RuleDef("Contact Us", ("form_submission",), 100, "hand_raiser", name_pattern=r"contact"),
    RuleDef("Demo request", ("form_submission",), 75, "hand_raiser", name_pattern=r"\bdemo"),
    RuleDef("Price sheet download", ("form_submission",), 50, "active", name_pattern=r"pric"),
    RuleDef("Product webinar registration", ("webinar_registered",), 50, "active"),
    RuleDef(
        "Product webinar registration (campaign)",
        ("campaign_member", "campaign_response"),
        50,
        "active",
        campaign_type_pattern=r"webinar",
        member_status_pattern=r"regist",
    ),
    RuleDef("Ebook", ("ebook_download",), 10, "passive"),
    RuleDef("Ebook form", ("form_submission",), 10, "passive", name_pattern=r"e-?book"),
    RuleDef("Blog view", ("page_view",), 5, "passive", url_pattern=r"/blog", cap=10),
    RuleDef("Email open", ("email_open",), 0, "passive"),
    RuleDef("Unsubscribe", ("unsubscribe",), -25, "not_interested"),
)

DEFAULT_SENIORITY: tuple[TitlePattern, ...] = (
    # Vice presidents first: "Vice President" must not fall into C-Suite via "president".
    TitlePattern("VP", r"\b(?:s?vp|evp|avp|vice[\s-]*president)\b"),
    TitlePattern(
        "C-Suite",
        r"\b(?:chief|ceo|cfo|cto|cio|coo|cmo|cro|cso|ciso|cdo|cpo|president|founder|"
        r"co-?founder|owner|managing director|partner)\b",
    ),
    TitlePattern("Director", r"\b(?:director|head of|dir\.?)\b"),
    TitlePattern("Manager", r"\b(?:manager|mgr|supervisor|team lead|lead)\b"),
    TitlePattern("Individual Contributor", r"\w"),
)

DEFAULT_DEPARTMENTS: tuple[TitlePattern, ...] = (
    TitlePattern("Legal", r"\b(?:legal|counsel|attorney|lawyer|paralegal|solicitor)\b"),
    TitlePattern("Compliance", r"\b(?:compliance|regulatory|risk|audit\w*|privacy|dpo)\b"),
    TitlePattern(
        "IT",
        r"\b(?:it|cio|cto|ciso|information technology|information security|infosec|"
        r"sysadmin|systems? administrator|network|infrastructure|devops|helpdesk)\b",
    ),
    TitlePattern("Engineering", r"\b(?:engineer\w*|developer|software|r&d|programmer|architect)\b"),
    TitlePattern(
        "Marketing",
        r"\b(?:marketing|cmo|brand|demand gen\w*|growth|content|communications|seo|campaigns?)\b",
    ),
    TitlePattern(
        "Sales",
        r"\b(?:sales|cro|account executive|ae|business development|bdr|sdr|"
        r"account manager|revenue)\b",
    ),
    TitlePattern(
        "Finance", r"\b(?:finance|financial|cfo|accounting|accountant|controller|treasur\w*)\b"
    ),
    TitlePattern("HR", r"\b(?:hr|human resources|people|talent|recruit\w*|chro|payroll)\b"),
    TitlePattern(
        "Operations",
        r"\b(?:operations|coo|supply chain|logistics|procurement|purchasing|plant|production)\b",
    ),
    TitlePattern("Customer Success", r"\b(?:customer success|support|service)\b"),
    TitlePattern(
        "Executive", r"\b(?:ceo|chief executive|president|founder|owner|managing director)\b"
    ),
)

#: Built-in aliases: canonical value -> other spellings. Admin aliases add to these.
DEFAULT_ALIASES: Mapping[str, Mapping[str, tuple[str, ...]]] = {
    "country": {
        "United Kingdom": ("UK", "GB", "GBR", "Great Britain", "Britain", "England", "Scotland",
                           "Wales", "Northern Ireland", "U.K."),
        "United States": ("US", "USA", "U.S.", "U.S.A.", "United States of America", "America"),
        "France": ("FR", "FRA", "République française", "Republique francaise"),
        "Germany": ("DE", "DEU", "Deutschland"),
        "Spain": ("ES", "ESP", "España", "Espana"),
        "Italy": ("IT", "ITA", "Italia"),
        "Netherlands": ("NL", "NLD", "Holland", "The Netherlands", "Nederland"),
        "Belgium": ("BE", "BEL", "België", "Belgique"),
        "Switzerland": ("CH", "CHE", "Schweiz", "Suisse", "Svizzera"),
        "Austria": ("AT", "AUT", "Österreich"),
        "Ireland": ("IE", "IRL", "Éire", "Republic of Ireland"),
        "Portugal": ("PT", "PRT"),
        "Sweden": ("SE", "SWE", "Sverige"),
        "Norway": ("NO", "NOR", "Norge"),
        "Denmark": ("DK", "DNK", "Danmark"),
        "Finland": ("FI", "FIN", "Suomi"),
        "Poland": ("PL", "POL", "Polska"),
        "Canada": ("CA", "CAN"),
        "Mexico": ("MX", "MEX", "México"),
        "Brazil": ("BR", "BRA", "Brasil"),
        "Australia": ("AU", "AUS"),
        "New Zealand": ("NZ", "NZL"),
        "Japan": ("JP", "JPN"),
        "China": ("CN", "CHN", "PRC", "People's Republic of China"),
        "India": ("IN", "IND"),
        "Singapore": ("SG", "SGP"),
        "South Africa": ("ZA", "ZAF"),
        "United Arab Emirates": ("AE", "ARE", "UAE"),
    },
}  # fmt: skip

#: The product brief's matrix: (fit, readiness) -> team.
DEFAULT_MATRIX: Mapping[tuple[str, str], Team] = {
    ("good", "hand_raiser"): "sales",
    ("good", "sales_ready"): "sales",
    ("good", "unready"): "marketing",
    ("poor", "hand_raiser"): "sales",
    ("poor", "sales_ready"): "marketing",
    ("poor", "unready"): "marketing",
}

DEFAULT_HALF_LIFE_DAYS = 30.0
DEFAULT_WINDOW_DAYS = 90.0
DEFAULT_SALES_READY_THRESHOLD = 100.0
DEFAULT_ENGAGED_THRESHOLD = 50.0
