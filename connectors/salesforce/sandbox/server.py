"""Serve a sandbox org over HTTPS from a background thread.

The stdlib threading server is enough here: one thread per connection, keep-alive, and TLS
with a certificate issued by a throwaway CA (``trustme``) whose PEM the client trusts.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import structlog
import trustme

from connectors.salesforce.sandbox.app import SandboxApi
from connectors.salesforce.sandbox.auth import Credentials
from connectors.salesforce.sandbox.org import OrgState
from connectors.salesforce.sandbox.protocol import Request

log = structlog.get_logger(__name__)

#: Salesforce's documented cap on a REST call's URI and headers together (bytes): past it the
#: edge answers 431, and 414 when the URI alone is longer, before the API sees the call (so it
#: is not counted as one). A long SOQL query in a GET's ``q`` is what reaches it.
URI_AND_HEADERS_LIMIT = 16_384


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "SFDC"
    sys_version = ""
    api: SandboxApi

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self._too_large():
            return
        split = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=split.path,
            params=dict(parse_qsl(split.query, keep_blank_values=True)),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        response = self.api.handle(request)
        self.send_response(response.status)
        for key, value in response.headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = _serve

    def _too_large(self) -> bool:
        """Answer 414 / 431 as Salesforce's edge does (an HTML page, no JSON); True if so."""
        uri = len(self.path.encode("latin-1", "replace"))
        headers = sum(len(k) + len(v) + 4 for k, v in self.headers.items())
        if uri + headers <= URI_AND_HEADERS_LIMIT:
            return False
        status, reason = (
            (414, "URI Too Long")
            if uri > URI_AND_HEADERS_LIMIT
            else (431, "Request Header Fields Too Large")
        )
        page = f"<h1>Bad Message {status}</h1><pre>reason: {reason}</pre>".encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html;charset=iso-8859-1")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)
        return True

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the stdlib's stderr access log; the API keeps counts in its stats."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self, address: tuple[str, int], handler: type[_Handler], context: ssl.SSLContext | None
    ) -> None:
        super().__init__(address, handler)
        self._context = context

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        if self._context is not None:
            # Handshake lazily in the connection's own thread, never in the accept loop.
            sock = self._context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("salesforce_sandbox.connection_error", client=str(client_address))


class SalesforceSandbox:
    """A running sandbox: ``with SalesforceSandbox(org) as sb: ... sb.url ...``.

    ``sb.url`` is both the instance URL and the login URL (token endpoint base). Credentials
    for every OAuth flow are generated per instance; ``sb.org`` is the live state.
    """

    def __init__(
        self,
        org: OrgState,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        tls: bool = True,
        api_daily_limit: int = 1_000_000,
        session_ttl: float = 7200.0,
    ) -> None:
        self.org = org
        self.host = host
        self._requested_port = port
        self.tls = tls
        self.credentials = Credentials.generate()
        self.api = SandboxApi(
            org, self.credentials, api_daily_limit=api_daily_limit, session_ttl=session_ttl
        )
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._tmp: Path | None = None
        self.ca_file = ""
        self.url = ""

    # --- credentials ----------------------------------------------------------------------
    @property
    def client_id(self) -> str:
        return self.credentials.client_id

    @property
    def client_secret(self) -> str:
        return self.credentials.client_secret

    @property
    def username(self) -> str:
        return self.credentials.username

    @property
    def password(self) -> str:
        return self.credentials.password

    @property
    def security_token(self) -> str:
        return self.credentials.security_token

    @property
    def refresh_token(self) -> str:
        return self.credentials.refresh_token

    @property
    def jwt_private_key_pem(self) -> str:
        return self.credentials.jwt_private_key_pem

    @property
    def port(self) -> int:
        return self._server.server_address[1] if self._server else self._requested_port

    # --- lifecycle --------------------------------------------------------------------------
    def start(self) -> SalesforceSandbox:
        """Bind, issue the TLS certificate and serve in a daemon thread."""
        if self._server is not None:
            return self
        context = None
        self._tmp = Path(tempfile.mkdtemp(prefix="sf-sandbox-"))
        if self.tls:
            authority = trustme.CA()
            names = sorted({self.host, "127.0.0.1", "localhost"})
            certificate = authority.issue_cert(*names)
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            certificate.configure_cert(context)
            ca_path = self._tmp / "ca.pem"
            authority.cert_pem.write_to_path(str(ca_path))
            self.ca_file = str(ca_path)
        handler = type("BoundHandler", (_Handler,), {"api": self.api})
        self._server = _Server((self.host, self._requested_port), handler, context)
        scheme = "https" if self.tls else "http"
        self.url = f"{scheme}://{self.host}:{self.port}"
        self.api.base_url = self.url
        self.api.bulk.start()
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="sf-sandbox-http",
            daemon=True,
        )
        self._thread.start()
        log.info("salesforce_sandbox.started", url=self.url)
        return self

    def stop(self) -> None:
        """Stop serving, release the port and remove the temporary CA file."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.api.bulk.stop()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
        log.info("salesforce_sandbox.stopped", url=self.url)

    def __enter__(self) -> SalesforceSandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- control ------------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """Calls by endpoint; the same as ``GET /_sandbox/stats``."""
        return self.api.stats()

    def reset_stats(self) -> None:
        """The same as ``POST /_sandbox/stats/reset``."""
        self.api.reset_stats()

    def inject(self, fault: dict[str, Any]) -> dict[str, Any]:
        """Arm a fault; the same as ``POST /_sandbox/faults``."""
        return self.api.inject(fault)

    def access_token(self) -> str:
        """A fresh valid access token, for tests and tools that skip the OAuth dance."""
        return self.api.sessions.issue(self.org.org_id)
