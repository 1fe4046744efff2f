"""The service's URL paths and the host names it answers to, as plain values.

The app routes these paths and the config keeps ``[service] webhook_path`` off them (a
webhook on ``/`` would have made the overview page public); both read them from here so they
cannot drift. Nothing here imports the web stack, so the config can use it.
"""

from __future__ import annotations

import ipaddress
import re

HEALTHZ = "/healthz"
READYZ = "/readyz"
METRICS = "/metrics"
#: Orchestrators call these without credentials and with any Host (a kubelet sends the pod IP).
PROBES = frozenset({HEALTHZ, READYZ})
LOGIN = "/login"
LOGOUT = "/logout"
STATIC = "/static"
#: The dashboard's pages and actions.
UNREADABLE = "/unreadable"
DASHBOARD = (
    "/", "/cycles", "/rejected", "/rejected/retry", "/handoffs", "/backfills", "/report",
    UNREADABLE,
)  # fmt: skip
#: Every path the app routes besides the webhook (``STATIC`` with everything under it).
TAKEN = (*DASHBOARD, LOGIN, LOGOUT, HEALTHZ, READYZ, METRICS, STATIC)

#: What the service answers to whatever it is bound to: the loopback names.
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")

#: Segments may not start with a dot, so no ``.`` or ``..`` (a proxy would resolve them).
_PLAIN_PATH = re.compile(r"(/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)+")
_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")


def path_problem(path: str) -> str | None:
    """Why ``path`` cannot be the webhook path, or ``None`` (``path`` without a trailing /)."""
    if path in TAKEN or path.startswith(STATIC + "/"):
        return (
            f"{path} is already served by the dashboard or a probe; choose another path "
            f"(taken: {', '.join(TAKEN)} and everything under {STATIC}/)"
        )
    if not _PLAIN_PATH.fullmatch(path):
        return (
            "must be a plain URL path: / then letters, digits, '-', '_', '.', '~' "
            "(e.g. /webhooks/hubspot), no query, fragment, '..' or percent-encoding"
        )
    return None


def normalise_host(entry: str) -> str:
    """``entry`` as the Host check compares it: lower case, IPv6 in brackets.

    ``ValueError`` when the service could never match it: a port, a scheme, a path, a
    malformed name or a wildcard other than a leading ``*.`` (``*`` alone means any host).
    """
    host = entry.strip().lower()
    if host == "*":
        return host
    try:
        address = ipaddress.ip_address(host.removeprefix("[").removesuffix("]"))
    except ValueError:
        address = None
    if address is not None:
        return f"[{address}]" if address.version == 6 else str(address)
    name = host.removeprefix("*.")
    labels = name.split(".")
    if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise ValueError(
            f"{entry!r} is not a host name; give names like leadsync.example.com or "
            "*.example.com, or IP addresses, without scheme, port or path"
        )
    return host
