"""The scheduler never overlaps cycles, skips rather than stacks, and coalesces triggers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta

from jobs.scheduler import SyncScheduler


class SlowEngine:
    """Records every cycle and how many ran at once."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.calls: list[str] = []
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()

    def run(self, connector: str) -> None:
        with self._lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            self.calls.append(connector)
        time.sleep(self.seconds)
        with self._lock:
            self.active -= 1


def _wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def test_slow_cycles_never_overlap_and_are_not_stacked() -> None:
    engine = SlowEngine(seconds=0.5)
    scheduler = SyncScheduler(engine.run, ["salesforce", "hubspot"], timedelta(seconds=0.1))
    began = time.monotonic()
    scheduler.start()
    _wait_for(lambda: len(engine.calls) >= 3)
    assert scheduler.shutdown(timeout=2)
    elapsed = time.monotonic() - began
    assert engine.max_active == 1
    # Due every 0.1 s but each takes 0.5 s: runs are skipped, not queued up behind each other
    # (at most one more began between the third and the shutdown), nor run side by side.
    assert len(engine.calls) in (3, 4)
    assert elapsed >= 0.5 * (len(engine.calls) - 1)
    assert set(engine.calls) == {"salesforce", "hubspot"}


def test_triggers_while_running_coalesce_into_one_more_cycle() -> None:
    engine = SlowEngine(seconds=0.4)
    scheduler = SyncScheduler(
        engine.run, ["hubspot"], timedelta(hours=1), first_run_delay=timedelta(hours=1)
    )
    scheduler.start()
    assert scheduler.trigger("hubspot") is True
    _wait_for(lambda: scheduler.running == "hubspot")
    queued = [scheduler.trigger("hubspot") for _ in range(5)]
    assert queued == [True, False, False, False, False]
    _wait_for(lambda: len(engine.calls) == 2 and scheduler.running is None)
    time.sleep(0.3)
    assert scheduler.shutdown(timeout=2)
    assert engine.calls == ["hubspot", "hubspot"]
    assert engine.max_active == 1


def test_shutdown_waits_for_the_running_cycle_but_not_forever() -> None:
    engine = SlowEngine(seconds=1.0)
    scheduler = SyncScheduler(engine.run, ["salesforce"], timedelta(hours=1))
    scheduler.start()
    _wait_for(lambda: scheduler.running == "salesforce")
    began = time.monotonic()
    assert scheduler.shutdown(timeout=0.2) is False
    assert time.monotonic() - began < 0.5
    assert scheduler.shutdown(timeout=2) is True
    assert engine.active == 0


def test_nothing_starts_after_shutdown() -> None:
    engine = SlowEngine(seconds=0.3)
    scheduler = SyncScheduler(
        engine.run, ["hubspot"], timedelta(hours=1), first_run_delay=timedelta(hours=1)
    )
    scheduler.start()
    scheduler.trigger("hubspot")
    _wait_for(lambda: scheduler.running == "hubspot")
    scheduler.trigger("hubspot")
    assert scheduler.shutdown(timeout=2)
    time.sleep(0.2)
    assert engine.calls == ["hubspot"]


def test_a_requested_cycle_reads_every_record_its_webhooks_named() -> None:
    from leadsync.records import RecordRef

    seen: list[tuple[str, list[RecordRef]]] = []
    started = threading.Event()
    release = threading.Event()

    def run(connector: str, notified: list[RecordRef] | None = None) -> None:
        seen.append((connector, list(notified or [])))
        started.set()
        release.wait(5)

    def ref(n: int) -> RecordRef:
        return RecordRef("hubspot", "contact", str(n))

    scheduler = SyncScheduler(
        run, ["hubspot"], timedelta(hours=1), first_run_delay=timedelta(hours=1)
    )
    scheduler.start()
    assert scheduler.trigger("hubspot", [ref(1), ref(2)]) is True
    started.wait(5)
    # While that cycle runs, three deliveries queue one more cycle that reads all of theirs.
    assert scheduler.trigger("hubspot", [ref(3)]) is True
    assert scheduler.trigger("hubspot", [ref(4), ref(3)]) is False
    assert scheduler.trigger("hubspot") is False
    release.set()
    _wait_for(lambda: len(seen) == 2 and scheduler.running is None)
    assert scheduler.shutdown(timeout=2)
    assert seen == [("hubspot", [ref(1), ref(2)]), ("hubspot", [ref(3), ref(4)])]


def test_the_interval_poll_leaves_named_records_to_the_waiting_request() -> None:
    from leadsync.records import RecordRef

    seen: list[list[RecordRef]] = []
    gate = threading.Event()

    def run(connector: str, notified: list[RecordRef] | None = None) -> None:
        seen.append(list(notified or []))
        gate.wait(5)

    scheduler = SyncScheduler(run, ["hubspot"], timedelta(hours=1))
    scheduler.start()  # the interval poll starts at once and holds the worker
    _wait_for(lambda: len(seen) == 1)
    named = RecordRef("hubspot", "contact", "7")
    assert scheduler.trigger("hubspot", [named]) is True
    gate.set()
    _wait_for(lambda: len(seen) == 2 and scheduler.running is None)
    assert scheduler.shutdown(timeout=2)
    assert seen == [[], [named]]
