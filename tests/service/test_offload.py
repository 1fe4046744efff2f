"""``Offload``: store work on bounded daemon threads, waited for with a deadline."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from leadsync.service.offload import Offload, StoreBusy


def test_results_and_errors_come_back_as_they_are() -> None:
    offload = Offload("t", 2)

    def fail() -> int:
        raise LookupError("no such row")

    async def main() -> None:
        assert await offload.run(lambda: 41 + 1, 1.0) == 42
        with pytest.raises(LookupError, match="no such row"):
            await offload.run(fail, 1.0)

    asyncio.run(main())


def test_stuck_calls_hold_at_most_their_threads_and_late_ones_never_start() -> None:
    offload = Offload("t", 2)
    release = threading.Event()
    started: list[int] = []

    def stuck(n: int) -> int:
        started.append(n)
        release.wait(10)
        return n

    async def main() -> list[object]:
        calls = [offload.run(lambda n=n: stuck(n), 0.3) for n in range(5)]  # type: ignore[misc]
        began = time.monotonic()
        answers = await asyncio.gather(*calls, return_exceptions=True)
        assert time.monotonic() - began < 1.0  # every caller answered by its deadline
        return answers

    answers = asyncio.run(main())
    assert all(isinstance(a, StoreBusy) for a in answers)
    assert len(started) == 2  # the other three never got a thread, and never will
    assert "0.3 s" in str(answers[0])
    release.set()
    time.sleep(0.2)
    assert len(started) == 2


def test_a_thread_freed_by_the_store_serves_the_next_caller() -> None:
    offload = Offload("t", 1)
    release = threading.Event()

    async def main() -> int:
        with pytest.raises(StoreBusy):
            await offload.run(lambda: release.wait(10), 0.1)
        release.set()  # the store lets go: the stuck thread finishes, its result is dropped
        return await offload.run(lambda: 7, 1.0)

    assert asyncio.run(main()) == 7


def test_the_threads_are_daemons_so_shutdown_is_not_held_up() -> None:
    offload = Offload("t", 1)
    seen: list[bool] = []

    async def main() -> None:
        await offload.run(lambda: seen.append(threading.current_thread().daemon), 1.0)

    asyncio.run(main())
    assert seen == [True]
