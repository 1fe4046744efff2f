"""Network faults below HTTP, for tests: a refused port, a host that never answers, and a
TCP proxy in front of a sandbox that can switch between passing bytes, refusing connections
and swallowing them.

An HTTP sandbox cannot refuse a connection (it has already accepted it) nor stay silent on
a TLS handshake, so these live at the socket level, where the real fault lives.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from types import TracebackType
from typing import Literal

Mode = Literal["pass", "refuse", "silent"]


def closed_port() -> int:
    """A local port nothing listens on: connecting to it is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class SilentServer:
    """Accepts every TCP connection and never sends a byte (nor closes), like a hung host or
    a load balancer whose backends are gone. ``accepted`` counts connections."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.port = int(self._listener.getsockname()[1])
        self.accepted = 0
        self._held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True, name="silent-server")
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.accepted += 1
            self._held.append(conn)

    def close(self) -> None:
        _stop_listening(self._listener)
        for conn in self._held:
            conn.close()

    def __enter__(self) -> SilentServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class FaultProxy:
    """A TCP proxy on a fixed local port in front of ``upstream_port``.

    ``mode("pass")`` relays bytes both ways (TLS passes through untouched); ``mode("refuse")``
    stops listening, so a new connection is refused; ``mode("silent")`` accepts connections and
    never answers. Every switch closes the connections open so far, as a failing host would,
    so a client's pooled keep-alive connection cannot dodge the fault. ``accepted`` counts the
    connections made while silent.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self._listener: socket.socket | None = None
        self.port = 0
        self._mode: Mode = "pass"
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        self.accepted = 0
        self._listen()

    @property
    def url_host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = int(listener.getsockname()[1])
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def mode(self, mode: Mode) -> None:
        with self._lock:
            self._mode = mode
            for conn in self._open:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                conn.close()
            self._open.clear()
            self.accepted = 0
        if mode == "refuse" and self._listener is not None:
            _stop_listening(self._listener)
            self._listener = None
        elif mode != "refuse" and self._listener is None:
            self._listen()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            with self._lock:
                self._open.append(client)
                if self._mode == "silent":
                    self.accepted += 1
                    continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open.append(upstream)
            threading.Thread(target=_relay, args=(client, upstream), daemon=True).start()

    def close(self) -> None:
        self.mode("refuse")


def _stop_listening(listener: socket.socket) -> None:
    # close() alone leaves a socket listening while a thread is blocked in its accept();
    # shutdown() wakes that thread and stops the listening at once.
    with contextlib.suppress(OSError):
        listener.shutdown(socket.SHUT_RDWR)
    listener.close()


def _relay(a: socket.socket, b: socket.socket) -> None:
    pair = {a: b, b: a}
    try:
        while True:
            readable, _, _ = select.select([a, b], [], [], 1.0)
            for sock in readable:
                data = sock.recv(65536)
                if not data:
                    return
                pair[sock].sendall(data)
    except (OSError, ValueError):
        return
    finally:
        for sock in (a, b):
            with contextlib.suppress(OSError):
                sock.close()
