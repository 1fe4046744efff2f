"""An attribute rule through real cycles against the Salesforce sandbox: the score written to
the CRM holds its points exactly for the leads whose data passes its test, `explain` says
where they came from, and a rep changing the field moves the score on the next cycle."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sandboxes.salesforce import SalesforceSandbox
from tests.cli.test_cli import leadsync, write_config
from tests.cli.test_cli import sandbox as sandbox  # the module's Salesforce sandbox fixture

RULES = """
[engagement]
sales_ready_threshold = 1000

[[engagement.rules]]
name = "Contact Us"
kind = "form_submission"
name_pattern = "contact"
points = 100
interest = "hand_raiser"

[[engagement.rules]]
name = "Over 200 employees"
attribute = "employees"
operator = "at_least"
min = 200
points = 30
"""


def _employees(lead: dict[str, object]) -> float | None:
    value = lead.get("NumberOfEmployees")
    return float(value) if isinstance(value, int | float) else None


@pytest.fixture
def config(tmp_path: Path, sandbox: SalesforceSandbox) -> Path:
    return write_config(tmp_path, sandbox, RULES)


def test_an_attribute_rules_points_reach_the_crm_and_follow_the_field(
    config: Path, tmp_path: Path, sandbox: SalesforceSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SF_SECRET", sandbox.client_secret)
    first = leadsync("--config", str(config), "sync", "--json", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["status"] == "ok"

    leads = [r for r in sandbox.org.records("Lead") if not r.get("IsConverted")]
    big = [r for r in leads if (_employees(r) or 0) >= 200]
    small = [r for r in leads if _employees(r) is not None and _employees(r) < 200]
    assert big and small
    for lead in big[:3] + small[:3]:
        asked = leadsync("--config", str(config), "explain", lead["Id"], "--json", cwd=tmp_path)
        explained = json.loads(asked.stdout)
        contributions = explained["score"]["result"]["contributions"]
        from_data = [c for c in contributions if c["kind"] == "attribute"]
        if lead in big:
            assert from_data == [
                {"activity_id": "employees", "rule": "Over 200 employees", "kind": "attribute",
                 "raw_points": 30.0, "points": 30.0, "occurred_at": None, "interest": "passive"}
            ]  # fmt: skip
        else:
            assert from_data == []
        assert lead["LeadSync_Score__c"] == explained["score"]["result"]["score"]

    text = leadsync("--config", str(config), "explain", big[0]["Id"], cwd=tmp_path).stdout
    assert "Over 200 employees [passive]  from attribute employees" in text

    # a rep changes the field: the next incremental cycle moves the score by the rule's points
    lead = small[0]
    before = lead["LeadSync_Score__c"]
    sandbox.org.update("Lead", lead["Id"], {"NumberOfEmployees": 5000})
    again = leadsync("--config", str(config), "sync", "--json", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    after = sandbox.org.get("Lead", lead["Id"])
    assert after is not None and after["LeadSync_Score__c"] == before + 30
