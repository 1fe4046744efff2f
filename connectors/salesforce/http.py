"""The HTTP edge of the Salesforce connector: one session, one retry policy, one translation.

``SalesforceSession`` is the ``requests.Session`` every simple-salesforce call (REST, Bulk 2.0,
Tooling) goes through. It owns the access token: it stamps the current token on every request
to the instance, renews it once on ``401 INVALID_SESSION_ID`` and resends, so an expired
session is healed the same way for REST and Bulk calls (simple-salesforce's bulk2 handler
copies its headers at creation and would otherwise keep sending the dead token). A response
hook counts calls by endpoint and reads ``Sforce-Limit-Info`` on every answer.

``RetryPolicy`` + :func:`retrying` are the one place retries are built; :func:`translate` is
the one place simple-salesforce and requests exceptions become ``leadsync.errors``.
"""

from __future__ import annotations

import random
import re
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


class SalesforceSession(requests.Session):
    """A session bound to one org: token stamping, one renewal per refused call, accounting."""

    def __init__(
        self,
        *,
        connector: str,
        verify: str | bool,
        timeout: float,
        renew: Callable[[], str] | None,
    ) -> None:
        super().__init__()
        self.verify = verify
        self.connector = connector
        self.timeout = timeout
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
        kwargs.setdefault("timeout", self.timeout)
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


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded exponential backoff with full jitter; ``Retry-After`` wins when the CRM sends it."""

    attempts: int = 6
    initial_wait: float = 0.5
    max_wait: float = 30.0

    @classmethod
    def from_settings(cls, max_retries: int, timeout_seconds: float) -> RetryPolicy:
        """The policy for a connection: ``max_retries`` retries after the first attempt."""
        return cls(attempts=max_retries + 1, max_wait=max(1.0, min(60.0, timeout_seconds)))

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

    def before_sleep(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "salesforce.retry",
            attempt=state.attempt_number,
            error=type(exc).__name__,
            status=getattr(exc, "status", None),
        )

    kwargs: dict[str, Any] = {}
    if sleep is not None:
        kwargs["sleep"] = sleep
    return tenacity.Retrying(
        stop=tenacity.stop_after_attempt(policy.attempts),
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
    if isinstance(exc, requests.Timeout):
        return RetriableSyncError("Salesforce did not answer in time", connector=connector)
    if isinstance(exc, requests.ConnectionError):
        return RetriableSyncError(
            f"cannot connect to Salesforce ({type(exc).__name__})", connector=connector
        )
    if isinstance(exc, requests.RequestException):
        return RetriableSyncError(f"HTTP failure: {type(exc).__name__}", connector=connector)
    message = str(exc) or type(exc).__name__
    return FatalSyncError(f"unexpected Salesforce client failure: {message}", connector=connector)


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
    """Run one API call under the retry policy; every failure leaves as ``leadsync.errors``."""
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
    raise AssertionError("tenacity.Retrying with reraise=True always returns or raises")
