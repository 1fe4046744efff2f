"""The shipped mapping loads, and a wrong one says exactly which key is wrong."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.salesforce.fields import OUTPUT_TYPES
from connectors.salesforce.mapping import OUTPUT_NAMES, load_mapping
from connectors.salesforce.pull import campaign_member_kind, task_kind, to_activity
from leadsync.config import settings_from_dict
from leadsync.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]

DEFAULT_OUTPUTS = {
    "fit": "LeadSync_Fit__c",
    "score": "LeadSync_Score__c",
    "readiness": "LeadSync_Readiness__c",
    "team": "LeadSync_Team__c",
    "reason": "LeadSync_Reason__c",
    "scored_at": "LeadSync_Scored_At__c",
    "recycle_count": "LeadSync_Recycle_Count__c",
    "recycle_reason": "LeadSync_Recycle_Reason__c",
    "account_score": "LeadSync_Account_Score__c",
    "engaged_people": "LeadSync_Engaged_People__c",
}


def test_default_mapping_has_the_documented_fields() -> None:
    mapping = load_mapping()
    lead, contact = mapping.objects["Lead"], mapping.objects["Contact"]
    assert lead.outputs == DEFAULT_OUTPUTS
    assert contact.outputs == DEFAULT_OUTPUTS
    assert lead.attributes["ownership"] == "Ownership__c"
    assert contact.attributes["industry"] == "Account.Industry"
    assert contact.account == "AccountId"
    assert mapping.crm_value("readiness", "sales_ready") == "Sales-ready"
    assert mapping.crm_value("readiness", "do_not_contact") == "Do not contact"
    assert mapping.crm_value("team", "sales") == "Sales"
    assert mapping.crm_value("score", 42) == 42


def test_every_output_has_a_field_type() -> None:
    assert set(OUTPUT_TYPES) == set(OUTPUT_NAMES)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "salesforce.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_unknown_key_names_the_key_and_suggests(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        '[objects.Lead]\nemial = "Email"\n[objects.Contact]\nemail = "Email"\n',
    )
    with pytest.raises(ConfigError) as err:
        load_mapping(path)
    text = str(err.value)
    assert "objects.Lead.emial: unknown key (did you mean 'email'?)" in text
    assert str(path) in text


def test_field_name_that_could_change_a_query_is_refused(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "[objects.Lead.attributes]\nindustry = \"Industry FROM User WHERE Id != ''\"\n"
        "[objects.Contact]\n",
    )
    with pytest.raises(ConfigError) as err:
        load_mapping(path)
    assert "objects.Lead.attributes" in str(err.value)
    assert "not a Salesforce API name" in str(err.value)


def test_unknown_output_and_missing_contact(tmp_path: Path) -> None:
    path = _write(tmp_path, '[objects.Lead.outputs]\nfitt = "Fit__c"\n')
    with pytest.raises(ConfigError) as err:
        load_mapping(path)
    assert "unknown output fitt" in str(err.value)
    path = _write(tmp_path, "[objects.Lead]\n")
    with pytest.raises(ConfigError) as err:
        load_mapping(path)
    assert "objects needs Contact" in str(err.value)


def test_bad_activity_kind_lists_allowed(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "[objects.Lead]\n[objects.Contact]\n[[activities.campaign_members.rules]]\n"
        'campaign_type = "Webinar"\nkind = "webinar_attend"\n',
    )
    with pytest.raises(ConfigError) as err:
        load_mapping(path)
    assert "did you mean 'webinar_attended'" in str(err.value)


@pytest.mark.parametrize(
    ("campaign_type", "status", "responded", "kind"),
    [
        ("Webinar", "Registered", False, "webinar_registered"),
        ("Webinar", "Attended", True, "webinar_attended"),
        ("Content", "Downloaded", True, "ebook_download"),
        ("Website", "Responded", True, "campaign_response"),
        ("Website", "Sent", False, "campaign_member"),
        ("Email", "Clicked", True, "campaign_response"),
        (None, None, False, "campaign_member"),
    ],
)
def test_campaign_member_kinds(
    campaign_type: str | None, status: str | None, responded: bool, kind: str
) -> None:
    mapping = load_mapping()
    sources = mapping.activities
    assert (
        campaign_member_kind(
            campaign_type, status, responded, sources.campaign_members, sources.forms
        )
        == kind
    )


def test_campaign_member_form_source(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "[objects.Lead]\n[objects.Contact]\n[activities.forms]\n"
        'source = "campaign_members"\ncampaign_types = ["Web Form"]\n',
    )
    sources = load_mapping(path).activities
    args = (sources.campaign_members, sources.forms)
    assert campaign_member_kind("Web Form", "Responded", True, *args) == "form_submission"
    assert campaign_member_kind("Web Form", "Sent", False, *args) == "campaign_member"


def test_task_kinds() -> None:
    tasks = load_mapping().activities.tasks
    assert task_kind("Call", None, tasks) == "call"
    assert task_kind(None, "Email", tasks) == "email"
    assert task_kind("Task", "Other", tasks) == "task"


def test_an_open_task_is_not_a_touch_until_completed() -> None:
    """LeadSync's own hand-off task, due tomorrow, once counted as the rep's touch at
    midnight (an SLA never breached for hand-offs after business hours)."""
    mapping = load_mapping()
    row = {
        "Id": "00T8c000000001pEAA",
        "SystemModstamp": "2026-11-23T17:17:54.000+0000",
        "IsDeleted": False,
        "CreatedDate": "2026-11-23T17:17:54.000+0000",
        "WhoId": "00Q8c0000000003EAA",
        "OwnerId": "0058c0000000005AAA",
        "Subject": "LeadSync: hand-raiser",
        "TaskSubtype": "Task",
        "ActivityDate": "2026-11-24",
        "IsClosed": False,
        "CompletedDateTime": None,
    }
    planned = to_activity("salesforce", "Task", row, mapping)
    assert planned is not None and planned.deleted
    done = to_activity(
        "salesforce",
        "Task",
        {**row, "IsClosed": True, "CompletedDateTime": "2026-11-24T08:30:00.000+0000"},
        mapping,
    )
    assert done is not None and not done.deleted
    assert done.occurred_at == datetime(2026, 11, 24, 8, 30, tzinfo=UTC)


def test_every_kind_a_mapping_produces_can_earn_points(tmp_path: Path) -> None:
    """The mapping once had its own kind list: a campaign mapped to ``demo_request`` (or a
    sales email, ``email``) loaded fine but no engagement rule could name that kind."""
    path = _write(
        tmp_path,
        "[objects.Lead]\n[objects.Contact]\n"
        "[[activities.campaign_members.rules]]\n"
        'campaign_type = "Demo"\nresponded = true\nkind = "demo_request"\n',
    )
    mapping = load_mapping(path)
    produced = {rule.kind for rule in mapping.activities.campaign_members.rules}
    produced |= set(mapping.activities.tasks.kinds.values())
    assert {"demo_request", "email"} <= produced
    rules = [
        {"name": kind, "kind": kind, "points": 5, "interest": "active"} for kind in sorted(produced)
    ]
    settings = settings_from_dict({"engagement": {"rules": rules}}, "test")
    assert {r.kind[0] for r in settings.engagement.rules} == produced


def test_a_submission_is_not_read_from_both_its_campaign_member_and_its_form_record(
    tmp_path: Path,
) -> None:
    """The shipped mapping read a web form's responded campaign member as a form submission
    and its Form_Submission__c too: every Contact Us counted twice (200 points for one
    form). A mapping that does both is refused, naming the rule and the fix."""
    text = (ROOT / "mappings" / "salesforce.toml").read_text()
    rule = '\n[[activities.campaign_members.rules]]\ncampaign_type = "Website"\n'
    rule += 'responded = true\nkind = "form_submission"\n'
    path = tmp_path / "salesforce.toml"
    at = text.index("\n# Tasks:")
    path.write_text(text[:at] + rule + text[at:])
    with pytest.raises(ConfigError) as err:
        load_mapping(path)
    assert "every submission would count twice" in str(err.value)
    assert "campaign_members.rules[3]" in str(err.value)


def test_won_opportunities_is_off_unless_the_mapping_says_so(tmp_path: Path) -> None:
    assert load_mapping().conversion.won_opportunities is False
    path = _write(
        tmp_path, "[objects.Lead]\n[objects.Contact]\n[conversion]\nwon_opportunities = true\n"
    )
    assert load_mapping(path).conversion.won_opportunities is True


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('won_opportunities = "yes"', "conversion.won_opportunities: allowed: true or false"),
        (
            "won_opportunity = true",
            "conversion.won_opportunity: unknown key (did you mean "
            "'won_opportunities'?); allowed keys here: won_opportunities",
        ),
    ],
)
def test_a_wrong_conversion_setting_names_file_key_and_allowed_values(
    tmp_path: Path, text: str, message: str
) -> None:
    path = _write(tmp_path, f"[objects.Lead]\n[objects.Contact]\n[conversion]\n{text}\n")
    with pytest.raises(ConfigError) as err:
        load_mapping(path)
    assert f"{path}: {message}" in str(err.value)
