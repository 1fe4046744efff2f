"""Client-side pacing for HubSpot's rate limits, so a sync slows down instead of failing.

HubSpot enforces, per portal, a rolling burst window (``X-HubSpot-RateLimit-Max`` calls per
``X-HubSpot-RateLimit-Interval-Milliseconds``, ten seconds), a daily allowance
(``X-HubSpot-RateLimit-Daily`` / ``-Daily-Remaining``) and, for the CRM search endpoints, a
stricter per-second limit. The pacer keeps its own record of when it called, learns the limits
from the answer headers, and sleeps before a call would exceed them. A 429 that still happens
(another integration shares the portal) is waited out per its policy; only the daily policy
ends the cycle, as ``BudgetExhausted``.

Time comes from an injected ``clock`` and waiting goes through an injected ``sleep`` so tests
run instantly.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import structlog

from leadsync.errors import BudgetExhausted

log = structlog.get_logger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], None]

#: The policy names HubSpot puts in a 429 body's ``policyName``.
DAILY_POLICY = "DAILY"


@dataclass(frozen=True, slots=True)
class Throttle:
    """What a 429 answer said: the policy that tripped and how long to wait, when given."""

    policy: str
    retry_after: float | None = None


class RatePacer:
    """Sleeps before a call that would exceed the portal's burst, search or daily limits."""

    def __init__(
        self,
        *,
        clock: Clock,
        sleep: Sleep,
        connector: str,
        max_per_interval: int = 100,
        interval_seconds: float = 10.0,
        search_per_second: float = 4.0,
        daily_reserve: int = 0,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._connector = connector
        self.max_per_interval = max_per_interval
        self.interval_seconds = interval_seconds
        self._search_per_second = search_per_second
        self._daily_reserve = daily_reserve
        self._calls: deque[float] = deque()
        self._search_calls: deque[float] = deque()
        self._server_remaining: int | None = None
        self._server_remaining_at = 0.0
        self.daily_limit: int | None = None
        self.daily_remaining: int | None = None
        self.slept_seconds = 0.0

    # -- before a call -------------------------------------------------------------------------

    def before_call(self, *, search: bool = False) -> None:
        """Wait until one more call fits every known limit, then record it.

        Raises ``BudgetExhausted`` when the daily allowance is down to the configured reserve.
        """
        if self.daily_remaining is not None and self.daily_remaining <= self._daily_reserve:
            raise BudgetExhausted(
                f"daily API allowance down to {self.daily_remaining} "
                f"(api_reserve = {self._daily_reserve}); resuming next cycle",
                connector=self._connector,
            )
        self._wait_for_burst_window()
        if search:
            self._wait_for_search_window()
            self._search_calls.append(self._clock())
        self._calls.append(self._clock())

    def _wait_for_burst_window(self) -> None:
        while True:
            now = self._clock()
            _expire(self._calls, now - self.interval_seconds)
            wait = 0.0
            if len(self._calls) >= self.max_per_interval:
                wait = self._calls[0] + self.interval_seconds - now
            elif self._server_remaining is not None and self._server_remaining <= 0:
                # The portal's window is full. Our oldest call in it frees the next slot; with
                # none of ours in it (other integrations filled it), wait a whole window.
                anchor = self._calls[0] if self._calls else self._server_remaining_at
                wait = anchor + self.interval_seconds - now
                if wait <= 0:
                    self._server_remaining = None
            if wait <= 0:
                return
            self.pause(wait, reason="burst")
            self._server_remaining = None

    def _wait_for_search_window(self) -> None:
        per_second = max(1, int(self._search_per_second))
        window = per_second / self._search_per_second
        while True:
            now = self._clock()
            _expire(self._search_calls, now - window)
            if len(self._search_calls) < per_second:
                return
            self.pause(self._search_calls[0] + window - now, reason="search")

    # -- after a call --------------------------------------------------------------------------

    def observe(self, headers: Mapping[str, str]) -> None:
        """Learn the limits and what is left of them from an answer's headers."""
        lowered = {k.lower(): v for k, v in headers.items()}
        maximum = _int(lowered.get("x-hubspot-ratelimit-max"))
        if maximum:
            self.max_per_interval = maximum
        interval_ms = _int(lowered.get("x-hubspot-ratelimit-interval-milliseconds"))
        if interval_ms:
            self.interval_seconds = interval_ms / 1000.0
        remaining = _int(lowered.get("x-hubspot-ratelimit-remaining"))
        if remaining is not None:
            self._server_remaining = remaining
            self._server_remaining_at = self._clock()
        daily = _int(lowered.get("x-hubspot-ratelimit-daily"))
        if daily is not None:
            self.daily_limit = daily
        daily_remaining = _int(lowered.get("x-hubspot-ratelimit-daily-remaining"))
        if daily_remaining is not None:
            self.daily_remaining = daily_remaining

    def throttled(self, throttle: Throttle) -> None:
        """Wait out a 429. The daily policy cannot be waited out inside a cycle: it raises."""
        self.pause(self.throttle_wait(throttle), reason=throttle.policy.lower() or "429")

    def throttle_wait(self, throttle: Throttle) -> float:
        """Seconds a 429 asks to wait: its ``Retry-After``, else its policy's window. The
        daily policy cannot be waited out inside a cycle: it raises ``BudgetExhausted``."""
        if throttle.policy.upper() == DAILY_POLICY:
            self.daily_remaining = 0
            raise BudgetExhausted(
                "HubSpot's daily API limit is reached; resuming next cycle",
                connector=self._connector,
                status=429,
                retry_after=throttle.retry_after,
            )
        if throttle.retry_after is not None:
            return throttle.retry_after
        return 1.0 if throttle.policy.upper() == "SECONDLY" else self.interval_seconds

    def pause(self, seconds: float, *, reason: str) -> None:
        """Sleep ``seconds`` (a pacing wait, or the retry loop's backoff), counted."""
        if seconds <= 0:
            return
        log.debug("hubspot.pace", connector=self._connector, reason=reason, seconds=seconds)
        self.slept_seconds += seconds
        self._sleep(seconds)


def _expire(calls: deque[float], horizon: float) -> None:
    while calls and calls[0] <= horizon:
        calls.popleft()


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        return None
