"""The HTTP(S) server loop both sandboxes share.

The stdlib threading server is enough here: one thread per connection, keep-alive, and TLS
with a certificate issued by a throwaway CA (``trustme``) whose PEM file the client trusts.
A sandbox supplies one function, ``answer(method, target, headers, body) -> Answer``; this
module owns sockets, threads, TLS and shutdown.
"""

from __future__ import annotations

import socket
import ssl
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import structlog
import trustme

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class Answer:
    """What the server sends back: status, headers (Content-Length is added) and body."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


#: ``(method, target as sent, headers with lower-case names, body) -> Answer``.
Answerer = Callable[[str, str, dict[str, str], bytes], Answer]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    sys_version = ""
    # Headers and body leave in two writes; with Nagle on, a keep-alive client's delayed ACK
    # held every answer ~40 ms (measured on the HubSpot sandbox: 47 ms a call, 2.8 ms without).
    disable_nagle_algorithm = True
    server: _Server

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        answer = self.server.answer(self.command, self.path, headers, body)
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        if answer.body and self.command != "HEAD":
            self.wfile.write(answer.body)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the stdlib's access log: each sandbox counts its calls in its stats."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # Keep-alive clients may hold a connection open; never wait for them on shutdown.
    block_on_close = False
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        answer: Answerer,
        context: ssl.SSLContext | None,
        server_header: str,
        idle_timeout: float | None,
    ) -> None:
        handler = type(
            "SandboxHandler",
            (_Handler,),
            {"server_version": server_header, "timeout": idle_timeout},
        )
        super().__init__(address, handler)
        self.answer = answer
        self._context = context

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        if self._context is not None:
            # Handshake lazily in the connection's own thread, never in the accept loop: one
            # client that connects and says nothing must not stall everyone else.
            sock = self._context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("sandbox.connection_error", client=str(client_address))


class SandboxServer:
    """``answer`` served on ``host:port`` from a daemon thread; bound on construction.

    With ``tls`` the certificate names ``host``, 127.0.0.1 and localhost, and ``ca_file`` is
    the PEM of the throwaway CA that issued it (removed by ``stop``).
    """

    def __init__(
        self,
        answer: Answerer,
        address: tuple[str, int],
        *,
        tls: bool,
        server_header: str,
        idle_timeout: float | None = None,
    ) -> None:
        host = address[0]
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.ca_file = ""
        context = self._issue_certificate(host) if tls else None
        self._server = _Server(address, answer, context, server_header, idle_timeout)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"sandbox-{server_header}",
            daemon=True,
        )

    def _issue_certificate(self, host: str) -> ssl.SSLContext:
        authority = trustme.CA()
        certificate = authority.issue_cert(*sorted({host, "127.0.0.1", "localhost"}))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        certificate.configure_cert(context)
        self._tmp = tempfile.TemporaryDirectory(prefix="leadsync-sandbox-")
        ca_path = Path(self._tmp.name) / "ca.pem"
        authority.cert_pem.write_to_path(str(ca_path))
        self.ca_file = str(ca_path)
        return context

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop serving, release the port and remove the CA file."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
