"""The HTTP edge of the Salesforce connector: one session, one retry policy, one translation.

``SalesforceSession`` is the ``requests.Session`` every simple-salesforce call (REST, Bulk 2.0,
Tooling) goes through. It owns the access token: it stamps the current token on every request
to the instance, renews it once on ``401 INVALID_SESSION_ID`` and resends, so an expired
session is healed the same way for REST and Bulk calls (simple-salesforce's bulk2 handler
copies its headers at creation and would otherwise keep sending the dead token). A response
hook counts calls by endpoint and reads ``Sforce-Limit-Info`` on every answer.

Every request carries explicit connect and read timeouts (:class:`Timeouts`); requests'
own adapter does not retry (``max_retries`` 0), and simple-salesforce retries nothing.
``RetryPolicy`` + :func:`call` are the one retry loop on the Salesforce path; :func:`translate`
is the one place simple-salesforce and requests exceptions become ``leadsync.errors``.
"""

from __future__ import annotations

import random
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlparse

import requests
import structlog
import tenacity
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceError,
)

from leadsync.errors import (
    AuthError,
    BudgetExhausted,
    FatalSyncError,
    LeadSyncError,
    RetriableSyncError,
    SyncError,
)
from leadsync.records import ApiUsage

log = structlog.get_logger(__name__)

T = TypeVar("T")

#: Record- or request-level error codes that answer differently a moment later.
TRANSIENT_CODES = frozenset(
    {"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE", "REQUEST_RUNNING_TOO_LONG", "QUERY_TIMEOUT"}
)

#: Bulk API 2.0 transfers: result pages and ingest uploads / result files (long reads).
_BULK_TRANSFER = re.compile(
    r"/jobs/(?:query|ingest)/[^/]+/"
    r"(?:results|batches|successfulResults|failedResults|unprocessedrecords)(?:$|[/?])"
)
#: After a host proved unreachable, further calls fail at once for this long instead of each
#: paying the connect timeout again: the rest of the cycle's steps (actions, writes) find the
#: host down in microseconds, and the next cycle (minutes later) tries it afresh.
UNREACHABLE_HOLD_SECONDS = 30.0

_LIMIT_INFO = re.compile(r"(?:^|[;,\s])api-usage=(?P<used>\d+)/(?P<limit>\d+)")
_VERSIONED = re.compile(r"^/services/data/v\d+\.\d+/")
_ID_SEGMENT = re.compile(r"^(?=[A-Za-z0-9]*\d)[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?(?:-\d+)?$")


def endpoint_name(method: str, url: str) -> str:
    """``PATCH composite/sobjects``, ``GET jobs/ingest/{id}``: a stable key for counting."""
    path = urlparse(url).path
    path = _VERSIONED.sub("", path).strip("/")
    if path.startswith("services/"):
        path = path[len("services/") :]
    parts = ["{id}" if _ID_SEGMENT.match(p) else p for p in path.split("/") if p]
    return f"{method.upper()} {'/'.join(parts)}"


def parse_limit_info(header: str) -> tuple[int, int] | None:
    """``api-usage=18/15000`` -> ``(18, 15000)``; None when the header names no api-usage."""
    match = _LIMIT_INFO.search(header)
    if not match:
        return None
    return int(match.group("used")), int(match.group("limit"))


def error_codes(content: Any) -> list[tuple[str, str]]:
    """``(errorCode, message)`` pairs from a Salesforce error body (a list of error objects)."""
    items = content if isinstance(content, list) else [content]
    pairs = []
    for item in items:
        if isinstance(item, dict):
            code = item.get("errorCode") or item.get("statusCode") or item.get("error") or ""
            message = item.get("message") or item.get("error_description") or ""
            pairs.append((str(code), str(message)))
    return pairs


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds to connect (TCP and TLS handshake) and to wait for each read of an answer;
    Bulk transfers read with ``bulk`` (see ``SalesforceSettings.bulk_timeout_seconds``)."""

    connect: float
    read: float
    bulk: float

    def for_url(self, url: str) -> tuple[float, float]:
        """The ``(connect, read)`` pair requests takes, for a request to ``url``."""
        bulk = _BULK_TRANSFER.search(urlparse(url).path) is not None
        return (self.connect, self.bulk if bulk else self.read)


class SalesforceSession(requests.Session):
    """A session bound to one org: token stamping, one renewal per refused call, accounting."""

    def __init__(
        self,
        *,
        connector: str,
        verify: str | bool,
        timeouts: Timeouts,
        renew: Callable[[], str] | None,
    ) -> None:
        super().__init__()
        self.verify = verify
        self.connector = connector
        self.timeouts = timeouts
        #: Until when (``time.monotonic()``) the host counts as unreachable, and why.
        self.down_until = 0.0
        self.down_error: HostUnreachable | None = None
        self.instance_url = ""
        self.access_token = ""
        self._renew = renew
        self.calls: Counter[str] = Counter()
        self.used: int | None = None
        self.limit: int | None = None
        self.last_retry_after: float | None = None
        self.hooks["response"].append(self._observe)

    def bind(self, instance_url: str, access_token: str) -> None:
        """Use this token for every request to ``instance_url``."""
        self.instance_url = instance_url.rstrip("/")
        self.access_token = access_token

    def request(  # type: ignore[override]
        self, method: str, url: str, *args: Any, **kwargs: Any
    ) -> requests.Response:
        # Never without a timeout: requests' default waits forever on a silent host.
        kwargs.setdefault("timeout", self.timeouts.for_url(url))
        # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override Session.verify; the
        # configured ca_bundle must win, so pass it on every request.
        kwargs.setdefault("verify", self.verify)
        to_instance = bool(self.instance_url) and url.startswith(self.instance_url + "/")
        if to_instance and "/services/oauth2/token" not in url:
            headers = dict(kwargs.pop("headers", None) or {})
            headers["Authorization"] = f"Bearer {self.access_token}"
            kwargs["headers"] = headers
            response = super().request(method, url, *args, **kwargs)
            if response.status_code == 401 and self._renew and _is_invalid_session(response):
                log.info("salesforce.session.renew", endpoint=endpoint_name(method, url))
                self.access_token = self._renew()
                headers["Authorization"] = f"Bearer {self.access_token}"
                response = super().request(method, url, *args, **kwargs)
            return response
        return super().request(method, url, *args, **kwargs)

    def _observe(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.calls[endpoint_name(response.request.method or "GET", response.url)] += 1
        info = response.headers.get("Sforce-Limit-Info")
        if info:
            parsed = parse_limit_info(info)
            if parsed:
                self.used, self.limit = parsed
        retry_after = response.headers.get("Retry-After")
        self.last_retry_after = _seconds(retry_after) if retry_after else None

    def remaining(self) -> int | None:
        """Daily API calls left according to the last ``Sforce-Limit-Info`` seen."""
        if self.used is None or self.limit is None:
            return None
        return self.limit - self.used

    def usage(self) -> ApiUsage:
        return ApiUsage(
            calls=sum(self.calls.values()),
            calls_by_endpoint=dict(self.calls),
            remaining=self.remaining(),
            limit=self.limit,
        )


def _is_invalid_session(response: requests.Response) -> bool:
    try:
        body = response.json()
    except ValueError:
        return False
    return any(code == "INVALID_SESSION_ID" for code, _ in error_codes(body))


def _seconds(value: str) -> float | None:
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


class HostUnreachable(RetriableSyncError):
    """No answer at all: the connection was refused or reset, the name did not resolve, or
    the host stayed silent past a timeout. ``timed_out`` tells the two apart: a timeout has
    already cost a whole timeout, so it is not retried inside the call."""

    def __init__(self, message: str, *, connector: str, timed_out: bool) -> None:
        self.detail = message
        self.timed_out = timed_out
        super().__init__(message, connector=connector)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How one call is retried; the only retry loop on the Salesforce path (:func:`call`).

    * An answer worth another try (429, 5xx, a transient error code such as a locked row):
      up to ``attempts`` tries, exponential backoff with full jitter, ``Retry-After`` honoured;
      a ``Retry-After`` longer than ``max_wait`` is not slept through inside a cycle: the call
      gives up at once and the error carries it.
    * A refused or reset connection, a failed DNS lookup: up to ``connect_attempts`` tries a
      moment apart (each fails in milliseconds; a restarting host gets a second chance).
    * A timeout: no second try. It already cost a full timeout; the next cycle tries again.
    """

    attempts: int = 6
    connect_attempts: int = 3
    initial_wait: float = 0.5
    max_wait: float = 30.0

    @classmethod
    def from_settings(cls, max_retries: int, connect_retries: int) -> RetryPolicy:
        """``max_retries`` retries of an answer, ``connect_retries`` of no connection."""
        return cls(attempts=max_retries + 1, connect_attempts=connect_retries + 1)

    def gives_up(self, attempt: int, exc: BaseException | None) -> bool:
        """Whether ``attempt`` (counting from 1), failed with ``exc``, is the last."""
        if isinstance(exc, HostUnreachable):
            return exc.timed_out or attempt >= min(self.connect_attempts, self.attempts)
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None and retry_after > self.max_wait:
            return True
        return attempt >= self.attempts

    def backoff(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before attempt ``attempt + 1`` (``attempt`` counts from 1)."""
        if retry_after is not None:
            return min(retry_after, self.max_wait)
        ceiling = min(self.max_wait, self.initial_wait * (2 ** (attempt - 1)))
        return random.uniform(0, ceiling)


def retrying(
    policy: RetryPolicy, *, sleep: Callable[[float], None] | None = None
) -> tenacity.Retrying:
    """The tenacity loop for one call: retries ``RetriableSyncError`` except a spent budget."""

    def wait(state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        return policy.backoff(state.attempt_number, retry_after)

    def stop(state: tenacity.RetryCallState) -> bool:
        exc = state.outcome.exception() if state.outcome else None
        return policy.gives_up(state.attempt_number, exc)

    def before_sleep(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "salesforce.retry",
            attempt=state.attempt_number,
            error=type(exc).__name__,
            status=getattr(exc, "status", None),
            wait=round(state.upcoming_sleep, 2),
        )

    kwargs: dict[str, Any] = {}
    if sleep is not None:
        kwargs["sleep"] = sleep
    return tenacity.Retrying(
        stop=stop,
        wait=wait,
        retry=tenacity.retry_if_exception(
            lambda e: isinstance(e, RetriableSyncError) and not isinstance(e, BudgetExhausted)
        ),
        before_sleep=before_sleep,
        reraise=True,
        **kwargs,
    )


def translate(
    exc: BaseException, *, connector: str, retry_after: float | None = None
) -> LeadSyncError:
    """Turn a simple-salesforce / requests exception into the ``leadsync.errors`` tree."""
    if isinstance(exc, LeadSyncError):
        return exc
    if isinstance(exc, SalesforceAuthenticationFailed):
        return AuthError(f"Salesforce refused the login: {exc.auth_message}", connector=connector)
    if isinstance(exc, SalesforceError):
        return _from_status(exc.status, exc.content, exc.resource_name, connector, retry_after)
    if isinstance(exc, requests.exceptions.SSLError) and "certificate" in str(exc).lower():
        return FatalSyncError(
            f"TLS with {_host(exc)} failed ({_reason(exc)}); if a proxy or private CA signs its "
            f"certificate, set connectors.{connector}.ca_bundle to that CA's PEM file",
            connector=connector,
        )
    if isinstance(exc, requests.Timeout | requests.ConnectionError):
        return unreachable(exc, connector)
    if isinstance(exc, requests.RequestException):
        return RetriableSyncError(f"HTTP failure: {type(exc).__name__}", connector=connector)
    message = str(exc) or type(exc).__name__
    return FatalSyncError(f"unexpected Salesforce client failure: {message}", connector=connector)


def unreachable(exc: requests.RequestException, connector: str) -> HostUnreachable:
    """A connection-level failure, named by host, with what to check."""
    host = _host(exc)
    timed_out = isinstance(exc, requests.Timeout)
    if timed_out:
        what = "did not answer in time"
    elif _caused_by(exc, "NameResolutionError"):
        what = "has a name DNS cannot resolve"
    elif _caused_by(exc, "NewConnectionError"):
        what = "refused the connection"
    else:
        what = f"dropped the connection ({_reason(exc)})"
    return HostUnreachable(
        f"Salesforce at {host} {what}; check connectors.{connector}.login_url and "
        f"instance_url, DNS, the firewall or proxy on the way, and https://status.salesforce.com "
        f"(the next cycle retries)",
        connector=connector,
        timed_out=timed_out,
    )


def _host(exc: requests.RequestException) -> str:
    request = getattr(exc, "request", None)
    url = getattr(request, "url", None) or ""
    netloc = urlparse(url).netloc
    if netloc:
        return netloc
    pool = getattr(_urllib3_error(exc), "pool", None)
    return f"{pool.host}:{pool.port}" if pool is not None else "the configured host"


def _urllib3_error(exc: BaseException) -> BaseException | None:
    inner = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else None
    return getattr(inner, "reason", None) or inner


def _caused_by(exc: BaseException, name: str) -> bool:
    inner = _urllib3_error(exc)
    return inner is not None and any(cls.__name__ == name for cls in type(inner).__mro__)


def _reason(exc: BaseException) -> str:
    inner = _urllib3_error(exc)
    return type(inner).__name__ if inner is not None else type(exc).__name__


def _from_status(
    status: int, content: Any, resource: str, connector: str, retry_after: float | None
) -> SyncError:
    pairs = error_codes(content)
    codes = {code for code, _ in pairs}
    detail = "; ".join(f"{code}: {message}" for code, message in pairs) or str(content)[:300]
    where = f" ({resource})" if resource else ""
    if "REQUEST_LIMIT_EXCEEDED" in codes:
        return BudgetExhausted(
            f"the org's API request limit is exhausted{where}: {detail}; the next cycle "
            f"resumes where this one stopped",
            connector=connector,
            status=status,
            retry_after=retry_after,
        )
    if status == 401:
        return AuthError(
            f"Salesforce refused the session{where}: {detail}; check the connector's "
            f"credentials and that the integration user is active",
            connector=connector,
            status=status,
        )
    if status == 429 or status >= 500 or codes & TRANSIENT_CODES:
        return RetriableSyncError(
            f"Salesforce answered {status}{where}: {detail}",
            connector=connector,
            status=status,
            retry_after=retry_after,
        )
    if status == 403:
        return FatalSyncError(
            f"Salesforce refused the request{where}: {detail}; give the integration user's "
            f"profile or permission set access to this object and its fields",
            connector=connector,
            status=status,
        )
    return FatalSyncError(
        f"Salesforce rejected the request{where} with {status}: {detail}",
        connector=connector,
        status=status,
    )


def call(
    fn: Callable[[], T],
    *,
    policy: RetryPolicy,
    session: SalesforceSession,
    sleep: Callable[[float], None] | None = None,
) -> T:
    """Run one API call under the retry policy; every failure leaves as ``leadsync.errors``.

    A host found unreachable (retries spent) is not called again for
    ``UNREACHABLE_HOLD_SECONDS``: those calls fail at once with the same error.
    """
    if session.down_error is not None and time.monotonic() < session.down_until:
        down = session.down_error
        raise HostUnreachable(down.detail, connector=down.connector, timed_out=down.timed_out)
    try:
        for attempt in retrying(policy, sleep=sleep):
            with attempt:
                try:
                    return fn()
                except LeadSyncError:
                    raise
                except Exception as exc:
                    raise translate(
                        exc, connector=session.connector, retry_after=session.last_retry_after
                    ) from exc
    except HostUnreachable as exc:
        session.down_until = time.monotonic() + UNREACHABLE_HOLD_SECONDS
        session.down_error = exc
        raise
    raise AssertionError("tenacity.Retrying with reraise=True always returns or raises")
