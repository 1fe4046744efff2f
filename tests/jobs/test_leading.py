"""The scheduler runs only while leading; deposed, it halts its cycle before seeking again."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from jobs.leading import LeaderScheduler
from jobs.scheduler import SyncScheduler


class HandLease:
    """A lease the test elects and deposes by hand."""

    def __init__(self) -> None:
        self.role = "standby"
        self.since = datetime.now(UTC)
        self.stopped = False
        self.elect: Callable[[], None] = lambda: None
        self.depose: Callable[[], None] = lambda: None

    def start(self, on_elected: Callable[[], None], on_deposed: Callable[[], None]) -> None:
        def elect() -> None:
            self.role = "leader"
            on_elected()

        def depose() -> None:
            self.role = "standby"
            on_deposed()

        self.elect, self.depose = elect, depose

    def stop(self) -> None:
        self.stopped = True


class Cycles:
    """A cycle that pulls in steps until told to halt, like the engine's pull."""

    def __init__(self, halt: threading.Event, steps: int = 20) -> None:
        self.halt = halt
        self.steps = steps
        self.calls: list[str] = []
        self.halted: list[str] = []
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()

    def run(self, connector: str) -> None:
        with self._lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            self.calls.append(connector)
        try:
            for _ in range(self.steps):
                if self.halt.is_set():
                    self.halted.append(connector)
                    return
                time.sleep(0.05)
        finally:
            with self._lock:
                self.active -= 1


def _wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def _leader(steps: int = 20) -> tuple[LeaderScheduler, HandLease, Cycles, threading.Event]:
    halt, stopping = threading.Event(), threading.Event()
    cycles = Cycles(halt, steps)
    lease = HandLease()
    leader = LeaderScheduler(
        lease,
        lambda: SyncScheduler(cycles.run, ["salesforce"], timedelta(hours=1)),
        halt=halt,
        stopping=stopping,
        grace=5,
    )
    leader.start()
    return leader, lease, cycles, stopping


def test_a_standby_runs_nothing_and_triggers_are_refused() -> None:
    leader, lease, cycles, _ = _leader()
    assert leader.role == "standby" and leader.scheduler is None
    assert leader.trigger("salesforce") is False
    time.sleep(0.2)
    assert cycles.calls == []
    assert leader.shutdown(1) and lease.stopped


def test_elected_runs_cycles_at_once_and_deposed_halts_the_pull() -> None:
    leader, lease, cycles, _ = _leader()
    lease.elect()
    _wait_for(lambda: cycles.active == 1)
    began = time.monotonic()
    lease.depose()
    # ``on_deposed`` returned only once the cycle had stopped at its next step.
    assert cycles.active == 0 and cycles.halted == ["salesforce"]
    assert time.monotonic() - began < 1
    assert leader.scheduler is None and leader.trigger("salesforce") is False
    # Re-elected: a new scheduler, cycles again, never two at once.
    lease.elect()
    _wait_for(lambda: len(cycles.calls) == 2)
    assert leader.trigger("salesforce") is True
    _wait_for(lambda: len(cycles.calls) == 3, timeout=10)
    assert leader.shutdown(5)
    assert cycles.max_active == 1 and lease.stopped


def test_shutdown_stops_the_scheduler_before_giving_up_the_lease() -> None:
    leader, lease, cycles, stopping = _leader(steps=4)
    lease.elect()
    _wait_for(lambda: cycles.active == 1)
    order: list[str] = []
    original_stop = lease.stop

    def stop() -> None:
        order.append(f"lease stopped with {cycles.active} cycle(s) running")
        original_stop()

    lease.stop = stop  # type: ignore[method-assign]
    stopping.set()
    assert leader.shutdown(5)
    assert order == ["lease stopped with 0 cycle(s) running"]
    lease.elect()  # a late election after shutdown starts nothing
    time.sleep(0.2)
    assert leader.scheduler is None and cycles.calls == ["salesforce"]
