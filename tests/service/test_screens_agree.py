"""Issue 24 #5: every screen shows the same counters for the same store.

Each test drives real cycles (the in-memory CRM, through the engine), then reads what each
screen shows: ``leadsync status --json`` and its text, the dashboard's HTML, ``/metrics``,
a cycle's printed report, and compares them.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient
from typer.testing import CliRunner

from jobs.runner import CycleOutcome
from leadsync.cli import sync_cmds
from leadsync.cli.app import app
from leadsync.cli.output import console
from leadsync.config import settings_from_dict
from leadsync.engine.cycle import CycleReport
from leadsync.engine.request import CycleRequest
from leadsync.store import Store
from leadsync.wiring import build_engine
from tests.engine.memory_crm import MemoryConnector, MemoryCRM
from tests.engine.test_act import Clock, config, hand_raise
from tests.service.helpers import START, Harness


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store(store_url)
    yield s
    s.close()


def _crm() -> MemoryCRM:
    crm = MemoryCRM()
    crm.add_user("rep-a", "Ann Rep")
    crm.add_user("rep-b", "Bob Rep")
    crm.add_user("rep-c", "Cleo Rep")
    crm.add_user("00G-sales", "Sales queue", queue=True)
    crm.add_user("00G-nurture", "Nurture queue", queue=True)
    return crm


def _status(store_url: str, tmp_path: Path, *args: str) -> str:
    """``leadsync status ARGS`` over the store, as its output reads."""
    path = tmp_path / "leadsync.toml"
    path.write_text(f'[store]\nurl = "{store_url}"\n')
    path.chmod(0o600)
    result = CliRunner().invoke(app, ["--config", str(path), "status", *args])
    assert result.exit_code == 0, result.output
    return result.output


def _outcome(report: CycleReport) -> CycleOutcome:
    return CycleOutcome("salesforce", report.status, START, START, 1.0, (), report)


def _metric(text: str, name: str) -> float:
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    )


def _row_totals(html: str, column: str) -> list[int]:
    return [int(n) for n in re.findall(rf'data-total="{column}">(\d+)', html)]


@pytest.mark.parametrize("seed", range(3))
def test_a_dry_run_announces_what_the_cycle_then_hands_off_under_the_cap(
    store: Store, seed: int
) -> None:
    """Before: the dry run announced every queued hand-off (504 under a cap of 500)."""
    rng = random.Random(seed)
    cap = rng.randint(1, 4)
    people = cap + rng.randint(1, 6)
    crm = _crm()
    settings = settings_from_dict({**config(), "sync": {"handoffs_per_cycle": cap}}, "test")
    engine = build_engine(settings, store, {"salesforce": MemoryConnector(crm, "salesforce")},
                          clock=Clock())  # fmt: skip
    for i in range(people):
        hand_raise(crm, f"H{i}")

    dry = engine.run(CycleRequest(dry_run=True))
    real = engine.run()

    assert (dry.would_write["handoffs"], dry.would_write["handoffs_waiting"]) == (
        cap,
        people - cap,
    )
    assert (real.actions["handed_off"], real.actions["waiting"]) == (cap, people - cap)
    with console.capture() as capture:
        sync_cmds._print_report(dry)
    assert f"{cap} handed off ({people - cap} waiting for the cap" in capture.get()


def test_status_and_dashboard_label_rejections_as_counted_and_say_how_many_more(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    """Before: "pending 0, retrying 33", then 20 rows labelled pending and no "13 more"."""
    rejected = sync_cmds.LISTED + random.Random(7).randint(1, 15)
    crm = _crm()
    for i in range(rejected):
        crm.add_person(f"R{i}", f"r{i}@r{i}corp.com", country="United Kingdom")
        crm.reject[f"R{i}"] = "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    engine = build_engine(settings_from_dict({}, "test"),
                          store, {"salesforce": MemoryConnector(crm, "salesforce")},
                          clock=Clock())  # fmt: skip
    engine.run()

    document = json.loads(_status(store_url, tmp_path, "--json"))
    assert document["pending_writes"] == {
        "salesforce": {"pending": 0, "retrying": rejected, "parked": 0}
    }
    assert [row["state"] for row in document["rejected"]] == ["retrying"] * sync_cmds.LISTED
    assert document["rejected_count"] == rejected

    text = _status(store_url, tmp_path)
    assert "Writes owed to salesforce: pending 0, retrying " + str(rejected) in text
    assert text.count("  retrying salesforce:") == sync_cmds.LISTED
    assert "  pending salesforce:" not in text
    assert f"and {rejected - sync_cmds.LISTED} more rejected writes" in text

    with TestClient(Harness(store).app()) as client:
        page = client.get("/rejected").text
    assert page.count('class="state-retrying"') == rejected  # the page lists up to 100
    assert 'class="state-pending"' not in page


def test_cycle_rows_status_metrics_and_the_cycle_report_count_the_same_records(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    """Before: a backfill that re-read every record showed "pulled" as only the changed ones
    on the dashboard, all of them in the CLI, and /metrics counted yet another sum."""
    rng = random.Random(11)
    crm = _crm()
    clock = Clock()
    people = rng.randint(5, 25)
    for i in range(people):
        hand_raise(crm, f"P{i}")
    engine = build_engine(settings_from_dict({}, "test"),
                          store, {"salesforce": MemoryConnector(crm, "salesforce")},
                          clock=clock)  # fmt: skip
    harness = Harness(store)
    reports = [engine.run()]
    clock.now += timedelta(minutes=5)
    changed = rng.randint(1, people)
    for i in range(changed):
        crm.touch(f"P{i}", Title=f"Title {i}")
    reports.append(engine.run(CycleRequest(full=True)))  # re-reads everyone
    for report in reports:
        harness.metrics.observe(_outcome(report))

    backfill = reports[-1]
    read = len(crm.people) + len(crm.activities)  # what a full re-pull reads

    with TestClient(harness.app()) as client:
        cycles_page = client.get("/cycles").text
        metrics = client.get("/metrics").text
    status = json.loads(_status(store_url, tmp_path, "--json"))
    with console.capture() as capture:
        sync_cmds._print_report(backfill)
    printed = capture.get()

    rows = _row_totals(cycles_page, "pulled")  # newest first
    assert rows[0] == read
    assert rows == [run["totals"]["pulled"] for run in status["runs"]]
    assert sum(rows) == _metric(metrics, "leadsync_records_pulled_total")
    assert _row_totals(cycles_page, "written") == [r["totals"]["written"] for r in status["runs"]]
    assert sum(_row_totals(cycles_page, "written")) == _metric(
        metrics, "leadsync_records_written_total"
    )
    changed_rows = _row_totals(cycles_page, "changed")
    assert changed_rows == [r["totals"]["changed"] for r in status["runs"]]
    assert f"{read:,} records read, {changed_rows[0]:,} new or changed" in printed
