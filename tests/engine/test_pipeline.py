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

    with CommitPipeline[int](True) as commits:
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

    with CommitPipeline[int](True) as commits:
        for n in range(50):
            commits.submit(lambda n=n: commit(n), then)
    assert order == seen == list(range(50))
    assert caller not in threads


def test_without_overlap_each_commit_runs_in_the_caller_thread_at_once() -> None:
    caller = threading.get_ident()
    seen: list[int] = []
    with CommitPipeline[int](False) as commits:
        commits.submit(lambda: threading.get_ident(), seen.append)
        assert seen == [caller]


def test_a_failed_commit_is_raised_to_the_caller() -> None:
    def boom() -> int:
        raise RuntimeError("store down")

    with pytest.raises(RuntimeError, match="store down"), CommitPipeline[int](True) as commits:
        commits.submit(boom, lambda _: None)
    with pytest.raises(RuntimeError, match="store down"), CommitPipeline[int](True) as commits:
        commits.submit(boom, lambda _: None)
        commits.submit(lambda: 1, lambda _: None)  # the next submit surfaces it


def test_when_the_pull_fails_the_batch_handed_over_still_commits_and_is_counted() -> None:
    seen: list[int] = []
    with pytest.raises(ConnectionError, match="CRM gone"), CommitPipeline[int](True) as commits:
        commits.submit(lambda: 7, seen.append)
        raise ConnectionError("CRM gone")
    assert seen == [7]
