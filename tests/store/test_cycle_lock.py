"""One cycle at a time per store: a second holder anywhere is refused at once, by name."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import pytest

from leadsync.errors import CycleBusy
from leadsync.store import Store


@pytest.fixture
def stores(store_url: str) -> Iterator[tuple[Store, Store]]:
    # Two engines on one database: what two processes (or a process and a thread) see.
    first, second = Store(store_url), Store(store_url, migrate=False)
    yield first, second
    first.close()
    second.close()


def test_a_second_cycle_is_refused_while_one_runs_and_allowed_after(
    stores: tuple[Store, Store],
) -> None:
    first, second = stores
    with first.one_cycle():
        busy_message = "another cycle is running on this store"
        with pytest.raises(CycleBusy, match=busy_message) as busy, second.one_cycle():
            pytest.fail("two cycles held the store at once")
        if first.dialect == "postgresql":
            assert "server pid" in str(busy.value)
        else:
            assert f"process {os.getpid()}" in str(busy.value)
    with second.one_cycle():
        pass  # released on leaving the block


def test_a_failed_cycle_releases_the_store(stores: tuple[Store, Store]) -> None:
    first, second = stores
    with pytest.raises(RuntimeError), first.one_cycle():
        raise RuntimeError("the cycle crashed")
    with second.one_cycle():
        pass


def test_two_threads_of_one_process_are_kept_apart(stores: tuple[Store, Store]) -> None:
    first, _ = stores
    inside, leave = threading.Event(), threading.Event()

    def hold() -> None:
        with first.one_cycle():
            inside.set()
            leave.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert inside.wait(10)
        with pytest.raises(CycleBusy), first.one_cycle():
            pass
    finally:
        leave.set()
        holder.join()
