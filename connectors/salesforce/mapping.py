"""The admin-editable Salesforce field map (``mappings/salesforce.toml``), validated.

Canonical names (``industry``, ``fit``, ``webinar_attended`` ...) are LeadSync's vocabulary;
this file says which Salesforce field or value each one is in a given org. Every field name is
checked against the SOQL identifier rule when the file loads, so nothing an admin writes can
change the shape of a query.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from connectors.salesforce.soql import IDENTIFIER
from leadsync.config import loading
from leadsync.model.values import ActivityKind
from mappings import default_mapping_path

#: Canonical output names the engine may send in ``RecordUpdate.values``.
OUTPUT_NAMES = (
    "fit",
    "score",
    "readiness",
    "team",
    "reason",
    "scored_at",
    "recycle_count",
    "recycle_reason",
    "account_score",
    "engaged_people",
)

MAPPABLE_OBJECTS = ("Lead", "Contact", "Account")
#: The objects a person is: each can be handed off and recycled, so each needs its status.
PEOPLE_OBJECTS = ("Lead", "Contact")

# Campaign-member and task rules produce ``ActivityKind``s: the model's own list, so every
# kind a mapping can produce is one an engagement rule can give points to.


def _api_name(value: str) -> str:
    if not IDENTIFIER.fullmatch(value):
        raise ValueError(
            "not a Salesforce API name (letters, digits, underscores; custom fields end in "
            "__c; relationship paths are dotted, e.g. Account.Industry)"
        )
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ObjectMapping(_Strict):
    """Where one sObject keeps the person's identity fields, attributes and LeadSync outputs."""

    email: str | None = "Email"
    status: str | None = None
    owner: str | None = "OwnerId"
    opt_out: str | None = None
    #: The person's account (Contact.AccountId); Lead has none.
    account: str | None = None
    attributes: dict[str, str] = Field(default_factory=dict)
    outputs: dict[str, str] = Field(default_factory=dict)

    @field_validator("email", "status", "owner", "opt_out", "account")
    @classmethod
    def _names(cls, value: str | None) -> str | None:
        return None if value is None else _api_name(value)

    @field_validator("attributes", "outputs")
    @classmethod
    def _field_names(cls, value: dict[str, str]) -> dict[str, str]:
        for canonical, field in value.items():
            try:
                _api_name(field)
            except ValueError as exc:
                raise ValueError(f"{canonical} = {field!r}: {exc}") from None
        return value

    @field_validator("outputs")
    @classmethod
    def _known_outputs(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(OUTPUT_NAMES))
        if unknown:
            raise ValueError(
                f"unknown output {', '.join(unknown)}; allowed: {', '.join(OUTPUT_NAMES)}"
            )
        return value


class CampaignMemberRule(_Strict):
    """Campaign type (+ member status, + responded) -> canonical activity kind."""

    campaign_type: str | None = None
    member_status: str | None = None
    responded: bool | None = None
    kind: ActivityKind

    @model_validator(mode="after")
    def _matches_something(self) -> CampaignMemberRule:
        if self.campaign_type is None and self.member_status is None and self.responded is None:
            raise ValueError("a rule needs campaign_type, member_status or responded")
        return self


class CampaignMemberSource(_Strict):
    enabled: bool = True
    rules: list[CampaignMemberRule] = Field(default_factory=list)
    responded_kind: ActivityKind = "campaign_response"
    member_kind: ActivityKind = "campaign_member"


def _default_task_kinds() -> dict[str, ActivityKind]:
    return {"Call": "call", "Email": "email", "ListEmail": "email"}


class TaskSource(_Strict):
    enabled: bool = True
    #: TaskSubtype (or, when empty, Type) -> kind; anything else is ``default_kind``.
    kinds: dict[str, ActivityKind] = Field(default_factory=_default_task_kinds)
    default_kind: ActivityKind = "task"


class EventSource(_Strict):
    enabled: bool = True
    kind: ActivityKind = "meeting"


#: The field keys of a form submission object (``FormSource``), in the order checks name them.
FORM_FIELD_KEYS = (
    "email_field",
    "name_field",
    "url_field",
    "lead_field",
    "contact_field",
    "submitted_at_field",
)


class FormSource(_Strict):
    """Where form submissions come from: a custom object, responded campaign members, or none."""

    source: Literal["custom_object", "campaign_members", "none"] = "custom_object"
    object: str = "Form_Submission__c"
    email_field: str = "Email__c"
    name_field: str = "Form_Name__c"
    url_field: str | None = "Page_URL__c"
    lead_field: str | None = "Lead__c"
    contact_field: str | None = "Contact__c"
    submitted_at_field: str = "Submitted_At__c"
    #: With ``source = "campaign_members"``: responded members of these campaign types.
    campaign_types: list[str] = Field(default_factory=lambda: ["Website"])

    @field_validator("object", *FORM_FIELD_KEYS)
    @classmethod
    def _names(cls, value: str | None) -> str | None:
        return None if value is None else _api_name(value)


class ActivitySources(_Strict):
    campaign_members: CampaignMemberSource = Field(default_factory=CampaignMemberSource)
    tasks: TaskSource = Field(default_factory=TaskSource)
    events: EventSource = Field(default_factory=EventSource)
    forms: FormSource = Field(default_factory=FormSource)

    @model_validator(mode="after")
    def _one_source_per_submission(self) -> ActivitySources:
        """A web form that adds its submitter to a campaign leaves two records of one
        submission: the campaign member and the form tool's record. Read as form
        submissions from both, every submission would count twice."""
        if self.forms.source != "custom_object" or not self.campaign_members.enabled:
            return self
        for index, rule in enumerate(self.campaign_members.rules):
            if rule.kind == "form_submission":
                raise ValueError(
                    f"campaign_members.rules[{index}] makes campaign members form submissions "
                    f"while forms.source = 'custom_object' reads each submission from "
                    f"{self.forms.object}: every submission would count twice; give the rule "
                    "another kind (campaign_response), or set forms.source = "
                    "'campaign_members' and drop the rule"
                )
        return self


class ConversionSource(_Strict):
    """What counts as a person's conversion besides a converted Lead (``ConvertedDate``)."""

    #: A won Opportunity (``IsWon``) the person is on, through an OpportunityContactRole of
    #: their Contact or their Lead's ``ConvertedOpportunityId``: converted at its
    #: ``CloseDate`` when that comes first. Opt-in: it costs queries (see ``won.py``).
    won_opportunities: bool = False

    @field_validator("won_opportunities", mode="before")
    @classmethod
    def _flag(cls, value: object) -> object:
        if not isinstance(value, bool):
            raise ValueError("allowed: true or false (a TOML boolean, without quotes)")
        return value


class SalesforceMapping(_Strict):
    """The whole file: objects, canonical-to-picklist value maps, activity sources."""

    #: Lead and Contact (required), and optionally Account for account-level outputs.
    objects: dict[str, ObjectMapping]
    #: Canonical output value -> the org's picklist value, per output (fit, readiness, team).
    values: dict[str, dict[str, str]] = Field(default_factory=dict)
    activities: ActivitySources = Field(default_factory=ActivitySources)
    conversion: ConversionSource = Field(default_factory=ConversionSource)
    #: The external-id field on Task that makes hand-off tasks idempotent.
    task_key_field: str = "LeadSync_Key__c"

    @field_validator("task_key_field")
    @classmethod
    def _key_name(cls, value: str) -> str:
        return _api_name(value)

    @field_validator("values")
    @classmethod
    def _value_outputs(cls, value: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        unknown = sorted(set(value) - set(OUTPUT_NAMES))
        if unknown:
            raise ValueError(f"unknown output {', '.join(unknown)} in value maps")
        return value

    @field_validator("objects")
    @classmethod
    def _known_objects(cls, value: dict[str, ObjectMapping]) -> dict[str, ObjectMapping]:
        unknown = sorted(set(value) - set(MAPPABLE_OBJECTS))
        if unknown:
            raise ValueError(
                f"unknown object {', '.join(unknown)}; allowed: {', '.join(MAPPABLE_OBJECTS)}"
            )
        return value

    @model_validator(mode="after")
    def _people_objects(self) -> SalesforceMapping:
        missing = [name for name in ("Lead", "Contact") if name not in self.objects]
        if missing:
            raise ValueError(f"objects needs {' and '.join(missing)}")
        return self

    def crm_value(self, output: str, value: object) -> object:
        """The org's value for a canonical output value (``good`` -> ``Good``)."""
        table = self.values.get(output)
        if table is not None and isinstance(value, str) and value in table:
            return table[value]
        return value


def load_mapping(path: Path | None = None) -> SalesforceMapping:
    """Read and validate a mapping file (the shipped default when ``path`` is None)."""
    return loading.load(SalesforceMapping, path or default_mapping_path("salesforce"))
