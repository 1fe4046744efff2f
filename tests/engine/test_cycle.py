"""The engine's cycle over an in-memory CRM: incremental, idempotent, rejections kept."""

from __future__ import annotations

import csv
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from connectors.base import Connector
from leadsync.engine import score_phase
from leadsync.engine.context import Cycle
from leadsync.engine.cycle import CycleReport, EngineSettings, SyncEngine
from leadsync.engine.request import CycleRequest
from leadsync.records import RecordUpdate, WriteOutcome
from leadsync.store import Store
from leadsync.store.schema import crm_records, ledger, pending_writes, score_history
from leadsync.store.scoring import PersonInputs, ScoreRow
from tests.engine.memory_crm import MemoryConnector, MemoryCRM

POINTS = {"form_submission": 50, "email_open": 5}


def points_scorer(inputs: PersonInputs, now: datetime) -> ScoreRow:
    """A deliberately tiny stand-in model: the engine's mechanics are under test here."""
    total = sum(POINTS.get(a.kind, 0) for a in inputs.activities)
    industry = next((r.attributes.get("industry") for r in inputs.records), None)
    fit = "good" if industry == "Manufacturing" else "poor"
    readiness = "sales_ready" if total >= 50 else "unready"
    team = "sales" if readiness == "sales_ready" else "marketing"
    outputs = {"fit": fit, "score": total, "readiness": readiness, "team": team}
    return ScoreRow(
        inputs.person_id, fit, total, readiness, team, f"{fit}/{readiness}", outputs, outputs
    )


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def crm() -> MemoryCRM:
    crm = MemoryCRM()
    for i in range(450):
        crm.add_person(
            f"L{i}", f"p{i}@acme{i % 7}.com", industry="Manufacturing" if i % 3 else "Retail"
        )
    for i in range(0, 450, 5):
        crm.add_activity(f"A{i}", f"L{i}", "form_submission", "Contact Us")
    return crm


@pytest.fixture
def store(migrated_store_url: str) -> Iterator[Store]:
    s = Store(migrated_store_url)
    yield s
    s.close()


def engine(
    store: Store, *connectors: Connector, clock: Clock | None = None, **kw: object
) -> SyncEngine:
    values: dict[str, object] = {"pull_batch": 100, "score_batch": 64, "write_chunk": 1000, **kw}
    settings = EngineSettings(**values)  # type: ignore[arg-type]
    return SyncEngine(
        store, {c.name: c for c in connectors}, points_scorer, settings, clock or Clock()
    )


def table_count(store: Store, table: sa.Table) -> int:
    with store.reading() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def test_first_cycle_writes_everyone_in_minimum_calls(store: Store, crm: MemoryCRM) -> None:
    report = engine(store, MemoryConnector(crm)).run()
    assert report.status == "ok"
    assert report.pulled["mem.people"]["inserted"] == 450
    assert report.written == {"mem": 450}
    assert [len(ids) for ids in crm.write_log] == [200, 200, 50]
    assert crm.fields["L5"]["score"] == 50 and crm.fields["L5"]["readiness"] == "sales_ready"
    assert crm.fields["L3"]["fit"] == "poor"


def test_second_cycle_with_no_changes_writes_nothing(store: Store, crm: MemoryCRM) -> None:
    connector = MemoryConnector(crm)
    engine(store, connector).run()
    calls, writes = connector.calls, len(crm.write_log)
    report = engine(store, connector).run()
    assert report.written == {} and report.queued == 0 and report.scored == 0
    assert len(crm.write_log) == writes
    assert connector.calls - calls == 2  # one pull per stream, nothing else


def test_a_change_writes_only_that_record_and_field(store: Store, crm: MemoryCRM) -> None:
    connector = MemoryConnector(crm)
    engine(store, connector).run()
    crm.add_activity("NEW", "L1", "form_submission", "Price sheet")
    report = engine(store, connector).run()
    assert report.written == {"mem": 1}
    assert crm.write_log[-1] == ["L1"]
    with store.reading() as conn:
        history = conn.execute(sa.select(score_history).order_by(score_history.c.id.desc())).first()
    assert history is not None and (history.old_score, history.new_score) == (0, 50)


def test_overlap_never_skips_a_record_stamped_at_the_cursor(store: Store, crm: MemoryCRM) -> None:
    connector = MemoryConnector(crm)
    engine(store, connector).run()
    # a late write in the CRM carrying a stamp equal to the newest one already seen
    newest = max(p["modified"] for p in crm.people.values())
    crm.people["L2"] = {**crm.people["L2"], "attrs": {"industry": "Retail"}, "modified": newest}
    engine(store, connector).run()
    assert crm.fields["L2"]["fit"] == "poor"


def test_rejections_are_kept_retried_then_parked_and_replayed(store: Store, crm: MemoryCRM) -> None:
    clock = Clock()
    crm.reject["L10"] = "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    connector = MemoryConnector(crm)
    first = engine(store, connector, clock=clock, max_write_attempts=2).run()
    assert first.rejected == {"mem": 1} and "L10" not in crm.fields
    with store.reading() as conn:
        row = conn.execute(sa.select(pending_writes)).one()
    assert row.error_code == "FIELD_CUSTOM_VALIDATION_EXCEPTION" and row.error_message.endswith(
        "says no"
    )
    assert engine(store, connector, clock=clock).run().rejected == {}  # backing off
    clock.now += timedelta(minutes=2)
    assert engine(store, connector, clock=clock, max_write_attempts=2).run().parked == {"mem": 1}
    clock.now += timedelta(days=1)
    assert engine(store, connector, clock=clock).run().rejected == {}  # parked: left alone
    del crm.reject["L10"]
    replay = engine(store, connector, clock=clock).run(CycleRequest(retry_failed=True))
    assert replay.written == {"mem": 1} and crm.fields["L10"]["score"] == 50
    assert table_count(store, pending_writes) == 0


def test_dry_run_reports_and_changes_nothing(store: Store, crm: MemoryCRM) -> None:
    connector = MemoryConnector(crm)
    report = engine(store, connector).run(CycleRequest(dry_run=True))
    assert report.would_write["per_field"] == {
        "fit": 450,
        "score": 450,
        "readiness": 450,
        "team": 450,
    }
    assert len(report.would_write["sample"]) == 10
    assert crm.write_log == [] and table_count(store, ledger) == 0
    assert table_count(store, pending_writes) == 0
    real = engine(store, connector).run()
    assert real.written == {"mem": 450}


def test_write_outage_keeps_everything_owed_for_next_cycle(store: Store, crm: MemoryCRM) -> None:
    connector = MemoryConnector(crm, fail_writes=1)
    report = engine(store, connector).run()
    # Its only connector failed to write: the cycle failed (not "partial", which says some
    # connectors did their whole cycle), and that connector is named.
    assert report.status == "failed" and "503" in report.errors[0]
    assert list(report.failed_connectors) == ["mem"]
    assert table_count(store, pending_writes) == 450
    assert engine(store, connector).run().written == {"mem": 450}


def test_one_crm_failing_does_not_stop_the_other(store: Store, crm: MemoryCRM) -> None:
    other = MemoryCRM()
    other.add_person("H1", "p1@acme1.com", industry="Manufacturing")
    broken = MemoryConnector(other, name="hub", fail_writes=5)
    report = engine(store, MemoryConnector(crm), broken).run()
    assert report.status == "partial"
    assert report.written == {"mem": 450}


def test_dry_run_reports_cell_moves_and_writes_a_csv_of_every_change(
    store: Store, crm: MemoryCRM, tmp_path: Path
) -> None:
    sync = engine(store, MemoryConnector(crm))
    sync.run()
    crm.add_activity("A-new", "L1", "form_submission", "Contact Us")  # L1: unready -> ready
    diff = tmp_path / "diff.csv"
    report = sync.run(CycleRequest(dry_run=True, diff_csv=diff))
    assert report.would_write["cell_moves"] == {"good/unready -> good/sales_ready": 1}
    rows = list(csv.DictReader(diff.open()))
    changed = {(r["record"], r["field"]): (r["old"], r["new"]) for r in rows}
    assert changed[("mem:Lead:L1", "readiness")] == ("unready", "sales_ready")
    assert changed[("mem:Lead:L1", "score")] == ("0", "50")
    assert all(r["record"] == "mem:Lead:L1" for r in rows)
    assert "L1" not in {i for ids in crm.write_log[1:] for i in ids}  # nothing was written


class HoldingConnector(MemoryConnector):
    """Holds every page until the stream ends, as a connector gathering one bulk job does;
    ``meanwhile`` runs after the last page was read and before any is answered."""

    def __init__(self, crm: MemoryCRM, meanwhile: Callable[[], None] | None = None) -> None:
        super().__init__(crm)
        self.meanwhile = meanwhile
        self.write_pages_read = 0

    def write_pages(self, pages: Iterable[Sequence[RecordUpdate]]) -> Iterator[list[WriteOutcome]]:
        held = []
        for page in pages:
            self.write_pages_read += 1
            held.append(list(page))
        if self.meanwhile is not None:
            self.meanwhile()
        for page in held:
            yield self.write(page)


def test_held_pages_are_recorded_and_a_write_merged_into_meanwhile_stays_owed(
    store: Store, crm: MemoryCRM
) -> None:
    """Pages answered late are recorded page by page; a write whose values were merged into
    after it was sent is not settled by the older answer: it goes again, newer values and all."""
    sent_at = Clock()

    def merge_a_newer_decision() -> None:
        with store.transaction() as conn:
            record_id = conn.execute(
                sa.select(crm_records.c.id).where(crm_records.c.external_id == "L1")
            ).scalar_one()
            conn.execute(
                sa.update(pending_writes)
                .where(pending_writes.c.record_id == record_id)
                .values(values={"score": 99, "scored_at": sent_at.now.isoformat()})
            )

    connector = HoldingConnector(crm, meanwhile=merge_a_newer_decision)
    report = engine(store, connector, write_chunk=100).run()
    assert connector.write_pages_read == 5  # 450 writes, 100 a page, all read before any answer
    assert report.written == {"mem": 449}
    with store.reading() as conn:
        owed = conn.execute(sa.select(pending_writes)).one()
    assert owed.values["score"] == 99 and owed.attempts == 0
    assert table_count(store, ledger) == 449
    again = engine(store, MemoryConnector(crm)).run()
    assert again.written == {"mem": 1} and crm.fields["L1"]["score"] == 99
    assert table_count(store, pending_writes) == 0


def test_scoring_batches_overlap_on_a_store_with_concurrent_writers_only(
    store: Store, crm: MemoryCRM, monkeypatch: pytest.MonkeyPatch
) -> None:
    eng = engine(store, MemoryConnector(crm))
    caller = threading.get_ident()
    threads: set[int] = set()
    active = peak = 0
    lock = threading.Lock()
    score_batch = score_phase.score_batch

    def tracked(cycle: Cycle, conn: sa.Connection, ids: list[int], now: datetime) -> object:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
            threads.add(threading.get_ident())
        try:
            time.sleep(0.05)  # long enough for the next batch to start, where it may
            return score_batch(cycle, conn, ids, now)
        finally:
            with lock:
                active -= 1

    monkeypatch.setattr(score_phase, "score_batch", tracked)
    report = eng.run()
    assert report.scored == 450 and report.written == {"mem": 450}
    assert crm.fields["L5"]["score"] == 50 and crm.fields["L3"]["fit"] == "poor"
    if store.concurrent_writers:
        assert peak == 2 and caller not in threads
    else:
        assert peak == 1 and threads == {caller}
    with store.reading() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(score_history)).scalar() == 450


def test_batches_that_share_rows_score_one_at_a_time(store: Store, crm: MemoryCRM) -> None:
    eng = engine(store, MemoryConnector(crm))
    cycle = Cycle(eng, CycleRequest(), CycleReport(1), Clock().now, 1)
    eng.accounts = object()  # type: ignore[assignment]
    assert score_phase.in_flight(cycle) == 0  # account roll-ups update shared rows
    eng.accounts = None
    eng.actor = object()  # type: ignore[assignment]
    assert score_phase.in_flight(cycle) == 0  # hand-off routing takes turns across people
    cycle.request = CycleRequest(no_actions=True)
    assert score_phase.in_flight(cycle) == (2 if store.concurrent_writers else 0)
