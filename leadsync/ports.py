"""Claiming a TCP port up front, so a server that cannot listen says so before it does anything.

``leadsync run`` and ``leadsync sandbox`` both take their ports first: a port taken by another
process ends the start with ``AddressInUse`` (one line, exit 6) before a store is opened, a
CRM called or a large org generated.
"""

from __future__ import annotations

import errno
import socket

from leadsync.errors import AddressInUse

_WHY = {
    errno.EADDRINUSE: "another process listens on it",
    errno.EACCES: "ports below 1024 need privileges this process lacks",
}


def listening_socket(host: str, port: int, *, remedy: str) -> socket.socket:
    """A socket listening on ``host``:``port`` (for ``uvicorn.Server.run(sockets=)``).

    Taken, or privileged, raises ``AddressInUse`` naming the address and ``remedy`` (what the
    user changes: a setting, an option)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    # As uvicorn and the sandboxes do: a port a previous run left in TIME_WAIT is free.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        # Listen now: a socket merely bound with SO_REUSEADDR does not keep a second one out.
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        why = _WHY.get(exc.errno or 0)
        if why is None:
            raise
        raise AddressInUse(f"cannot listen on {host}:{port}: {why}; {remedy}") from exc
    return sock
