"""The backfill benchmark at tiny scale against PostgreSQL: 500 leads, 5,000 activities.

It runs what ``python bench/backfill.py`` runs (a sandbox child process, ``leadsync db
upgrade`` and ``leadsync backfill --no-actions`` as subprocesses) and checks the outcome, not
just that it finished: every person the org lets LeadSync edit carries a score, the calls are
within 5 % of the minimum, the report adds up, and the database is gone afterwards.
"""

from __future__ import annotations

import json
import math
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from bench.backfill import SAMPLE_EVERY_S, main, minimum_calls, phase_at, phases_from_log
from connectors.salesforce.settings import SalesforceSettings
from tests.conftest import PG_URL_ENV, skip_or_fail_without_pg

LEADS, ACTIVITIES = 500, 5_000


def _settings(**overrides: Any) -> SalesforceSettings:
    return SalesforceSettings(
        login_url="https://example.invalid",
        auth="client_credentials",
        client_id="id",
        client_secret="secret",
        **overrides,
    )


def test_a_peak_sampled_as_the_process_winds_down_belongs_to_the_last_phase() -> None:
    phases = {"phases": [{"phase": "pull", "seconds": 2.0}, {"phase": "write", "seconds": 1.0}]}
    assert phase_at(phases, 100.0, 101.5) == "pull"
    assert phase_at(phases, 100.0, 102.5) == "write"
    # The sampler wakes every SAMPLE_EVERY_S; the last phase's memory is still held then.
    assert phase_at(phases, 100.0, 103.0 + SAMPLE_EVERY_S / 2) == "write"
    assert phase_at(phases, 100.0, 103.0 + SAMPLE_EVERY_S * 3) == "after the last phase"


def test_the_minimum_counts_bulk_pages_and_shares_collections_calls() -> None:
    minimum = minimum_calls(
        {"Lead": 1_000_000, "Contact": 9_000, "Task": 3_500_000},
        {"Lead": 990_000, "Contact": 8_000},
        _settings(),
        {"Lead": 4_000},
    )
    page = int(getattr(_settings(), "bulk_page_size", 50_000))
    assert minimum.parts == {
        "auth": 1,
        "pull Lead": 2 + math.ceil(1_000_000 / page),
        "pull Contact": math.ceil(9_000 / 2000),
        "pull Task": 2 + math.ceil(3_500_000 / page),
        # 990,000 rows of at most 160 bytes: two 100 MB uploads, and each one's failures file.
        "write Lead": 2 * 4 + 2,
        "write Contact": 40,
        # Before writing: what others changed since the pull, one query per people object.
        "catch-up": 2,
    }
    assert minimum.total == sum(minimum.parts.values())
    # Measured upload bytes decide the jobs: 267 MB is three uploads; 2 refusals, 2 files.
    measured = minimum_calls(
        {"Lead": 0}, {"Lead": 945_000}, _settings(), {"Lead": 2}, {"Lead": 267_000_000}
    )
    assert measured.parts["write Lead"] == 3 * 4 + 2
    assert "267.0 MB: 3 job(s)" in measured.rules["write Lead"]
    small = minimum_calls({"Lead": 0}, {"Lead": 150, "Contact": 60}, _settings())
    assert small.parts == {"auth": 1, "pull Lead": 1, "write Lead + Contact": 2, "catch-up": 1}


def test_phases_come_from_the_engines_log() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)

    def at(seconds: float, **event: Any) -> dict[str, Any]:
        stamp = (start + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")
        return {**event, "timestamp": stamp}

    events = [
        at(2, event="sync.phase", phase="pull salesforce people"),
        at(5, event="salesforce.pull.done", object="Lead", count=300, api="rest"),
        at(6, event="salesforce.pull.done", object="Contact", count=100, api="rest"),
        at(7, event="sync.phase", phase="score"),
        at(9, event="sync.phase", phase="write salesforce"),
    ]
    got = phases_from_log(events, start.timestamp(), start.timestamp() + 10)
    assert [(p["phase"], p["seconds"]) for p in got["phases"]] == [
        ("startup", 2.0),
        ("pull salesforce people", 5.0),
        ("score", 2.0),
        ("write salesforce", 1.0),
    ]
    assert [(p["object"], p["seconds"], p["rows_per_s"]) for p in got["pull"]] == [
        ("Lead", 3.0, 100),
        ("Contact", 1.0, 100),
    ]


@pytest.mark.postgres
def test_a_tiny_backfill_scores_everyone_within_the_call_minimum(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    admin = os.environ.get(PG_URL_ENV)
    if not admin:
        skip_or_fail_without_pg(f"PostgreSQL not configured: set {PG_URL_ENV}")
    assert admin is not None
    argv = ["--leads", str(LEADS), "--activities", str(ACTIVITIES), "--json"]
    code = main([*argv, "--pg-url", admin, "--logs", str(tmp_path)])
    report = json.loads(capsys.readouterr().out)

    for sobject, outcome in report["outcome"].items():
        assert outcome["editable"] > 0, sobject
        assert outcome["scored_editable"] == outcome["editable"], sobject
    assert report["outcome"]["Lead"]["live"] > report["outcome"]["Lead"]["editable"]

    calls, minimum = report["calls"], report["minimum"]
    assert calls["total"] == sum(calls["by_endpoint"].values())
    assert minimum["total"] == sum(minimum["parts"].values())
    assert calls["total"] <= minimum["total"] * 1.05
    assert report["over_minimum"] == round(calls["total"] / minimum["total"] - 1, 4)

    rows = report["rows"]
    assert sum(rows[n] for n in ("CampaignMember", "Task", "Event", "Form_Submission__c")) == (
        ACTIVITIES
    )
    pulls = report["phases"]["pull"]
    assert {p["object"]: p["rows"] for p in pulls if "catch-up" not in p["object"]} == rows
    assert {p["object"] for p in pulls if "catch-up" in p["object"]} == {
        "Lead (catch-up)",
        "Contact (catch-up)",
    }
    pulled = report["result"]["pulled"]
    assert pulled["salesforce.activities"]["inserted"] == ACTIVITIES
    assert pulled["salesforce.people"]["inserted"] == rows["Lead"] + rows["Contact"]
    phase_total = sum(p["seconds"] for p in report["phases"]["phases"])
    assert abs(phase_total - report["wall_seconds"]) < 0.5
    assert [p["phase"] for p in report["phases"]["phases"]][-1].startswith("write")

    assert 0 < report["peak_rss_mib"] < 1536 and report["rss_samples"] > 0
    assert report["peak_rss_phase"] in {p["phase"] for p in report["phases"]["phases"]}
    assert report["store_mib"] > 0 and report["cpu_seconds"]["leadsync"] > 0
    assert code == 0
    engine = sa.create_engine(admin)
    try:
        with engine.connect() as conn:
            left = conn.execute(
                sa.text("SELECT count(*) FROM pg_database WHERE datname = :name"),
                {"name": report["database"]["name"]},
            ).scalar()
    finally:
        engine.dispose()
    assert left == 0 and report["database"]["kept"] is False
    assert (tmp_path / "backfill.log").stat().st_size > 0
