"""The one door to HubSpot: the official ``hubspot-api-client``, paced, retried and translated.

Every call goes through :meth:`HubSpotClient.call`, which

* builds each API package's ``Configuration`` itself (``host`` = ``base_url`` for every package,
  ``ssl_ca_cert`` = ``ca_bundle``, the private-app token), once per API object;
* paces the call (:mod:`connectors.hubspot.pacing`) and learns the limits from the answer;
* gives every request explicit connect and read timeouts;
* retries in one loop (tenacity, :class:`RetryPolicy`), the only one on the HubSpot path:
  5xx, 423 and 429 answers (429s waited out per policy, ``Retry-After`` honoured, the daily
  one raised as ``BudgetExhausted``), and a refused or reset connection a couple of times a
  moment apart; a timeout is not retried inside the call. POSTs are retried too: every POST
  LeadSync sends is idempotent (batch update sets values, search reads, and a task create
  repeated is refused 409 because its key property is unique). urllib3's own ``Retry`` is
  switched off (``total=0``) on purpose: by default it does not retry POST, it would retry
  without the pacer seeing the attempt, and it ends in ``MaxRetryError`` with the body lost;
* converts every package's own ``ApiException``, urllib3 errors and the client's "``None`` for
  an undocumented status" into ``leadsync.errors`` (:func:`translate_error`);
* returns the answer as plain JSON (camelCase keys, as the API documents it), whichever model
  class the package deserialised it into.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import Any
from urllib.parse import urlparse

import structlog
import urllib3
from hubspot import HubSpot
from tenacity import RetryCallState, Retrying, retry_if_exception
from urllib3.util.retry import Retry

from connectors.hubspot.pacing import Clock, RatePacer, Sleep, Throttle
from connectors.hubspot.settings import HubSpotSettings
from leadsync.errors import (
    AuthError,
    BudgetExhausted,
    FatalSyncError,
    RetriableSyncError,
    SyncError,
)
from leadsync.records import ApiUsage

log = structlog.get_logger(__name__)

#: HubSpot documents a 423 Locked lock as lasting 2 seconds: wait at least that long.
LOCKED_WAIT = 2.0
#: After the portal proved unreachable, further calls fail at once for this long instead of
#: each paying the connect timeout again: the rest of the cycle's steps (actions, writes)
#: find it down in microseconds, and the next cycle (minutes later) tries it afresh.
UNREACHABLE_HOLD_SECONDS = 30.0


class HubSpotRejected(FatalSyncError):
    """HubSpot refused a whole request (a 4xx other than 401/403/429).

    Keeps HubSpot's own ``category`` and ``message``, the ids its ``context`` names and the
    properties its ``errors`` blame, so a batched write can turn the refusal into per-record
    outcomes instead of stopping the cycle.
    """

    def __init__(
        self,
        message: str,
        *,
        connector: str,
        status: int,
        category: str,
        hubspot_message: str,
        ids: tuple[str, ...] = (),
        fields: tuple[str, ...] = (),
    ) -> None:
        self.category = category
        self.hubspot_message = hubspot_message
        self.ids = ids
        #: Property names the answer's ``errors[].context.propertyName`` blame.
        self.fields = fields
        super().__init__(message, connector=connector, status=status)


class HostUnreachable(RetriableSyncError):
    """No answer at all: the connection was refused or reset, the name did not resolve, or
    the host stayed silent past a timeout. ``timed_out`` tells the two apart: a timeout has
    already cost a whole timeout, so it is not retried inside the call."""

    def __init__(self, message: str, *, connector: str, timed_out: bool) -> None:
        self.detail = message
        self.timed_out = timed_out
        super().__init__(message, connector=connector)


class Throttled(RetriableSyncError):
    """A 429 of a burst or secondly policy: wait ``retry_after`` (the pacer's reading of the
    answer) and try again, up to ``max_throttle_waits`` times in a row."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How one call is retried; the only retry loop on the HubSpot path.

    * An answer worth another try (5xx, 423 Locked): up to ``attempts`` tries, waiting
      0.5 s, 1 s, 2 s ... (at most ``max_wait``), or the answer's ``Retry-After``;
    * a 429 of a burst policy: up to ``throttle_attempts`` tries, each after the wait the
      pacer reads from the answer;
    * a refused or reset connection, a failed DNS lookup: up to ``connect_attempts`` tries;
    * a timeout: no second try. It already cost a full timeout; the next cycle tries again.

    A ``Retry-After`` longer than ``max_wait`` (HubSpot's 477 "migration in progress" asks
    for hours) is not slept through inside a cycle: the call gives up at once, carrying it.
    """

    attempts: int = 6
    connect_attempts: int = 3
    throttle_attempts: int = 31
    initial_wait: float = 0.5
    max_wait: float = 30.0

    @classmethod
    def from_settings(cls, settings: HubSpotSettings) -> RetryPolicy:
        return cls(
            attempts=settings.max_retries + 1,
            connect_attempts=settings.connect_retries + 1,
            throttle_attempts=settings.max_throttle_waits + 1,
        )

    def gives_up(self, attempt: int, exc: BaseException | None) -> bool:
        """Whether ``attempt`` (counting from 1), failed with ``exc``, is the last."""
        if isinstance(exc, HostUnreachable):
            return exc.timed_out or attempt >= min(self.connect_attempts, self.attempts)
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None and retry_after > self.max_wait:
            return True
        if isinstance(exc, Throttled):
            return attempt >= self.throttle_attempts
        return attempt >= self.attempts

    def backoff(self, attempt: int, exc: BaseException | None) -> float:
        """Seconds to wait after attempt ``attempt`` failed with ``exc``."""
        retry_after = getattr(exc, "retry_after", None)
        if isinstance(exc, Throttled) and retry_after is not None:
            return retry_after
        wait = min(self.max_wait, self.initial_wait * 2 ** (attempt - 1))
        if retry_after is not None:
            wait = min(retry_after, self.max_wait)
        if getattr(exc, "status", None) == 423:
            wait = max(wait, LOCKED_WAIT)
        return wait


class HubSpotClient:
    """Paced, retried, translated access to the HubSpot API through ``hubspot-api-client``."""

    def __init__(
        self,
        name: str,
        settings: HubSpotSettings,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        self.name = name
        self._settings = settings
        self._sleep = sleep
        self.policy = RetryPolicy.from_settings(settings)
        #: Explicit connect and read timeouts for every request (never urllib3's "forever").
        self._timeout = (settings.connect_timeout_seconds, settings.timeout_seconds)
        #: Until when (``clock()``) the portal counts as unreachable, and why.
        self._down_until = 0.0
        self._down: HostUnreachable | None = None
        self._clock = clock
        self.pacer = RatePacer(
            clock=clock,
            sleep=sleep,
            connector=name,
            max_per_interval=settings.requests_per_10s,
            search_per_second=settings.search_requests_per_second,
            daily_reserve=settings.api_reserve,
        )
        self._sdk = HubSpot(
            access_token=settings.access_token.get_secret_value(), api_factory=self._build_api
        )
        self._apis: dict[str, Any] = {}
        self.calls_by_endpoint: Counter[str] = Counter()

    # -- construction --------------------------------------------------------------------------

    def _build_api(self, package: Any, api_name: str, config: Mapping[str, Any]) -> Any:
        configuration = package.Configuration(host=self._settings.base_url)
        configuration.access_token = config["access_token"]
        if self._settings.ca_bundle is not None:
            configuration.ssl_ca_cert = str(self._settings.ca_bundle)
        configuration.retries = Retry(total=0, redirect=0, raise_on_status=False)
        api_client = package.ApiClient(configuration=configuration)
        api_client.user_agent = (
            f"leadsync hubspot-api-client-python; {metadata.version('hubspot-api-client')}"
        )
        return getattr(package, api_name)(api_client=api_client)

    def api(self, path: str) -> Any:
        """The API object at ``path`` under the SDK (``"crm.contacts.search_api"``), built once.

        The SDK's discovery properties build a fresh ``ApiClient`` (and connection pool) on every
        access; caching keeps one pool per API.
        """
        if path not in self._apis:
            target: Any = self._sdk
            for part in path.split("."):
                target = getattr(target, part)
            self._apis[path] = target
        return self._apis[path]

    # -- calls ---------------------------------------------------------------------------------

    def call(
        self,
        endpoint: str,
        api_path: str,
        method: str,
        *args: Any,
        search: bool = False,
        expect_body: bool = True,
        **kwargs: Any,
    ) -> Any:
        """Call ``method`` of the API at ``api_path`` and return its answer as JSON.

        ``endpoint`` names the call in usage counts and logs (``"contacts.search"``).
        ``expect_body=False`` accepts an empty 2xx answer (archive, association create).
        """
        api = self.api(api_path)
        fn = getattr(api, f"{method}_with_http_info")
        kwargs.setdefault("_request_timeout", self._timeout)

        def invoke() -> tuple[Any, int, Any]:
            data, status, headers = fn(*args, **kwargs)
            return data, status, headers

        data, status = self._paced(endpoint, invoke, search=search)
        if data is None:
            if expect_body or not 200 <= status < 300:
                raise FatalSyncError(
                    f"{endpoint} answered HTTP {status}, a status hubspot-api-client does not "
                    "document for it (it returned no result); check base_url points at the "
                    "HubSpot API",
                    connector=self.name,
                    status=status,
                )
            return None
        return api.api_client.sanitize_for_serialization(data)

    def raw(
        self,
        endpoint: str,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        method: str = "GET",
        body: Any = None,
    ) -> Any:
        """Call an endpoint the client has no generated method for (legacy v1 APIs).

        It still goes through a generated ``ApiClient`` so TLS, auth, host and timeouts are the
        same as everywhere else; the JSON answer is returned as is.
        """
        api_client = self.api("marketing.forms.forms_api").api_client
        params = [(k, v) for k, v in (query or {}).items() if v is not None]

        def invoke() -> tuple[Any, int, Any]:
            return api_client.call_api(
                path,
                method,
                query_params=params,
                header_params={"Accept": "application/json", "Content-Type": "application/json"},
                body=body,
                response_types_map={200: "object"},
                auth_settings=["oauth2"],
                _return_http_data_only=False,
                _request_timeout=self._timeout,
            )

        data, status = self._paced(endpoint, invoke, search=False)
        if data is None:
            raise FatalSyncError(
                f"{endpoint} answered HTTP {status} without the documented JSON body",
                connector=self.name,
                status=status,
            )
        return data

    def _paced(
        self, endpoint: str, invoke: Callable[[], tuple[Any, int, Any]], *, search: bool
    ) -> tuple[Any, int]:
        if self._down is not None and self._clock() < self._down_until:
            down = self._down
            raise HostUnreachable(down.detail, connector=self.name, timed_out=down.timed_out)
        policy = self.policy

        def stop(state: RetryCallState) -> bool:
            exc = state.outcome.exception() if state.outcome else None
            return policy.gives_up(state.attempt_number, exc)

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            return policy.backoff(state.attempt_number, exc)

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.warning(
                "hubspot.retry",
                connector=self.name,
                endpoint=endpoint,
                attempt=state.attempt_number,
                status=getattr(exc, "status", None),
                wait=round(state.upcoming_sleep, 2),
                error=str(exc),
            )

        retrying = Retrying(
            stop=stop,
            wait=wait,
            retry=retry_if_exception(
                lambda e: isinstance(e, RetriableSyncError) and not isinstance(e, BudgetExhausted)
            ),
            sleep=lambda seconds: self.pacer.pause(seconds, reason="retry"),
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            return retrying(self._attempt, endpoint, invoke, search)
        except HostUnreachable as exc:
            self._down_until = self._clock() + UNREACHABLE_HOLD_SECONDS
            self._down = exc
            raise

    def _attempt(
        self, endpoint: str, invoke: Callable[[], tuple[Any, int, Any]], search: bool
    ) -> tuple[Any, int]:
        """One HTTP call; every failure leaves as ``leadsync.errors``."""
        self.pacer.before_call(search=search)
        self.calls_by_endpoint[endpoint] += 1
        try:
            data, status, headers = invoke()
        except Exception as exc:
            headers = getattr(exc, "headers", None)
            if headers:
                self.pacer.observe(_header_dict(headers))
            throttle = throttle_of(exc)
            if throttle is None:
                raise translate_error(exc, self.name, endpoint=endpoint) from None
            log.info(
                "hubspot.throttled", connector=self.name, endpoint=endpoint, policy=throttle.policy
            )
            raise Throttled(
                f"{endpoint} was throttled ({throttle.policy}) until the retries ran out; "
                "another integration may be using the portal's allowance",
                connector=self.name,
                status=429,
                retry_after=self.pacer.throttle_wait(throttle),
            ) from None
        self.pacer.observe(_header_dict(headers))
        return data, status

    def token_scopes(self) -> frozenset[str]:
        """The scopes the private app's token carries (HubSpot's access-token-info)."""
        answer = self.raw(
            "private_app.token_info",
            "/oauth/v2/private-apps/get/access-token-info",
            method="POST",
            body={"tokenKey": self._settings.access_token.get_secret_value()},
        )
        return frozenset(str(s) for s in answer.get("scopes") or [])

    # -- usage ---------------------------------------------------------------------------------

    def usage(self) -> ApiUsage:
        """Calls made so far, by endpoint, and the daily allowance left when HubSpot said."""
        return ApiUsage(
            calls=sum(self.calls_by_endpoint.values()),
            calls_by_endpoint=dict(self.calls_by_endpoint),
            remaining=self.pacer.daily_remaining,
            limit=self.pacer.daily_limit,
        )

    def close(self) -> None:
        """Close every connection pool the API objects opened."""
        for api in self._apis.values():
            pool = getattr(api.api_client.rest_client, "pool_manager", None)
            if pool is not None:
                pool.clear()
        self._apis.clear()


# -- translation ---------------------------------------------------------------------------------


def is_api_exception(exc: BaseException) -> bool:
    """Whether ``exc`` is one of the client's per-package ``ApiException`` classes.

    Every API package (``hubspot.crm.contacts``, ``hubspot.crm.objects.tasks`` ...) generates
    its own ``ApiException``, unrelated to the others, so no single ``except`` catches them.
    """
    return any(
        cls.__name__ == "ApiException" and cls.__module__.startswith("hubspot.")
        for cls in type(exc).__mro__
    )


def error_body(exc: BaseException) -> dict[str, Any]:
    """The JSON body of a failed answer, or ``{}`` when it had none."""
    body = getattr(exc, "body", None)
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if not body:
        return {}
    try:
        parsed = json.loads(body)
    except (TypeError, ValueError):
        return {"message": str(body)[:300]}
    return parsed if isinstance(parsed, dict) else {}


def missing_scopes(body: Mapping[str, Any]) -> list[str]:
    """The scopes a ``MISSING_SCOPES`` answer names (any one of them is enough)."""
    names: list[str] = []
    for err in body.get("errors") or []:
        context = err.get("context") if isinstance(err, dict) else None
        if isinstance(context, dict):
            for key in ("requiredGranularScopes", "requiredScopes"):
                names += [str(s) for s in context.get(key) or []]
    return list(dict.fromkeys(names))


def throttle_of(exc: BaseException) -> Throttle | None:
    """The rate-limit policy a 429 answer names, or ``None`` when ``exc`` is not a 429."""
    if not is_api_exception(exc) or getattr(exc, "status", None) != 429:
        return None
    body = error_body(exc)
    headers = _header_dict(getattr(exc, "headers", None) or {})
    policy = str(body.get("policyName") or "TEN_SECONDLY_ROLLING")
    return Throttle(policy=policy, retry_after=_retry_after(headers))


def translate_error(exc: BaseException, connector: str, *, endpoint: str = "") -> SyncError:
    """Convert anything the client library raises into the ``leadsync.errors`` tree."""
    where = f"{endpoint}: " if endpoint else ""
    if isinstance(exc, SyncError):
        return exc
    if is_api_exception(exc):
        status = int(getattr(exc, "status", 0) or 0)
        body = error_body(exc)
        message = str(body.get("message") or getattr(exc, "reason", "") or "no message")
        category = str(body.get("category") or body.get("errorType") or "")
        detail = f"{where}HTTP {status} {category}: {message}".replace(" :", ":")
        headers = _header_dict(getattr(exc, "headers", None) or {})
        if status == 0:
            if "SSL" in str(getattr(exc, "reason", "")):
                return FatalSyncError(
                    f"{where}TLS handshake failed ({message}); set ca_bundle to the PEM of the "
                    "CA that signed the server's certificate",
                    connector=connector,
                )
            return RetriableSyncError(detail, connector=connector)
        if status == 401:
            return AuthError(
                f"{where}HubSpot refused the access_token ({message}); it is expired, revoked or "
                "mistyped: create a new private-app token and set access_token",
                connector=connector,
                status=status,
            )
        if status == 403:
            scopes = missing_scopes(body)
            fix = (
                f"tick {' or '.join(scopes)} in the private app's scopes (Settings > "
                "Integrations > Private Apps)"
                if scopes
                else "grant the private app the scope this call needs"
            )
            return FatalSyncError(f"{detail}; {fix}", connector=connector, status=status)
        if status in (423, 429, 477) or status >= 500:
            # 423: a lock HubSpot holds 2 s; 477: the portal is migrating, Retry-After says
            # how long (hours); 429 without a burst policy; 5xx: HubSpot is having trouble.
            return RetriableSyncError(
                detail, connector=connector, status=status, retry_after=_retry_after(headers)
            )
        context = body.get("context") or {}
        ids = tuple(str(i) for key in ("ids", "id") for i in (context.get(key) or []))
        fields = [
            str(name)
            for err in body.get("errors") or []
            if isinstance(err, dict) and isinstance(err.get("context"), dict)
            for name in err["context"].get("propertyName") or []
        ]
        return HubSpotRejected(
            detail,
            connector=connector,
            status=status,
            category=category or "ERROR",
            hubspot_message=message,
            ids=ids,
            fields=tuple(dict.fromkeys(fields)),
        )
    if isinstance(exc, urllib3.exceptions.SSLError) or (
        isinstance(exc, urllib3.exceptions.MaxRetryError)
        and isinstance(exc.reason, urllib3.exceptions.SSLError)
    ):
        return FatalSyncError(
            f"{where}TLS failed ({exc}); set ca_bundle to the PEM of the CA that signed the "
            "server's certificate",
            connector=connector,
        )
    if isinstance(exc, urllib3.exceptions.HTTPError | OSError):
        return unreachable(exc, connector, endpoint)
    if _is_client_validation_error(exc):
        return FatalSyncError(f"{where}request rejected by the client: {exc}", connector=connector)
    return FatalSyncError(f"{where}unexpected {type(exc).__name__}: {exc}", connector=connector)


def unreachable(exc: BaseException, connector: str, endpoint: str = "") -> HostUnreachable:
    """A connection-level failure (urllib3's own error or its ``MaxRetryError``), named by
    host, with what to check."""
    reason = getattr(exc, "reason", None)
    cause = reason if isinstance(reason, BaseException) else exc
    # NewConnectionError (refused, no route) subclasses ConnectTimeoutError: test it first.
    timed_out = False
    if isinstance(cause, urllib3.exceptions.NameResolutionError):
        what = "has a name DNS cannot resolve"
    elif isinstance(cause, urllib3.exceptions.NewConnectionError):
        errno_text = getattr(cause.__cause__, "strerror", None) or "no connection"
        what = f"gave no connection ({errno_text})"
    elif isinstance(cause, urllib3.exceptions.TimeoutError | TimeoutError):
        timed_out = True
        what = "did not answer in time"
    else:
        what = f"dropped the connection ({type(cause).__name__})"
    where = f" ({endpoint})" if endpoint else ""
    return HostUnreachable(
        f"HubSpot at {_host_of(exc, cause)} {what}{where}; check connectors.{connector}."
        "base_url, DNS, the firewall or proxy on the way, and https://status.hubspot.com "
        "(the next cycle retries)",
        connector=connector,
        timed_out=timed_out,
    )


def _host_of(*errors: BaseException) -> str:
    for error in errors:
        pool = getattr(error, "pool", None) or getattr(error, "conn", None)
        host = getattr(pool, "host", None)
        if host:
            port = getattr(pool, "port", None)
            return f"{host}:{port}" if port else str(host)
        url = getattr(error, "url", None)
        if isinstance(url, str) and urlparse(url).netloc:
            return urlparse(url).netloc
    return "the configured base_url"


def _is_client_validation_error(exc: BaseException) -> bool:
    module = type(exc).__module__
    return module.startswith("hubspot.") or isinstance(exc, ValueError | TypeError)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _header_dict(headers: Any) -> dict[str, str]:
    if not headers:
        return {}
    return {str(k).lower(): str(v) for k, v in dict(headers).items()}
