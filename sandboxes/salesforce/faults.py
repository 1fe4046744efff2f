"""Injected faults (``POST /_sandbox/faults``): expiry, rate limits, 5xx, row locks, rejections.

Any fault may name an ``endpoint`` (as ``GET /_sandbox/stats`` names them, e.g.
``"PATCH /composite/sobjects"`` or ``"POST /services/oauth2/token"``) to hit only calls to it;
without one it hits the next API call, never the token endpoint. ``http_error`` takes an
optional ``retry_after`` (seconds, sent as ``Retry-After``) and ``code`` (the ``errorCode``).
Faults below HTTP (a refused connection, a host that never answers) are not the sandbox's to
fake: tests put a socket-level proxy in front of it (``tests/netfaults.py``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

KINDS = frozenset(
    {"expire_sessions", "rate_limit", "http_error", "lock_rows", "reject", "delay", "clear"}
)
#: The OAuth token endpoint, hit only by faults that name it.
TOKEN_ENDPOINT = "POST /services/oauth2/token"


class FaultError(ValueError):
    """A fault description the sandbox does not understand; the message says what is allowed."""


@dataclass(slots=True)
class Fault:
    """One armed fault; ``remaining`` calls (or record writes) left before it disarms."""

    kind: str
    remaining: int
    status: int = 503
    seconds: float = 0.0
    object_type: str | None = None
    ids: frozenset[str] = frozenset()
    code: str = "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    message: str = "Rejected by an injected sandbox fault."
    fields: tuple[str, ...] = ()
    endpoint: str | None = None
    retry_after: float | None = None
    #: An ``http_error``'s ``errorCode`` (default: what Salesforce sends with its status).
    error_code: str | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "remaining": self.remaining,
            "status": self.status,
            "seconds": self.seconds,
            "object": self.object_type,
            "ids": sorted(self.ids),
            "code": self.code,
            "endpoint": self.endpoint,
            "retry_after": self.retry_after,
        }

    def hits(self, endpoint: str | None) -> bool:
        """Whether this fault applies to a call to ``endpoint``."""
        if self.endpoint is not None:
            return self.endpoint == endpoint
        return endpoint != TOKEN_ENDPOINT


@dataclass(slots=True)
class FaultBoard:
    """The armed faults; every method is thread-safe."""

    _faults: list[Fault] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def arm(self, spec: dict[str, Any]) -> Fault | None:
        """Arm a fault from its JSON description; ``clear`` disarms all and returns ``None``.

        ``expire_sessions`` is acted on by the caller (it is not a countdown) and returns a
        fault with ``remaining`` 0 for the answer.
        """
        kind = spec.get("kind")
        if kind not in KINDS:
            raise FaultError(f"unknown fault kind {kind!r}; use one of {sorted(KINDS)}")
        if kind == "clear":
            with self._lock:
                self._faults.clear()
            return None
        count = spec.get("count", 1)
        if not isinstance(count, int) or count < 0:
            raise FaultError("'count' must be a non-negative integer")
        fault = Fault(kind, 0 if kind == "expire_sessions" else count)
        endpoint = spec.get("endpoint")
        if endpoint is not None and not isinstance(endpoint, str):
            raise FaultError("'endpoint' must be a string such as 'PATCH /composite/sobjects'")
        fault.endpoint = endpoint
        if kind == "http_error":
            status = spec.get("status", 503)
            if not isinstance(status, int) or not 400 <= status <= 599:
                raise FaultError("'status' must be an HTTP error status (400-599)")
            fault.status = status
            retry_after = spec.get("retry_after")
            if retry_after is not None and (
                not isinstance(retry_after, int | float) or retry_after < 0
            ):
                raise FaultError("'retry_after' must be a non-negative number of seconds")
            fault.retry_after = retry_after
            if "code" in spec:
                fault.error_code = str(spec["code"])
        if kind == "delay":
            seconds = spec.get("seconds")
            if not isinstance(seconds, int | float) or not 0 <= seconds <= 120:
                raise FaultError("'seconds' must be a number between 0 and 120")
            fault.seconds = float(seconds)
        if kind == "reject":
            fault.object_type = spec.get("object")
            fault.ids = frozenset(spec.get("ids") or ())
            fault.code = str(spec.get("code", fault.code))
            fault.message = str(spec.get("message", fault.message))
            fault.fields = tuple(spec.get("fields") or ())
        if fault.remaining:
            with self._lock:
                self._faults.append(fault)
        return fault

    def take(
        self,
        kind: str,
        object_type: str | None = None,
        record_id: str | None = None,
        *,
        endpoint: str | None = None,
    ) -> Fault | None:
        """Consume one use of the first armed fault of ``kind`` that matches, if any."""
        with self._lock:
            for fault in self._faults:
                if fault.kind != kind or not fault.hits(endpoint):
                    continue
                if kind == "reject":
                    if (
                        fault.object_type
                        and fault.object_type.lower() != (object_type or "").lower()
                    ):
                        continue
                    if fault.ids and not _id_in(record_id, fault.ids):
                        continue
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def armed(self) -> list[dict[str, Any]]:
        """The armed faults, for ``GET /_sandbox/faults``."""
        with self._lock:
            return [f.describe() for f in self._faults]


def _id_in(record_id: str | None, ids: frozenset[str]) -> bool:
    if not record_id:
        return False
    return record_id in ids or record_id[:15] in {i[:15] for i in ids}
