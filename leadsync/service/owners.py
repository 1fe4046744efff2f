"""Owner names for the dashboard: the CRMs' users and queues, read now and then.

The store keeps owners by CRM id (what the CRM takes); ``leadsync explain`` shows names
because routing wrote them into each decision's words. The dashboard's tables show every
hand-off's owner, so they ask the CRM (``Connector.users()``, the call routing makes) once
per ``ttl`` and fall back to the id while a CRM cannot answer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Protocol

import structlog

from leadsync.records import CrmUser

log = structlog.get_logger(__name__)

#: How long a CRM's user list is used before it is read again.
NAMES_SECONDS = 600.0
#: After a failed read, how long the ids are shown before the CRM is asked again.
RETRY_SECONDS = 60.0


class HasUsers(Protocol):
    def users(self) -> list[CrmUser]: ...


class OwnerNames:
    """``{CRM id: name}`` per connector, cached; safe to call from several threads."""

    def __init__(
        self,
        sources: Mapping[str, HasUsers],
        ttl: float = NAMES_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sources = sources
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        #: connector -> (when it may be read again, its names)
        self._names: dict[str, tuple[float, dict[str, str]]] = {}

    def of(self, connector: str) -> dict[str, str]:
        """The names of ``connector``'s users and queues (empty when it cannot say)."""
        source = self._sources.get(connector)
        if source is None:
            return {}
        with self._lock:
            cached = self._names.get(connector)
            if cached is not None and self._clock() < cached[0]:
                return cached[1]
            try:
                names = {user.id: user.name for user in source.users() if user.name}
                until = self._clock() + self._ttl
            except Exception as exc:  # the page shows ids; the CRM's problem is logged
                log.warning(
                    "dashboard.owner_names_unavailable", connector=connector, error=str(exc)
                )
                names = cached[1] if cached is not None else {}
                until = self._clock() + RETRY_SECONDS
            self._names[connector] = (until, names)
            return names
