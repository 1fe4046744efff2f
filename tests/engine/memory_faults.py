"""Faults the memory CRM's connector can be armed with, one connector call at a time."""

from __future__ import annotations

from dataclasses import dataclass

from leadsync.errors import AuthError, BudgetExhausted, RetriableSyncError, SyncError

#: Fault kinds, and the error each raises (``None``: nothing reaches the engine).
FAULT_KINDS = (
    "timeout",
    "refused",
    "5xx",
    "429",
    "locked",
    "budget",
    "expired",
    "expired_renewed",
    "lost_reply",
)


#: Not a CRM failure: a bug in a connector, which lets a non-``SyncError`` exception escape.
BUG = "bug"


@dataclass(frozen=True, slots=True)
class Fault:
    """A failure armed for one connector call.

    ``after`` pages (of a pull) or calls (of anything else) succeed first, so a pull fails
    part-way: a partial failure. ``lost_reply`` applies the call in the CRM, then loses the
    answer (a timeout after the CRM committed); ``expired_renewed`` is a session expiry the
    connector renews by itself, so the caller sees nothing.
    """

    kind: str
    after: int = 0

    def error(self, connector: str) -> SyncError | None:
        kind = self.kind
        if kind == "expired_renewed":
            return None
        if kind in ("timeout", "lost_reply"):
            return RetriableSyncError("the CRM did not answer in time", connector=connector)
        if kind == "refused":
            return RetriableSyncError(
                "cannot connect to the CRM (ConnectionRefusedError)", connector=connector
            )
        if kind == "5xx":
            return RetriableSyncError(
                "answered 503: SERVER_UNAVAILABLE", connector=connector, status=503
            )
        if kind == "429":
            return RetriableSyncError(
                "answered 429: rate limited", connector=connector, status=429, retry_after=10.0
            )
        if kind == "locked":
            return RetriableSyncError(
                "answered 400: UNABLE_TO_LOCK_ROW: unable to obtain exclusive access",
                connector=connector,
                status=400,
            )
        if kind == "budget":
            return BudgetExhausted(
                "the org's API request limit is exhausted", connector=connector, status=403
            )
        if kind == "expired":
            return AuthError(
                "the session expired and was not renewed; check the connector's credentials",
                connector=connector,
                status=401,
            )
        raise ValueError(f"unknown fault kind {kind!r}; one of {', '.join(FAULT_KINDS)}")


@dataclass(frozen=True, slots=True)
class Fired:
    """A fault that went off: on which call, of what kind, whether the caller saw an error,
    and how many pages (or calls) had succeeded before it."""

    call: str
    kind: str
    raised: bool
    after: int
    #: Which ``pull_people`` call of the cycle it was (1: the cycle's pull; 2: the read of
    #: others' changes before its writes, ``engine.pulls.catch_up``); 0 for other calls.
    nth: int = 0
