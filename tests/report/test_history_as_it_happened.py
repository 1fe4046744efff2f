"""The report's months are when leads entered the CRM, and each lead's cell is a back-test:
the model's verdict as of its entry plus the window, or just before it converted, from the
activities before then. Before, a lead was dated by its first scoring, so after a single
backfill every lead "entered" this month; and nothing said what came after a conversion."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from leadsync.engine.score_workers import score_and_save
from leadsync.engine.scoring import ModelScorer
from leadsync.model import ModelSpec
from leadsync.records import ActivityRecord, PersonRecord, RecordRef
from leadsync.report import leads_from_store, report_document
from leadsync.report.sections import period_start
from leadsync.store import Store
from leadsync.store.ingest import upsert_activities, upsert_people
from tests.report.history import GOOD, settings

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
#: The back-test window the report uses unless told otherwise (`--window-days`).
WINDOW = timedelta(days=30)
MONTHS = 12


@pytest.fixture
def store(migrated_store_url: str) -> Iterator[Store]:
    s = Store(migrated_store_url)
    yield s
    s.close()


def _spec(store: Store) -> ModelSpec:
    return settings(GOOD, store.url).model_spec()


def _backfill(store: Store, people: list[PersonRecord], acts: list[ActivityRecord]) -> None:
    """What a first backfill leaves: everything ingested now, everyone scored once, now."""
    with store.transaction() as conn:
        upsert_people(conn, people, NOW)
        upsert_activities(conn, acts, NOW)
        score_and_save(conn, list(range(1, len(people) + 1)), NOW, ModelScorer(_spec(store)))


def _form(n: int, lead: RecordRef, name: str, at: datetime) -> ActivityRecord:
    return ActivityRecord(
        RecordRef(lead.source, "Form_Submission__c", f"F{n}"),
        "form_submission",
        at,
        NOW,
        person=lead,
        name=name,
    )


def _month(start: datetime, offset: int) -> datetime:
    year, month = divmod(start.month - 1 + offset, 12)
    return start.replace(year=start.year + year, month=month + 1)


def test_a_single_backfill_shows_every_month_leads_entered_the_crm(store: Store) -> None:
    rng = random.Random(2311)
    start = period_start(NOW, MONTHS)
    people: list[PersonRecord] = []
    acts: list[ActivityRecord] = []
    per_month: Counter[str] = Counter()
    for offset in range(MONTHS):
        first = _month(start, offset)
        end = min(_month(start, offset + 1), NOW)
        for _ in range(rng.randrange(1, 6)):
            n = len(people)
            created = first + (end - first) * rng.random()
            converted = (
                created + timedelta(days=rng.uniform(1, 120)) if rng.random() < 0.4 else None
            )
            ref = RecordRef("sf", "Lead", f"00Q{n}")
            people.append(
                PersonRecord(ref, f"p{n}@acme.com", NOW, {"industry": "Manufacturing"},
                             created_at=created, converted_at=converted and min(converted, NOW))
            )  # fmt: skip
            acts.append(_form(n, ref, "Pricing", created + timedelta(hours=rng.uniform(1, 400))))
            per_month[f"{created:%Y-%m}"] += 1
    _backfill(store, people, acts)
    with store.reading() as conn:
        ds = leads_from_store(conn, _spec(store), fit_source=None, cycle_days=90, now=NOW)
        document = report_document(ds, now=NOW, months=MONTHS, conn=conn)
    rows = document["matrix_by_month"]
    assert len({row["month"] for row in rows}) == MONTHS
    entered: Counter[str] = Counter()
    for row in rows:
        entered[row["month"]] += row["entered"] + row["after_conversion"]
    assert entered == per_month
    assert document["leads"]["total"] == len(people)
    assert "30 days after it entered the CRM" in document["backtest_rule"]


@pytest.mark.parametrize("window_days", [None, 9.5])
def test_a_hand_raise_after_converting_or_past_the_window_does_not_count(
    store: Store, window_days: float | None
) -> None:
    """A demo request makes a hand-raiser; each lead asks for one at a random moment, before
    or after converting, within the window or past it. Only one asked before the back-test
    moment counts. ``None``: the report's default window."""
    window = WINDOW if window_days is None else timedelta(days=window_days)
    options = {} if window_days is None else {"window_days": window_days}
    rng = random.Random(806)
    people: list[PersonRecord] = []
    acts: list[ActivityRecord] = []
    expected: dict[str, bool] = {}
    for n in range(40):
        ref = RecordRef("sf", "Lead", f"00Q{n}")
        created = NOW - timedelta(days=rng.uniform(window.days + 1, 300))
        converted = created + rng.uniform(0.02, 2) * window if rng.random() < 0.7 else None
        asked = created + rng.uniform(0, 2.3) * window
        people.append(
            PersonRecord(ref, f"p{n}@acme.com", NOW, {"industry": "Manufacturing"},
                         created_at=created, converted_at=converted)
        )  # fmt: skip
        acts.append(_form(n, ref, "Request a demo", min(asked, NOW - timedelta(hours=1))))
        moment = min(created + window, converted - timedelta(seconds=1) if converted else NOW)
        expected[str(n + 1)] = acts[-1].occurred_at < moment
    assert 5 < sum(expected.values()) < 35  # both kinds of lead are generated
    _backfill(store, people, acts)
    with store.reading() as conn:
        ds = leads_from_store(
            conn, _spec(store), fit_source=None, cycle_days=90, now=NOW, **options
        )
        document = report_document(ds, now=NOW, months=MONTHS, conn=conn)
    assert f"gives it {window / timedelta(days=1):g} days after" in document["backtest_rule"]
    cells = {lead.key: lead.cell for lead in ds.leads}
    assert {key: str(cell).endswith("/hand_raiser") for key, cell in cells.items()} == expected
    raisers = sum(
        row["entered"] + row["after_conversion"]
        for row in document["matrix_by_month"]
        if row["cell"].endswith("/hand_raiser")
    )
    assert raisers == sum(expected.values())


def test_a_contact_converted_from_a_lead_entered_when_the_lead_was_created(store: Store) -> None:
    """One person, two records: the Lead (created first, converted) and its Contact."""
    lead, contact = RecordRef("sf", "Lead", "00Q1"), RecordRef("sf", "Contact", "0031")
    lead_created = NOW - timedelta(days=200)
    converted = NOW - timedelta(days=150)
    _backfill(
        store,
        [
            PersonRecord(
                lead,
                "p@acme.com",
                NOW,
                created_at=lead_created,
                converted_at=converted,
                merged_into=contact,
            ),
            PersonRecord(contact, "p@acme.com", NOW, created_at=converted),
        ],
        [],
    )
    with store.reading() as conn:
        ds = leads_from_store(conn, _spec(store), fit_source=None, cycle_days=90, now=NOW)
    (found,) = ds.leads
    assert (found.entered_at, found.converted) == (lead_created, True)


def test_the_cli_window_option_moves_the_back_test_moment(tmp_path: Path) -> None:
    """A demo request 20 days after entering: a hand-raiser in the default 30-day back-test,
    not in a 10-day one; the page says which rule it used."""
    import tomli_w

    now = datetime.now(UTC)
    url = f"sqlite:///{tmp_path / 's.db'}"
    ref = RecordRef("sf", "Lead", "00Q1")
    created = now - timedelta(days=100)
    store = Store(url)
    try:
        with store.transaction() as conn:
            upsert_people(conn, [PersonRecord(ref, "p@acme.com", now, created_at=created)], now)
            upsert_activities(
                conn, [_form(1, ref, "Request a demo", created + timedelta(days=20))], now
            )
    finally:
        store.close()
    config = tmp_path / "leadsync.toml"
    config.write_text(tomli_w.dumps({**GOOD, "store": {"url": url}}))
    cells = {}
    for window in ([], ["--window-days", "10"]):
        run = subprocess.run(
            [sys.executable, "-c", "from leadsync.cli import main; main()", "--config",
             str(config), "report", "--json", *window],
            capture_output=True, text=True, timeout=300, cwd=tmp_path,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        document = json.loads(run.stdout)
        (row,) = document["matrix_by_month"]
        cells[window[-1] if window else "30"] = (row["cell"], document["backtest_rule"])
    assert cells["30"][0].endswith("/hand_raiser") and "30 days after" in cells["30"][1]
    assert cells["10"][0].endswith("/unready") and "10 days after" in cells["10"][1]
