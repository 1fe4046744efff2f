"""uvicorn as ``leadsync run`` serves the app: deadlines for clients that are slow on purpose.

uvicorn waits for a request's head for as long as bytes keep coming (each byte even cancels
its keep-alive timer), and a connection that sends nothing at all is never timed out. So a
client dripping a byte a second holds a connection, and its memory, for good. Here:

* a request head (a new connection's, or the next one on a kept-alive connection) must be
  complete within ``HEADER_SECONDS`` or the connection is closed without an answer, and so
  must the unread rest of a body the service already answered;
* an idle kept-alive connection is closed after ``KEEP_ALIVE_SECONDS`` (uvicorn's own timer);
* a head larger than ``MAX_HEAD_BYTES`` is refused with 400 (h11's limit);
* bodies are read by the handlers that want them, with their own deadline
  (``webhook.read_limited``: 408 past ``webhook.BODY_SECONDS``).
"""

from __future__ import annotations

import asyncio

import h11
import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.h11_impl import H11Protocol

#: A browser, HubSpot or Prometheus sends a request head in one packet.
HEADER_SECONDS = 10.0
KEEP_ALIVE_SECONDS = 5
#: h11's own default, made explicit: the most a request head may take.
MAX_HEAD_BYTES = 16 * 1024
#: How long open HTTP connections get to finish once the server stops accepting.
DRAIN_SECONDS = 5


class DeadlineH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for every request head."""

    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_arrived()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        # A server answers once the head is in: from then on the handler's deadlines apply.
        if self.conn.our_state is h11.SEND_RESPONSE:
            self._head_arrived()

    def on_response_complete(self) -> None:
        # The next request on this kept-alive connection gets a deadline of its own (armed
        # first: a pipelined head already buffered is parsed below and disarms it).
        self._await_head()
        super().on_response_complete()

    def _await_head(self) -> None:
        self._head_arrived()
        self._head_timer = self.loop.call_later(HEADER_SECONDS, self._head_too_slow)

    def _head_arrived(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        # Not answering a request: still waiting for a head, or for the rest of a body the
        # handler did not read (a drip after the answer would otherwise keep the connection).
        self._head_timer = None
        if self.conn.our_state is not h11.SEND_RESPONSE and not self.transport.is_closing():
            self.conn.send(h11.ConnectionClosed())
            self.transport.close()


def http_config(app: ASGIApp, host: str, port: int) -> uvicorn.Config:
    """The uvicorn config ``leadsync run`` serves ``app`` with (tests serve the same)."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=DeadlineH11Protocol,
        h11_max_incomplete_event_size=MAX_HEAD_BYTES,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        timeout_graceful_shutdown=DRAIN_SECONDS,
        log_config=None,
        access_log=False,
        lifespan="off",
    )
