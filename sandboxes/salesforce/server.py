"""Serve a sandbox org over HTTPS from a background thread (``sandboxes.serving``)."""

from __future__ import annotations

from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import structlog

from sandboxes.salesforce.app import SandboxApi
from sandboxes.salesforce.auth import Credentials
from sandboxes.salesforce.org import OrgState
from sandboxes.salesforce.protocol import Request
from sandboxes.serving import Answer, Answerer, SandboxServer

log = structlog.get_logger(__name__)

#: Salesforce's documented cap on a REST call's URI and headers together (bytes): past it the
#: edge answers 431, and 414 when the URI alone is longer, before the API sees the call (so it
#: is not counted as one). A long SOQL query in a GET's ``q`` is what reaches it.
URI_AND_HEADERS_LIMIT = 16_384


def _answer(api: SandboxApi) -> Answerer:
    def answer(method: str, target: str, headers: dict[str, str], body: bytes) -> Answer:
        too_large = _too_large(target, headers)
        if too_large is not None:
            return too_large
        split = urlsplit(target)
        request = Request(
            method=method,
            path=split.path,
            params=dict(parse_qsl(split.query, keep_blank_values=True)),
            headers=headers,
            body=body,
        )
        response = api.handle(request)
        return Answer(response.status, dict(response.headers), response.body)

    return answer


def _too_large(target: str, headers: dict[str, str]) -> Answer | None:
    """414 / 431 as Salesforce's edge answers them (an HTML page, no JSON), or None."""
    uri = len(target.encode("latin-1", "replace"))
    size = sum(len(k) + len(v) + 4 for k, v in headers.items())
    if uri + size <= URI_AND_HEADERS_LIMIT:
        return None
    status, reason = (
        (414, "URI Too Long")
        if uri > URI_AND_HEADERS_LIMIT
        else (431, "Request Header Fields Too Large")
    )
    page = f"<h1>Bad Message {status}</h1><pre>reason: {reason}</pre>".encode()
    return Answer(status, {"Content-Type": "text/html;charset=iso-8859-1"}, page)


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
        self._server: SandboxServer | None = None
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
        return self._server.port if self._server else self._requested_port

    # --- lifecycle --------------------------------------------------------------------------
    def start(self) -> SalesforceSandbox:
        """Bind, issue the TLS certificate and serve in a daemon thread."""
        if self._server is not None:
            return self
        self._server = SandboxServer(
            _answer(self.api),
            (self.host, self._requested_port),
            tls=self.tls,
            server_header="SFDC",
        )
        self.ca_file = self._server.ca_file
        scheme = "https" if self.tls else "http"
        self.url = f"{scheme}://{self.host}:{self.port}"
        self.api.base_url = self.url
        self.api.bulk.start()
        self._server.start()
        log.info("salesforce_sandbox.started", url=self.url)
        return self

    def stop(self) -> None:
        """Stop serving, release the port and remove the temporary CA file."""
        if self._server is not None:
            self._server.stop()
            self._server = None
        self.api.bulk.stop()
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
