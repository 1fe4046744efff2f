"""CommitPipeline: one commit in flight, in order, results handed on in the caller's thread."""

from __future__ import annotations

import threading

import pytest

from leadsync.engine.pipeline import CommitPipeline


def test_a_commit_runs_while_the_next_batch_is_prepared() -> None:
    started, release = threading.Event(), threading.Event()
    done: list[int] = []

    def slow_commit() -> int:
        started.set()
        assert release.wait(5)
        return 1

    with CommitPipeline[int](1) as commits:
        commits.submit(slow_commit, done.append)
        # Back in the caller before the commit finished: the next batch is prepared now.
        assert started.wait(5)
        assert done == []
        release.set()
        commits.submit(lambda: 2, done.append)  # waits for the first, hands its result on
        assert done == [1]
    assert done == [1, 2]


def test_commits_run_one_at_a_time_in_order_and_results_reach_the_caller_thread() -> None:
    order: list[int] = []
    running = threading.Lock()
    caller = threading.get_ident()
    threads: set[int] = set()

    def commit(n: int) -> int:
        assert running.acquire(blocking=False), "two commits at once"
        try:
            order.append(n)
            threads.add(threading.get_ident())
            return n
        finally:
            running.release()

    seen: list[int] = []

    def then(n: int) -> None:
        assert threading.get_ident() == caller
        seen.append(n)

    with CommitPipeline[int](1) as commits:
        for n in range(50):
            commits.submit(lambda n=n: commit(n), then)
    assert order == seen == list(range(50))
    assert caller not in threads


def test_without_overlap_each_commit_runs_in_the_caller_thread_at_once() -> None:
    caller = threading.get_ident()
    seen: list[int] = []
    with CommitPipeline[int](0) as commits:
        commits.submit(lambda: threading.get_ident(), seen.append)
        assert seen == [caller]


def test_a_failed_commit_is_raised_to_the_caller() -> None:
    def boom() -> int:
        raise RuntimeError("store down")

    with pytest.raises(RuntimeError, match="store down"), CommitPipeline[int](1) as commits:
        commits.submit(boom, lambda _: None)
    with pytest.raises(RuntimeError, match="store down"), CommitPipeline[int](1) as commits:
        commits.submit(boom, lambda _: None)
        commits.submit(lambda: 1, lambda _: None)  # the next submit surfaces it


def test_when_the_pull_fails_the_batch_handed_over_still_commits_and_is_counted() -> None:
    seen: list[int] = []
    with pytest.raises(ConnectionError, match="CRM gone"), CommitPipeline[int](1) as commits:
        commits.submit(lambda: 7, seen.append)
        raise ConnectionError("CRM gone")
    assert seen == [7]


def test_two_in_flight_run_together_and_hand_results_on_in_the_order_submitted() -> None:
    both_running = threading.Barrier(2, timeout=5)
    second_done = threading.Event()
    seen: list[int] = []

    def first() -> int:
        both_running.wait()  # would time out if the second did not run alongside
        assert second_done.wait(5)  # finishes after the second ...
        return 1

    def second() -> int:
        both_running.wait()
        second_done.set()
        return 2

    with CommitPipeline[int](2) as commits:
        commits.submit(first, seen.append)
        commits.submit(second, seen.append)
        commits.submit(lambda: 3, seen.append)  # a third waits for a free slot: the first's
        assert seen[:1] == [1]
    assert seen == [1, 2, 3]  # ... but its result is handed on first


def test_never_more_than_in_flight_at_once() -> None:
    running = 0
    peak = 0
    guard = threading.Lock()

    def commit() -> int:
        nonlocal running, peak
        with guard:
            running += 1
            peak = max(peak, running)
        threading.Event().wait(0.005)
        with guard:
            running -= 1
        return 0

    with CommitPipeline[int](2) as commits:
        for _ in range(40):
            commits.submit(commit, lambda _: None)
    assert peak <= 2


def test_with_two_in_flight_a_failure_still_hands_on_the_others_when_the_block_fails() -> None:
    seen: list[int] = []

    def boom() -> int:
        raise RuntimeError("store down")

    with pytest.raises(ConnectionError, match="CRM gone"), CommitPipeline[int](2) as commits:
        commits.submit(lambda: 1, seen.append)
        commits.submit(boom, seen.append)
        raise ConnectionError("CRM gone")
    assert seen == [1]


def test_when_the_block_fails_nothing_after_a_failed_commit_is_handed_on() -> None:
    seen: list[int] = []
    release = threading.Event()

    def boom() -> int:
        assert release.wait(5)
        raise RuntimeError("store down")

    with pytest.raises(ConnectionError, match="CRM gone"), CommitPipeline[int](2) as commits:
        commits.submit(boom, seen.append)
        commits.submit(lambda: 2, seen.append)  # commits, but its checkpoint would pass boom's
        release.set()
        raise ConnectionError("CRM gone")
    assert seen == []
