"""Slow clients are cut off: a connection dripping one byte a second does not stay open.

Over real sockets to the server ``leadsync run`` starts (``server.http_config``): a request
head, a silent connection, a webhook body and a login form, each dripped a byte a second,
are closed (or answered 408) within their deadline plus a little. Before, uvicorn had no
deadline for a request's head at all, and a body was read for as long as it kept coming.
"""

from __future__ import annotations

import concurrent.futures
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from leadsync.service.server import HEADER_SECONDS
from leadsync.service.webhook import BODY_SECONDS
from leadsync.store import Store
from tests.service.helpers import Harness, open_test_store, serving

#: How long past a deadline the server may take to act on it.
SLACK = 2.5
#: Give up waiting for a close after this long: a server without deadlines never closes.
GIVE_UP = max(HEADER_SECONDS, BODY_SECONDS) + 15


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    store: Store = open_test_store(tmp_path)
    yield Harness(store)
    store.close()


def _drip(port: int, head: bytes, drip: bytes) -> tuple[float, bytes]:
    """Send ``head`` at once, then ``drip`` a byte a second; seconds until the server closed
    the connection (or ``GIVE_UP``), and what it answered."""
    began = time.monotonic()
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
        if head:
            sock.sendall(head)
        for byte in drip or b"\0" * int(GIVE_UP):
            if time.monotonic() - began > GIVE_UP:
                break
            try:
                if drip:
                    sock.sendall(bytes([byte]))
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            except (ConnectionResetError, BrokenPipeError):
                break
            if not chunk:
                break  # closed by the server
            answer += chunk
    return time.monotonic() - began, answer


def test_slow_heads_silent_connections_and_slow_bodies_are_cut_off(harness: Harness) -> None:
    app = harness.app(token="slow-token-" + "0" * 32)
    with serving(app) as base:
        port = int(base.rsplit(":", 1)[1])
        head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Drip: " + b"a" * 200
        webhook = (
            b"POST /hooks/hubspot HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 400\r\n\r\n"
        )
        login = (
            b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 400\r\n\r\n"
        )
        healthz = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        unread = b"POST /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 400\r\n\r\n"
        cases = {
            "head": (b"", head),
            "silent": (b"", b""),
            # The next request on a kept-alive connection, and the rest of a body the
            # service answered without reading (401: no token).
            "second head": (healthz, head),
            "unread body": (unread, b"x" * 400),
            "webhook body": (webhook, b"[" + b" " * 398),
            "login form": (login, b"token=" + b"x" * 393),
        }
        with concurrent.futures.ThreadPoolExecutor(len(cases)) as pool:
            runs = {name: pool.submit(_drip, port, *case) for name, case in cases.items()}
            results = {name: run.result() for name, run in runs.items()}
        # The server still serves everyone else.
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")
    for name in ("head", "silent"):
        seconds, answer = results[name]
        assert seconds <= HEADER_SECONDS + SLACK, (name, seconds)
        assert answer == b"", name  # nothing to answer: there was no request
    for name, status in (("second head", b"200"), ("unread body", b"401")):
        seconds, answer = results[name]
        assert seconds <= HEADER_SECONDS + SLACK, (name, seconds)
        assert answer.startswith(b"HTTP/1.1 " + status), (name, answer[:80])
    for name in ("webhook body", "login form"):
        seconds, answer = results[name]
        assert seconds <= BODY_SECONDS + SLACK, (name, seconds)
        assert answer.startswith(b"HTTP/1.1 408"), (name, answer[:80])
