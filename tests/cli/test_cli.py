"""The ``leadsync`` command as users run it: a config file, the Salesforce sandbox, real output."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from leadsync.store import Store
from leadsync.store.schema import runs
from sandboxes.salesforce import SalesforceSandbox, generate_org


def leadsync(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from leadsync.cli import main; main()", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SalesforceSandbox]:
    with SalesforceSandbox(generate_org(leads=150, seed=11), port=0) as sb:
        yield sb


def write_config(tmp_path: Path, sandbox: SalesforceSandbox, extra: str = "") -> Path:
    """A config of a SQLite store and the sandbox (secret from ``SF_SECRET``), plus ``extra``."""
    path = tmp_path / "leadsync.toml"
    path.write_text(
        f"""
[store]
url = "sqlite:///{tmp_path / "state.db"}"

[connectors.salesforce]
instance_url = "{sandbox.url}"
login_url = "{sandbox.url}"
auth = "client_credentials"
client_id = "{sandbox.client_id}"
client_secret = "${{SF_SECRET}}"
ca_bundle = "{sandbox.ca_file}"
{extra}"""
    )
    path.chmod(0o600)
    return path


@pytest.fixture
def config(tmp_path: Path, sandbox: SalesforceSandbox) -> Path:
    return write_config(tmp_path, sandbox)


def test_a_bad_config_exits_non_zero_naming_file_key_and_fix(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[sync]\ninterval_secnds = 30\n[store]\nurl = "sqlite:///x.db"\n')
    result = leadsync("--config", str(bad), "sync", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert str(bad) in line and "sync.interval_secnds" in line and "interval_seconds" in line


def test_missing_secret_env_var_is_named(config: Path, tmp_path: Path) -> None:
    result = leadsync("--config", str(config), "sync", cwd=tmp_path)
    assert result.returncode == 2
    assert "connectors.salesforce.client_secret" in result.stderr and "SF_SECRET" in result.stderr


def test_sync_status_explain_and_dry_run(
    config: Path, tmp_path: Path, sandbox: SalesforceSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SF_SECRET", sandbox.client_secret)
    dry = leadsync("--config", str(config), "sync", "--dry-run", "--json", cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    planned = json.loads(dry.stdout)
    assert planned["dry_run"] and planned["would_write"]["per_field"]["fit"] >= 150
    leads = sandbox.org.records("Lead")
    assert not any(lead.get("LeadSync_Scored_At__c") for lead in leads)  # dry run wrote nothing

    first = leadsync("--config", str(config), "sync", "--json", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["status"] == "ok", report["errors"]
    assert report["written"]["salesforce"] >= 150
    again = json.loads(leadsync("--config", str(config), "sync", "--json", cwd=tmp_path).stdout)
    assert again["written"] == {} and again["queued"] == 0

    checked = leadsync("--config", str(config), "status", "--json", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout
    status = json.loads(checked.stdout)
    assert status["healthy"] and status["health"]["salesforce.freshness"]["ok"]
    assert [run["kind"] for run in status["runs"][:3]] == ["sync", "sync", "dry-run"]
    assert sum(status["matrix"].values()) >= 150

    lead = next(
        r for r in sandbox.org.records("Lead") if r.get("Email") and not r.get("IsConverted")
    )
    explained = leadsync("--config", str(config), "explain", lead["Email"], cwd=tmp_path)
    assert explained.returncode == 0, explained.stderr
    assert "Fit:" in explained.stdout and lead["Id"] in explained.stdout
    as_json = json.loads(
        leadsync("--config", str(config), "explain", lead["Id"], "--json", cwd=tmp_path).stdout
    )
    assert as_json["score"]["fit"] == lead["LeadSync_Fit__c"].lower()

    for output in (dry, first, explained):
        assert sandbox.client_secret not in output.stdout + output.stderr


def test_a_failed_cycle_exits_1_and_status_then_exits_1_for_cron(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 21 #4/#9: a failed cycle is a failed exit, and ``status`` says unhealthy."""
    monkeypatch.setenv("SF_SECRET", "not-the-secret")
    never = leadsync("--config", str(config), "status", cwd=tmp_path)
    assert never.returncode == 1 and "no good cycle yet" in never.stdout
    failed = leadsync("--config", str(config), "sync", "--json", cwd=tmp_path)
    assert failed.returncode == 1, failed.stderr
    assert json.loads(failed.stdout)["failed_connectors"].keys() == {"salesforce"}
    checked = leadsync("--config", str(config), "status", "--json", cwd=tmp_path)
    assert checked.returncode == 1
    health = json.loads(checked.stdout)["health"]
    assert not health["salesforce.credentials"]["ok"]


def test_explain_unknown_person_says_so(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox: SalesforceSandbox
) -> None:
    monkeypatch.setenv("SF_SECRET", sandbox.client_secret)
    result = leadsync("--config", str(config), "explain", "nobody@nowhere.example", cwd=tmp_path)
    assert result.returncode == 1
    assert "no person" in result.stderr and "nobody@nowhere.example" in result.stderr


def test_check_names_a_missing_owner_and_status_explain_show_hand_offs(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox: SalesforceSandbox
) -> None:
    monkeypatch.setenv("SF_SECRET", sandbox.client_secret)
    reps = [
        u["Id"]
        for u in sandbox.org.records("User")
        if u.get("IsActive") and u.get("Title") == "Account Executive"
    ]
    base = config.read_text()
    config.write_text(
        base + '\n[handoff]\nenabled = true\nfallback_owner = "00G000000000000XYZ"\n'
        f'[[handoff.pools]]\nname = "All"\nmembers = {json.dumps(reps)}\n'
    )
    checked = leadsync("--config", str(config), "check", cwd=tmp_path)
    assert checked.returncode == 1
    assert "[handoff] fallback_owner: no user or queue with id '00G000000000000XYZ'" in (
        checked.stdout.replace("\n", " ")
    )

    good = (
        f'\n[handoff]\nenabled = true\nfallback_owner = "{sandbox.org.assignment_queue_id}"\n'
        'owner_status = "Working - Contacted"\n'
        f'[[handoff.pools]]\nname = "All"\nmembers = {json.dumps(reps)}\n'
    )
    # a status the org does not have, and a campaign that does not exist, are caught too
    bad_recycle = '[recycle]\nnurture_status = "Parked"\nnurture_campaign = "701000000000999AAA"\n'
    config.write_text(base + good + bad_recycle)
    checked = leadsync("--config", str(config), "check", cwd=tmp_path)
    found = checked.stdout.replace("\n", " ")
    assert checked.returncode == 1
    assert "Lead.Status: LeadSync sets status 'Parked', not an active value" in found
    assert "Campaign.701000000000999AAA: no campaign with this id" in found
    config.write_text(base + good)
    ok = leadsync("--config", str(config), "check", cwd=tmp_path)
    assert ok.returncode == 0, ok.stdout
    # a backfill acts on nobody; then a lead raises its hand and the next sync hands it off
    backfill = leadsync("--config", str(config), "backfill", "--no-actions", "--json", cwd=tmp_path)
    assert json.loads(backfill.stdout)["actions"]["handed_off"] == 0, backfill.stderr
    lead = next(
        r
        for r in sandbox.org.records("Lead")
        if r.get("Email")
        and not r.get("IsConverted")
        and not r.get("HasOptedOutOfEmail")  # an opted-out lead is never handed off
        and r.get("LeadSync_Team__c") != "Sales"
    )
    form = sandbox.org.insert(
        "Form_Submission__c",
        {
            "Lead__c": lead["Id"],
            "Form_Name__c": "Contact Us",
            "Email__c": lead["Email"],
            "Submitted_At__c": datetime.now(UTC),
        },
    )
    assert form
    synced = json.loads(leadsync("--config", str(config), "sync", "--json", cwd=tmp_path).stdout)
    assert synced["actions"]["handed_off"] >= 1, synced
    status = json.loads(leadsync("--config", str(config), "status", "--json", cwd=tmp_path).stdout)
    assert status["handoffs"].get("done", 0) >= 1
    # Issue 22 #3: the task's subject names the lead (the shipped mapping reads the names).
    # The person may be handed off as the lead or as a contact with the same address.
    records = [
        r
        for sobject in ("Lead", "Contact")
        for r in sandbox.org.records(sobject)
        if r.get("Email") == lead["Email"]
    ]
    (task,) = [
        t
        for t in sandbox.org.records("Task")
        if t.get("LeadSync_Key__c") and t.get("WhoId") in {r["Id"] for r in records}
    ]
    who = next(r for r in records if r["Id"] == task["WhoId"])
    name = " ".join(p for p in (who.get("FirstName"), who["LastName"]) if p)
    assert name in task["Subject"] and lead["Email"] not in task["Subject"]
    explained = leadsync("--config", str(config), "explain", lead["Id"], cwd=tmp_path).stdout
    assert "Hand-off 1 on" in explained and "Owner:" in explained and "first touch due" in explained


def test_forget_removes_a_person_from_the_store_only(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox: SalesforceSandbox
) -> None:
    monkeypatch.setenv("SF_SECRET", sandbox.client_secret)
    assert leadsync("--config", str(config), "sync", cwd=tmp_path).returncode == 0
    lead = next(r for r in sandbox.org.records("Lead") if r.get("Email"))
    gone = leadsync("--config", str(config), "forget", lead["Email"], "--json", cwd=tmp_path)
    assert gone.returncode == 0, gone.stderr
    assert json.loads(gone.stdout)["people"] == 1
    explained = leadsync("--config", str(config), "explain", lead["Email"], cwd=tmp_path)
    assert explained.returncode == 1 and "no person" in explained.stderr
    assert sandbox.org.get("Lead", lead["Id"]) is not None  # the CRM keeps its record
    bad = leadsync("--config", str(config), "forget", "not-an-address", cwd=tmp_path)
    assert bad.returncode == 1 and "not an email address" in bad.stderr


def test_sync_and_backfill_are_refused_while_another_process_runs_a_cycle(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox: SalesforceSandbox
) -> None:
    monkeypatch.setenv("SF_SECRET", sandbox.client_secret)
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        with store.one_cycle():  # this test process plays `leadsync run` mid-cycle
            for command in (["sync"], ["backfill", "--no-actions"]):
                result = leadsync("--config", str(config), *command, cwd=tmp_path)
                assert result.returncode == 4, result.stderr
                assert "another cycle is running on this store" in result.stderr
                assert f"process {os.getpid()}" in result.stderr
        with store.reading() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(runs)).scalar() == 0
        assert leadsync("--config", str(config), "sync", cwd=tmp_path).returncode == 0
    finally:
        store.close()


def test_the_command_tunes_the_interpreter(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Database threads get the interpreter back promptly after each round trip, and the
    collector does not walk every batch of records every 700 allocations."""
    from leadsync.cli.app import main
    from leadsync.interpreter import GC_THRESHOLDS, SWITCH_INTERVAL_S

    interval, thresholds = sys.getswitchinterval(), gc.get_threshold()
    monkeypatch.setattr(sys, "argv", ["leadsync", "--help"])
    try:
        with pytest.raises(SystemExit):
            main()
        assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL_S)
        assert SWITCH_INTERVAL_S < 0.005  # Python's default
        assert gc.get_threshold() == GC_THRESHOLDS
        assert GC_THRESHOLDS[0] > 700  # Python's default
        assert gc.get_freeze_count() > 0  # what was imported is left out of collections
    finally:
        sys.setswitchinterval(interval)
        gc.set_threshold(*thresholds)
        gc.unfreeze()
    assert "backfill" in capsys.readouterr().out
