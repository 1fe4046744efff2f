"""The cycle runner's outcomes and safe stopping, and the single-process SQLite lock."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from jobs.lock import ProcessLock, lock_path_for
from jobs.runner import CycleOutcome, CycleRunner, ShuttingDown, StopAwareProgress
from leadsync.engine.cycle import CycleReport
from leadsync.engine.request import CycleRequest
from leadsync.errors import AuthError, CycleBusy, StoreError
from leadsync.records import RecordRef


class FakeEngine:
    def __init__(self, result: CycleReport | Exception) -> None:
        self.result = result
        self.requests: list[CycleRequest] = []

    def run(self, request: CycleRequest) -> CycleReport:
        self.requests.append(request)
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


def test_runner_reports_each_cycle_to_observers() -> None:
    seen: list[CycleOutcome] = []
    report = CycleReport(run_id=7, status="partial", errors=["hubspot: 503"])
    engine = FakeEngine(report)
    runner = CycleRunner(engine, threading.Event(), [seen.append])
    outcome = runner.run("hubspot")
    assert engine.requests == [CycleRequest(only=("hubspot",))]
    assert outcome is not None and seen == [outcome]
    assert (outcome.status, outcome.errors, outcome.report) == (
        "partial",
        ("hubspot: 503",),
        report,
    )
    assert not outcome.fatal


def test_runner_passes_a_webhooks_records_to_the_cycle() -> None:
    engine = FakeEngine(CycleReport(run_id=1))
    named = [RecordRef("hubspot", "contact", "51")]
    runner = CycleRunner(engine, threading.Event())
    runner.run("hubspot", named)
    runner.run("hubspot")
    assert [r.notified for r in engine.requests] == [tuple(named), ()]


def test_runner_turns_a_raised_auth_error_into_a_fatal_outcome() -> None:
    runner = CycleRunner(
        FakeEngine(AuthError("token refused", connector="hubspot")), threading.Event()
    )
    outcome = runner.run("hubspot")
    assert outcome is not None and outcome.fatal and "token refused" in outcome.errors[0]


def test_runner_survives_a_bug_in_a_cycle() -> None:
    outcome = CycleRunner(FakeEngine(KeyError("x")), threading.Event()).run("salesforce")
    assert outcome is not None and outcome.status == "error" and outcome.report is None


def test_runner_skips_a_cycle_while_another_holds_the_store_and_tells_no_observer() -> None:
    seen: list[CycleOutcome] = []
    engine = FakeEngine(CycleBusy("another cycle is running on this store"))
    assert CycleRunner(engine, threading.Event(), [seen.append]).run("salesforce") is None
    assert engine.requests == [CycleRequest(only=("salesforce",))] and seen == []


def test_runner_skips_cycles_once_stopping() -> None:
    stopping = threading.Event()
    stopping.set()
    engine = FakeEngine(CycleReport(run_id=1))
    assert CycleRunner(engine, stopping).run("salesforce") is None
    assert engine.requests == []


def test_stopping_ends_pulls_at_a_batch_boundary_but_never_scoring() -> None:
    stopping = threading.Event()
    progress = StopAwareProgress(stopping)
    progress.phase("pull hubspot people")
    progress.advance(100)
    stopping.set()
    with pytest.raises(ShuttingDown):
        progress.advance(100)
    progress.phase("score")
    progress.advance(100)
    with pytest.raises(ShuttingDown):
        progress.phase("pull salesforce people")


def test_lock_path_only_for_sqlite_files(tmp_path: Path) -> None:
    assert lock_path_for(f"sqlite:///{tmp_path}/a.db") == tmp_path / "a.db.lock"
    assert lock_path_for("sqlite:///:memory:") is None
    assert lock_path_for("postgresql+psycopg://u@h/db") is None


def test_second_process_is_refused_while_the_first_holds_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "leadsync.db.lock"
    other = (
        "import sys\nfrom pathlib import Path\nfrom jobs.lock import ProcessLock\n"
        "from leadsync.errors import StoreError\n"
        "try:\n    ProcessLock(Path(sys.argv[1])).acquire()\n"
        "except StoreError as e:\n    print(e)\n    sys.exit(3)\n"
    )
    with ProcessLock(path):
        refused = subprocess.run(
            [sys.executable, "-c", other, str(path)], capture_output=True, text=True, timeout=30
        )
        assert refused.returncode == 3
        assert "single-process" in refused.stdout and "pid" in refused.stdout
        with pytest.raises(StoreError):
            ProcessLock(path).acquire()
    # Released: the next process gets it.
    again = subprocess.run([sys.executable, "-c", other, str(path)], timeout=30)
    assert again.returncode == 0
