"""Store work off the event loop, with a deadline: the HTTP server never waits on the store.

Every handler that touches the store hands that work to an ``Offload``: it runs on a worker
thread and the handler stops waiting after ``seconds``, answering 503 with ``Retry-After``
(``StoreBusy``). A locked SQLite file (30 s busy timeout) or a locked PostgreSQL table (no
timeout at all) then costs one request its answer, never ``/healthz`` or another page.

A thread cannot be interrupted: work the store has stuck keeps its thread until the store
lets go. So each ``Offload`` runs at most ``threads`` at once, stuck or not, and a caller that
finds them all busy waits for one within its own deadline. A stuck store thus costs a bounded
number of threads and connections (the service's offloads together stay under the
PostgreSQL pool's ten). The threads are daemons: a process shutting down while the store is
locked is not held up by them (the driver's connection dies with the process).

asyncio's and anyio's thread pools were not enough on their own: abandoning a call there
frees its slot while the thread still runs (no bound), and the pool's threads are joined at
interpreter exit (a shutdown would wait on the lock).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from functools import partial
from typing import TypeVar

T = TypeVar("T")

#: How often a caller looks for a free thread while all are busy.
_POLL_SECONDS = 0.02


class StoreBusy(Exception):
    """The store did not answer within the handler's deadline; answer 503 and retry later."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the store did not answer within {seconds:g} s; try again shortly")
        self.seconds = seconds


class Offload:
    """Runs blocking calls on at most ``threads`` daemon threads, waiting for each at most
    the deadline the caller gives."""

    def __init__(self, name: str, threads: int) -> None:
        self._name = name
        self._slots = threading.Semaphore(threads)

    async def run(self, fn: Callable[[], T], seconds: float) -> T:
        """``fn()``'s result, or ``StoreBusy`` once ``seconds`` have passed; ``fn``'s own
        exception as it is. A call that has not started by then never starts."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[T] = loop.create_future()
        try:
            async with asyncio.timeout(seconds):
                while not self._slots.acquire(blocking=False):
                    await asyncio.sleep(_POLL_SECONDS)
                thread = threading.Thread(
                    target=self._work, args=(loop, done, fn), name=self._name, daemon=True
                )
                thread.start()
                return await asyncio.shield(done)
        except TimeoutError:
            raise StoreBusy(seconds) from None
        finally:
            # Given up (or cancelled): the late result or error is dropped, not left unread.
            done.cancel()

    def _work(
        self, loop: asyncio.AbstractEventLoop, done: asyncio.Future[T], fn: Callable[[], T]
    ) -> None:
        try:
            result = fn()
        except BaseException as exc:  # handed to the waiting handler, which re-raises it
            _settle(loop, done, partial(done.set_exception, exc))
        else:
            _settle(loop, done, partial(done.set_result, result))
        finally:
            self._slots.release()


def _settle(
    loop: asyncio.AbstractEventLoop, done: asyncio.Future[T], settle: Callable[[], None]
) -> None:
    def apply() -> None:
        if not done.done():  # the handler may have given up (deadline) or gone
            settle()

    # RuntimeError: the loop closed while the store was stuck; nobody is waiting.
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(apply)
