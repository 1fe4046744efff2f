"""``leadsync demo``: both sandboxes, real clients, HubSpot engagement moving Salesforce leads."""

from __future__ import annotations

import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from leadsync.demo import MARKER, prepare_folder, run_demo
from leadsync.errors import LeadSyncError
from leadsync.sandboxes import DEMO_CONFIG

ROOT = Path(__file__).resolve().parents[1]
MODEL_SECTIONS = ("identity", "icp", "titles", "aliases", "engagement", "matrix", "accounts")


def test_demo_model_is_the_example_configs_model() -> None:
    example = tomllib.loads((ROOT / "config.example.toml").read_text())
    demo = tomllib.loads(DEMO_CONFIG.read_text())
    assert {k: demo.get(k) for k in MODEL_SECTIONS} == {k: example.get(k) for k in MODEL_SECTIONS}
    assert set(demo) == set(MODEL_SECTIONS)


@pytest.mark.slow
def test_demo_syncs_both_crms_and_hubspot_forms_move_salesforce_leads(tmp_path: Path) -> None:
    report = run_demo(leads=240, seed=3, folder=tmp_path / "demo")
    assert report.first.status == "ok", report.first.errors
    assert report.second.status == "ok", report.second.errors
    assert report.first.written["salesforce"] > 200
    assert report.first.written["hubspot"] > 50
    assert len(report.moved) == 5
    for lead in report.moved:
        assert (lead["readiness"], lead["team"]) == ("Hand-raiser", "Sales")
        # read back through the API as a list view shows them: LeadSync's fields filled in
        assert lead["fit"] in ("Good", "Poor") and lead["reason"].startswith("sales:")
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
    # every cell of the matrix has people (the good-fit sales-ready cell used to be empty)
    for fit in ("good", "poor"):
        for readiness in ("hand_raiser", "sales_ready", "unready"):
            assert report.matrix.get(f"{fit}/{readiness}", 0) > 0, (fit, readiness)
    # API calls as an admin counts them: against the daily limit, pulls and writes apart
    for calls in report.api_calls.values():
        assert calls["writes"] >= calls["first_sync_write_minimum"] + 1
        assert calls["pulls"] > 0 and calls["daily_limit"] > calls["pulls"] + calls["writes"]


def test_the_demo_never_replaces_a_config_it_did_not_write(tmp_path: Path) -> None:
    mine = tmp_path / "leadsync.toml"
    mine.write_text('[store]\nurl = "sqlite:///prod.db"\n')
    with pytest.raises(LeadSyncError, match="--dir"):
        prepare_folder(tmp_path)
    assert mine.read_text() == '[store]\nurl = "sqlite:///prod.db"\n'
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    (earlier / "leadsync.toml").write_text(f"{MARKER}\n")
    (earlier / "leadsync.db").write_text("an earlier demo's store")
    assert prepare_folder(earlier) == earlier / "leadsync.toml"
    assert not (earlier / "leadsync.db").exists()


@pytest.mark.slow
def test_the_commands_the_demo_prints_work_after_it_ends(tmp_path: Path) -> None:
    """The demo says which commands look at what it did; each one, run as printed, exits 0
    from the config and store it left, with its sandboxes gone."""
    own = tmp_path / "leadsync.toml"
    own.write_text("# the admin's own config\n")

    def leadsync(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", "from leadsync.cli import main; main()", *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )

    demo = leadsync("demo", "--leads", "240", "--seed", "3")
    assert demo.returncode == 0, demo.stderr
    printed = [line.strip() for line in demo.stdout.splitlines() if line.startswith("  leadsync ")]
    assert [shlex.split(c)[3] for c in printed] == ["status", "explain", "report"], demo.stdout
    assert "of the org's daily limit of" in demo.stdout and "(pulls " in demo.stdout
    for command in printed:
        args = shlex.split(command)[1:]
        assert args[:2] == ["--config", "leadsync-demo/leadsync.toml"]
        done = leadsync(*args)
        assert done.returncode == 0, (command, done.stdout, done.stderr)
    assert own.read_text() == "# the admin's own config\n"
    assert not any(c in demo.stdout for c in ("None", "{'"))
