"""The one door to HubSpot: the official ``hubspot-api-client``, paced, retried and translated.

Every call goes through :meth:`HubSpotClient.call`, which

* builds each API package's ``Configuration`` itself (``host`` = ``base_url`` for every package,
  ``ssl_ca_cert`` = ``ca_bundle``, the private-app token), once per API object;
* paces the call (:mod:`connectors.hubspot.pacing`) and learns the limits from the answer;
* retries 5xx and connection errors with bounded exponential backoff (tenacity), POSTs
  included. urllib3's own ``Retry`` is switched off (``total=0``) on purpose: by default it
  does not retry POST (search, batch update, upsert are all POSTs), it would retry without the
  pacer seeing the attempt, and it ends in ``MaxRetryError`` with the answer's body lost. Every
  POST LeadSync sends is idempotent (batch update sets values, search reads, and a task create
  repeated is refused 409 because its key property is unique), so retrying them is safe;
* waits out 429s per policy, and raises ``BudgetExhausted`` for the daily one;
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
from importlib import metadata
from typing import Any

import structlog
import urllib3
from hubspot import HubSpot
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt
from urllib3.util.retry import Retry

from connectors.hubspot.pacing import Clock, RatePacer, Sleep, Throttle
from connectors.hubspot.settings import HubSpotSettings
from leadsync.errors import AuthError, FatalSyncError, RetriableSyncError, SyncError
from leadsync.records import ApiUsage

log = structlog.get_logger(__name__)

_BACKOFF_BASE = 0.5
_BACKOFF_CAP = 30.0


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


class _Transient(Exception):
    """A failure worth retrying inside this call (5xx, connection, timeout)."""

    def __init__(self, message: str, status: int | None, retry_after: float | None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


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
        kwargs.setdefault("_request_timeout", self._settings.timeout_seconds)

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
                _request_timeout=self._settings.timeout_seconds,
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
        retrying = Retrying(
            stop=stop_after_attempt(self._settings.max_retries + 1),
            wait=_backoff,
            retry=retry_if_exception_type(_Transient),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            return retrying(self._attempt, endpoint, invoke, search)
        except _Transient as exc:
            raise RetriableSyncError(
                f"{endpoint} still failing after {self._settings.max_retries} retries: {exc}",
                connector=self.name,
                status=exc.status,
                retry_after=exc.retry_after,
            ) from None

    def _attempt(
        self, endpoint: str, invoke: Callable[[], tuple[Any, int, Any]], search: bool
    ) -> tuple[Any, int]:
        for _ in range(self._settings.max_throttle_waits + 1):
            self.pacer.before_call(search=search)
            self.calls_by_endpoint[endpoint] += 1
            try:
                data, status, headers = invoke()
            except Exception as exc:
                headers = getattr(exc, "headers", None)
                if headers:
                    self.pacer.observe(_header_dict(headers))
                throttle = throttle_of(exc)
                if throttle is not None:
                    log.info(
                        "hubspot.throttled",
                        connector=self.name,
                        endpoint=endpoint,
                        policy=throttle.policy,
                    )
                    self.pacer.throttled(throttle)
                    continue
                raise self._classify(exc, endpoint) from None
            self.pacer.observe(_header_dict(headers))
            return data, status
        raise RetriableSyncError(
            f"{endpoint} was throttled {self._settings.max_throttle_waits + 1} times in a row; "
            "another integration may be using the portal's allowance",
            connector=self.name,
            status=429,
        )

    def _classify(self, exc: Exception, endpoint: str) -> Exception:
        error = translate_error(exc, self.name, endpoint=endpoint)
        if isinstance(error, RetriableSyncError):
            log.warning("hubspot.retry", connector=self.name, endpoint=endpoint, error=str(error))
            return _Transient(str(error), error.status, error.retry_after)
        return error

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


def _backoff(state: RetryCallState) -> float:
    outcome = state.outcome
    exc = outcome.exception() if outcome is not None else None
    if isinstance(exc, _Transient) and exc.retry_after is not None:
        return min(exc.retry_after, _BACKOFF_CAP)
    return float(min(_BACKOFF_CAP, _BACKOFF_BASE * 2 ** (state.attempt_number - 1)))


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
            return FatalSyncError(
                f"{detail}; grant the private app the scope this call needs",
                connector=connector,
                status=status,
            )
        if status == 429 or status >= 500:
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
        return RetriableSyncError(f"{where}connection failed: {exc}", connector=connector)
    if _is_client_validation_error(exc):
        return FatalSyncError(f"{where}request rejected by the client: {exc}", connector=connector)
    return FatalSyncError(f"{where}unexpected {type(exc).__name__}: {exc}", connector=connector)


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
