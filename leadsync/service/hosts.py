"""Which ``Host`` names the service answers to, so DNS rebinding cannot reach the dashboard.

A page on ``evil.example`` can re-point its own name at 127.0.0.1 and then read, as its own
origin, whatever a tokenless loopback dashboard serves (the browser sends
``Host: evil.example``). Answering only to the names the service is reached by closes that.

* Without a token: the loopback names, the bound address, and ``[service] allowed_hosts``.
* With a token: the same when ``allowed_hosts`` is set; when it is not, any host. A rebinding
  page has no credentials to send: the bearer token is never sent by a browser on its own,
  and the session cookie belongs to the name the operator signed in on, not to the page's.
* The probes answer any ``Host``: a kubelet sends the pod IP, and they reveal nothing.

Refused requests get starlette's ``400 Invalid host header`` and a ``service.host_refused``
log line naming the host, so the fix (add it to ``allowed_hosts``) is findable.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import structlog
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from leadsync.service.names import LOOPBACK_HOSTS, PROBES

log = structlog.get_logger(__name__)

_UNSPECIFIED = {"", "0.0.0.0", "::"}
_PASSED = "leadsync.host_ok"


def served_hosts(bind: str, configured: Sequence[str], has_token: bool) -> tuple[str, ...] | None:
    """The ``Host`` names to answer to (``None``: any), from ``[service]``'s values."""
    if "*" in configured or (has_token and not configured):
        return None
    hosts = list(LOOPBACK_HOSTS)
    if bind not in _UNSPECIFIED:
        try:
            address = ipaddress.ip_address(bind)
            hosts.append(f"[{address}]" if address.version == 6 else str(address))
        except ValueError:
            hosts.append(bind.lower())
    hosts.extend(configured)
    return tuple(dict.fromkeys(hosts))


class HostGuard:
    """Refuses (400) a request whose ``Host`` is not served, except the probes'."""

    def __init__(self, app: ASGIApp, hosts: Sequence[str] | None) -> None:
        self._app = app
        self._checked = TrustedHostMiddleware(
            self._through, allowed_hosts=hosts, www_redirect=False
        )

    async def _through(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope[_PASSED] = True
        await self._app(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PROBES:
            await self._app(scope, receive, send)
            return
        await self._checked(scope, receive, send)
        if not scope.get(_PASSED):
            headers = dict(scope["headers"])
            client = scope.get("client")
            log.warning(
                "service.host_refused",
                host=headers.get(b"host", b"").decode("latin-1")[:200],
                path=scope["path"],
                client=client[0] if client else None,
                fix="add the name to [service] allowed_hosts if the service is reached by it",
            )
