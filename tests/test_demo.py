"""``leadsync demo``: both sandboxes, real clients, HubSpot engagement moving Salesforce leads."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from leadsync.demo import run_demo
from leadsync.sandboxes import DEMO_CONFIG

ROOT = Path(__file__).resolve().parents[1]
MODEL_SECTIONS = ("identity", "icp", "titles", "aliases", "engagement", "matrix", "accounts")


def test_demo_model_is_the_example_configs_model() -> None:
    example = tomllib.loads((ROOT / "config.example.toml").read_text())
    demo = tomllib.loads(DEMO_CONFIG.read_text())
    assert {k: demo.get(k) for k in MODEL_SECTIONS} == {k: example.get(k) for k in MODEL_SECTIONS}
    assert set(demo) == set(MODEL_SECTIONS)


@pytest.mark.slow
def test_demo_syncs_both_crms_and_hubspot_forms_move_salesforce_leads() -> None:
    report = run_demo(leads=240, seed=3)
    assert report.first.status == "ok", report.first.errors
    assert report.second.status == "ok", report.second.errors
    assert report.first.written["salesforce"] > 200
    assert report.first.written["hubspot"] > 50
    assert len(report.moved) == 5
    for lead in report.moved:
        assert (lead["readiness"], lead["team"]) == ("Hand-raiser", "Sales")
        assert lead["score"] >= 100
        # handed to sales in Salesforce: a rep owns it, it is being worked, its rep has a task
        assert lead["status"] == "Working - Contacted"
        assert lead["owner"] and "Queue" not in lead["owner"]
        assert lead["task"].startswith("LeadSync: hand-raiser") and lead["task_priority"] == "High"
    # the backfill acted on nobody; the live cycle handed off exactly those five
    assert report.first.actions["handed_off"] == 0
    assert report.second.actions["handed_off"] == 5
    # the live cycle writes exactly the people the forms touched, in each CRM
    assert report.second.written == {"salesforce": 5, "hubspot": 5}
    sf = report.api_calls["salesforce"]
    assert sf["live_sync_write_minimum"] == 1
    assert sum(report.matrix.values()) >= 240
