"""HubSpot's API limits and the sandbox's injected faults.

Private apps get a ten-second rolling burst limit and a daily limit, both reported on every
answer in ``X-HubSpot-RateLimit-*`` headers. The CRM search endpoints have their own
per-second limit and answer without those headers. Going over answers 429 with
``errorType: RATE_LIMIT`` and the ``policyName`` of the limit that was hit.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sandboxes.hubspot.http import ApiError

TEN_SECONDS = 10.0

_POLICY_MESSAGES = {
    "TEN_SECONDLY_ROLLING": "You have reached your ten_secondly_rolling limit.",
    "DAILY": "You have reached your daily limit.",
    "SECONDLY": "You have reached your secondly limit.",
}


def rate_limit_error(policy: str, headers: dict[str, str] | None = None) -> ApiError:
    """The 429 HubSpot answers when ``policy`` is exhausted."""
    return ApiError(
        429,
        "",
        _POLICY_MESSAGES[policy],
        extra={"errorType": "RATE_LIMIT", "policyName": policy},
        headers=headers,
    )


class RateLimiter:
    """Rolling ten-second burst, per-second search and daily allowance for one access token."""

    def __init__(
        self,
        per_10s: int,
        daily: int,
        search_per_s: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_10s = per_10s
        self.daily = daily
        self.search_per_s = search_per_s
        self._clock = clock
        self._lock = threading.Lock()
        self._burst: deque[float] = deque()
        self._search: deque[float] = deque()
        self._day = _today()
        self._used_today = 0

    def admit(self, *, search: bool) -> dict[str, str]:
        """Count one call; return the headers to send, or raise the 429 for the limit hit."""
        with self._lock:
            now = self._clock()
            if _today() != self._day:
                self._day, self._used_today = _today(), 0
            while self._burst and now - self._burst[0] >= TEN_SECONDS:
                self._burst.popleft()
            while self._search and now - self._search[0] >= 1.0:
                self._search.popleft()
            if self._used_today >= self.daily:
                raise rate_limit_error("DAILY", None if search else self._headers())
            if search:
                if len(self._search) >= self.search_per_s:
                    raise rate_limit_error("SECONDLY")
                self._search.append(now)
                self._used_today += 1
                return {}
            if len(self._burst) >= self.per_10s:
                raise rate_limit_error("TEN_SECONDLY_ROLLING", self._headers())
            self._burst.append(now)
            self._used_today += 1
            return self._headers()

    def headers(self) -> dict[str, str]:
        with self._lock:
            return self._headers()

    def _headers(self) -> dict[str, str]:
        secondly = max(1, self.per_10s // 10)
        now = self._clock()
        last_second = sum(1 for t in self._burst if now - t < 1.0)
        return {
            "X-HubSpot-RateLimit-Daily": str(self.daily),
            "X-HubSpot-RateLimit-Daily-Remaining": str(max(0, self.daily - self._used_today)),
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(TEN_SECONDS * 1000)),
            "X-HubSpot-RateLimit-Max": str(self.per_10s),
            "X-HubSpot-RateLimit-Remaining": str(max(0, self.per_10s - len(self._burst))),
            "X-HubSpot-RateLimit-Secondly": str(secondly),
            "X-HubSpot-RateLimit-Secondly-Remaining": str(max(0, secondly - last_second)),
        }

    def usage(self) -> dict[str, int]:
        with self._lock:
            return {"daily_used": self._used_today, "daily_limit": self.daily}


def _today() -> str:
    return datetime.now(UTC).date().isoformat()


FAULT_KINDS = ("expire_token", "rate_limit", "http_error", "reject", "delay", "clear")


@dataclass(slots=True)
class Fault:
    kind: str
    #: calls left to affect; ``None`` until cleared.
    remaining: int | None
    spec: dict[str, Any] = field(default_factory=dict)


class Faults:
    """Faults injected through ``POST /_sandbox/faults``, consumed by the calls they hit."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active: list[Fault] = []

    def inject(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Validate and register a fault; ``clear`` removes all. Returns the active list."""
        kind = spec.get("kind")
        if kind not in FAULT_KINDS:
            raise ApiError.validation(f"kind must be one of {', '.join(FAULT_KINDS)}, got {kind!r}")
        if kind == "clear":
            with self._lock:
                self._active.clear()
            return self.describe()
        count = spec.get("count")
        if count is not None and (not isinstance(count, int) or count < 1):
            raise ApiError.validation("count must be a positive integer")
        if kind == "rate_limit" and spec.get("policy", "TEN_SECONDLY_ROLLING") not in (
            "TEN_SECONDLY_ROLLING",
            "DAILY",
            "SECONDLY",
        ):
            raise ApiError.validation("policy must be TEN_SECONDLY_ROLLING, DAILY or SECONDLY")
        if kind == "http_error" and not (
            isinstance(spec.get("status"), int) and 400 <= spec["status"] <= 599
        ):
            raise ApiError.validation("http_error needs a status between 400 and 599")
        if kind == "delay" and not isinstance(spec.get("seconds"), int | float):
            raise ApiError.validation("delay needs seconds (a number)")
        retry_after = spec.get("retry_after")
        if retry_after is not None and (
            kind not in ("rate_limit", "http_error")
            or not isinstance(retry_after, int | float)
            or retry_after < 0
        ):
            raise ApiError.validation(
                "retry_after (seconds, sent as Retry-After) is a non-negative number, for "
                "rate_limit and http_error faults"
            )
        if kind == "reject" and not (
            isinstance(spec.get("ids"), list) and all(isinstance(i, str | int) for i in spec["ids"])
        ):
            raise ApiError.validation("reject needs ids: a list of object ids")
        # expire_token and reject hold until cleared unless a count is given; the rest hit once.
        default = None if kind in ("expire_token", "reject") else 1
        with self._lock:
            self._active.append(Fault(kind, count if count is not None else default, dict(spec)))
        return self.describe()

    def take(self, kind: str) -> Fault | None:
        """The oldest active fault of ``kind``, counting this call against it."""
        with self._lock:
            for fault in self._active:
                if fault.kind == kind:
                    self._consume(fault)
                    return fault
        return None

    def rejection(self, object_id: str) -> dict[str, Any] | None:
        """The ``reject`` fault that names ``object_id``, counted as used, if any."""
        with self._lock:
            for fault in self._active:
                if fault.kind == "reject" and object_id in {str(i) for i in fault.spec["ids"]}:
                    self._consume(fault)
                    return fault.spec
        return None

    def _consume(self, fault: Fault) -> None:
        if fault.remaining is not None:
            fault.remaining -= 1
            if fault.remaining <= 0:
                self._active.remove(fault)

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {
                "active": [{**f.spec, "remaining": f.remaining} for f in self._active],
            }
