"""The HubSpot sandbox server: real HTTP(S) (``sandboxes.serving``) over one live portal.

Every API call passes, in order: injected delay, authentication (a private-app bearer token;
an injected expiry answers ``EXPIRED_AUTHENTICATION``), routing, the token's scopes
(``sandboxes.hubspot.scopes``: 403 ``MISSING_SCOPES``), injected rate-limit and HTTP faults,
HubSpot's own rate limits, then the endpoint. ``/_sandbox/*`` needs no token
and is not counted.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

import structlog

from sandboxes.hubspot.associations import AssociationsApi
from sandboxes.hubspot.crm_meta import CrmMetaApi
from sandboxes.hubspot.crm_objects import CrmObjectsApi
from sandboxes.hubspot.http import ApiError, Request, Response, Router
from sandboxes.hubspot.limits import Faults, RateLimiter, rate_limit_error
from sandboxes.hubspot.lists import ListsApi
from sandboxes.hubspot.marketing import MarketingApi
from sandboxes.hubspot.portal import PortalState
from sandboxes.hubspot.scopes import ALL_SCOPES, missing_scopes, required_scopes
from sandboxes.hubspot.search import SearchApi
from sandboxes.hubspot.webhooks import WebhookDispatcher
from sandboxes.serving import Answer, SandboxServer

log = structlog.get_logger(__name__)

SANDBOX_APP_ID = 2417
_REASONS = {
    423: "Locked",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


class HubSpotSandbox:
    """An emulated HubSpot API over ``portal``; a context manager that starts and stops it."""

    def __init__(
        self,
        portal: PortalState,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: bool = False,
        access_token: str | None = None,
        client_secret: str | None = None,
        rate_limit_per_10s: int = 190,
        daily_limit: int = 500_000,
        search_rate_per_s: int = 5,
        app_id: int = SANDBOX_APP_ID,
        limit_clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``limit_clock`` (monotonic seconds) drives the rate-limit windows; tests freeze it."""
        self.portal = portal
        self.access_token = access_token or f"pat-sandbox-{secrets.token_hex(16)}"
        self.client_secret = client_secret or secrets.token_hex(18)
        self.app_id = app_id
        #: Each token the portal honours -> the scopes its private app was granted.
        self._tokens: dict[str, frozenset[str]] = {self.access_token: ALL_SCOPES}
        self.limiter = RateLimiter(
            rate_limit_per_10s, daily_limit, search_rate_per_s, clock=limit_clock
        )
        self.faults = Faults()
        self.router = Router()
        CrmObjectsApi(portal, self.faults).register(self.router)
        SearchApi(portal).register(self.router)
        CrmMetaApi(portal).register(self.router)
        AssociationsApi(portal).register(self.router)
        MarketingApi(portal).register(self.router)
        ListsApi(portal).register(self.router)
        self.router.add("POST", "/oauth/v2/private-apps/get/access-token-info", self._token_info)
        self._stats_lock = threading.Lock()
        self._by_endpoint: Counter[str] = Counter()
        self._by_status: Counter[str] = Counter()
        self._dispatchers: list[WebhookDispatcher] = []
        # The certificate names "localhost" too, so the URL says localhost under TLS.
        self._server = SandboxServer(
            self._answer,
            (host, port),
            tls=tls,
            server_header="HubSpotSandbox/1.0",
            idle_timeout=30,
        )
        self.ca_file: str | None = self._server.ca_file or None
        scheme = "https" if tls else "http"
        shown = "localhost" if tls else host
        self.url = f"{scheme}://{shown}:{self._server.port}"

    def _answer(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Answer:
        answer = self.handle(Request.parse(method, target, headers, body))
        payload = answer.encoded()
        content = {"Content-Type": "application/json;charset=utf-8"} if payload else {}
        return Answer(answer.status, {**content, **answer.headers}, payload)

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> HubSpotSandbox:
        self._server.start()
        log.info("hubspot_sandbox.started", url=self.url)
        return self

    def stop(self) -> None:
        for dispatcher in self._dispatchers:
            dispatcher.stop()
        self._dispatchers.clear()
        self._server.stop()
        log.info("hubspot_sandbox.stopped", url=self.url)

    def __enter__(self) -> HubSpotSandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- test and demo hooks --------------------------------------------------------------------

    def issue_token(self, scopes: Sequence[str]) -> str:
        """A further private-app token for this portal, granted only ``scopes`` (a test's
        app without, say, ``crm.lists.write``)."""
        token = f"pat-sandbox-{secrets.token_hex(16)}"
        self._tokens[token] = frozenset(scopes)
        return token

    def stats(self) -> dict[str, Any]:
        """API calls served (``/_sandbox`` excluded): total, by endpoint, by status, webhooks."""
        with self._stats_lock:
            return {
                "total": sum(self._by_endpoint.values()),
                "by_endpoint": dict(self._by_endpoint),
                "by_status": dict(self._by_status),
                "usage": self.limiter.usage(),
                "webhooks": [dict(d.stats) for d in self._dispatchers],
            }

    def reset_stats(self) -> None:
        with self._stats_lock:
            self._by_endpoint.clear()
            self._by_status.clear()

    def inject(self, fault: dict[str, Any]) -> dict[str, Any]:
        """Register a fault (see ``POST /_sandbox/faults``); raises ``ApiError`` if malformed."""
        return self.faults.inject(fault)

    def subscribe_webhooks(
        self,
        target_url: str,
        events: Sequence[str] = ("contact.creation", "contact.propertyChange"),
        *,
        retry_delays: Sequence[float] = (1, 2, 4, 8, 16, 32, 64, 128, 256),
        verify: str | bool = True,
    ) -> WebhookDispatcher:
        """Deliver matching portal changes to ``target_url``, signed with the client secret."""
        dispatcher = WebhookDispatcher(
            self.portal,
            target_url,
            events,
            client_secret=self.client_secret,
            app_id=self.app_id,
            verify=verify,
            retry_delays=retry_delays,
        )
        dispatcher.start()
        self._dispatchers.append(dispatcher)
        return dispatcher

    # -- request pipeline -----------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        if request.path.startswith("/_sandbox/"):
            try:
                return self._sandbox_endpoint(request)
            except ApiError as exc:
                return exc.response()
        headers: dict[str, str] = {}
        try:
            delay = self.faults.take("delay")
            if delay is not None:
                time.sleep(float(delay.spec["seconds"]))
            scopes = self._authenticate(request)
            handler = self.router.match(request)
            required = required_scopes(request.method, request.path)
            if required and not scopes.intersection(required):
                raise missing_scopes(required)
            self._injected_failure(request)
            headers = self.limiter.admit(search=request.path.endswith("/search"))
            answer = handler(request)
        except ApiError as exc:
            answer = exc.response()
        except Exception:
            log.exception("hubspot_sandbox.handler_failed", endpoint=request.endpoint)
            answer = ApiError(500, "", "internal error").response()
        answer.headers = {**headers, **answer.headers}
        with self._stats_lock:
            self._by_endpoint[request.endpoint or f"{request.method} (unrouted)"] += 1
            self._by_status[str(answer.status)] += 1
        return answer

    def _authenticate(self, request: Request) -> frozenset[str]:
        """The scopes of the request's bearer token; 401 when it is not one of ours."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        scopes = self._scopes_of(token.strip()) if scheme.lower() == "bearer" else None
        if scopes is None:
            raise ApiError(
                401,
                "INVALID_AUTHENTICATION",
                "Authentication credentials not found. This API supports OAuth 2.0 "
                "authentication and you can find more details at "
                "https://developers.hubspot.com/docs/methods/auth/oauth-overview",
            )
        if self.faults.take("expire_token") is not None:
            raise ApiError(
                401,
                "EXPIRED_AUTHENTICATION",
                "The OAuth token used to make this call expired 0 second(s) ago.",
            )
        return scopes

    def _scopes_of(self, token: str) -> frozenset[str] | None:
        for known, scopes in self._tokens.items():
            if secrets.compare_digest(token.encode(), known.encode()):
                return scopes
        return None

    def _token_info(self, request: Request) -> Response:
        """``POST /oauth/v2/private-apps/get/access-token-info``: who a private-app token
        belongs to and the scopes it carries."""
        key = str(request.json_object().get("tokenKey") or "")
        scopes = self._scopes_of(key)
        if scopes is None:
            raise ApiError.not_found("No private app access token matches tokenKey")
        return Response(
            200,
            {
                "userId": 1,
                "hubId": self.portal.portal_id,
                "appId": self.app_id,
                "scopes": sorted(scopes),
            },
        )

    def _injected_failure(self, request: Request) -> None:
        limited = self.faults.take("rate_limit")
        if limited is not None:
            policy = limited.spec.get("policy", "TEN_SECONDLY_ROLLING")
            search = request.path.endswith("/search")
            headers = {} if search else self.limiter.headers()
            raise rate_limit_error(policy, {**headers, **_retry_after(limited.spec)})
        failure = self.faults.take("http_error")
        if failure is not None:
            status = int(failure.spec["status"])
            raise ApiError(
                status,
                failure.spec.get("category", ""),
                failure.spec.get("message", _REASONS.get(status, "Injected failure")),
                headers=_retry_after(failure.spec),
            )

    def _sandbox_endpoint(self, request: Request) -> Response:
        route = (request.method, request.path.rstrip("/"))
        if route == ("GET", "/_sandbox/stats"):
            return Response(200, self.stats())
        if route == ("POST", "/_sandbox/stats/reset"):
            self.reset_stats()
            return Response(200, self.stats())
        if route == ("POST", "/_sandbox/faults"):
            return Response(200, self.inject(request.json_object()))
        if route == ("GET", "/_sandbox/faults"):
            return Response(200, self.faults.describe())
        raise ApiError(404, "", f"No sandbox route {request.method} {request.path}")


def _retry_after(spec: dict[str, Any]) -> dict[str, str]:
    """The ``Retry-After`` header a fault asks for (``retry_after`` seconds), if any."""
    seconds = spec.get("retry_after")
    return {} if seconds is None else {"Retry-After": f"{seconds:g}"}
