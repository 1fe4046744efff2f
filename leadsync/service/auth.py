"""Who may read the service's pages and who may act through the dashboard.

**Reading.** Without an access token (allowed only on a loopback bind) every page is open.
With one, every path except the probes, the webhook (HubSpot signs it), the login page and
the stylesheet needs either ``Authorization: Bearer <token>`` (Prometheus, scripts) or the
session cookie the login form sets. A browser asking for a page without either is sent to
the login form; anything else gets 401.

**Acting** (the dashboard's POSTs: retry rejected records, queue a backfill) always needs the
token: without one configured the dashboard is read-only and says so.

**The session cookie** is ``<issued>.<nonce>.<mac>`` with ``mac = HMAC-SHA256(token,
"session:<issued>.<nonce>")``: valid for ``SESSION_SECONDS``, void as soon as the token
changes, and void once signed out: logout puts the session's nonce on this process's
revocation list (kept until the cookie would have expired anyway), so a copy of the cookie
opens nothing. The list is per process: with several replicas, or after a restart, a copy
kept from before the logout still works until it expires; rotate the token to end every
session at once. The token itself never goes into the cookie, a page or a log. The cookie is
``HttpOnly`` (no script reads it), ``SameSite=Strict`` (no other site's page can make the
browser send it) and ``Secure`` when served over HTTPS.

**Guessing.** Each client address gets ``MAX_FAILURES`` wrong tokens (login form or bearer
header) per ``FAILURE_WINDOW`` seconds; past that every attempt from it, right or wrong, is
answered 429 with ``Retry-After`` until the oldest failure leaves the window. Behind a
reverse proxy all clients share its address unless uvicorn trusts its ``X-Forwarded-For``
(``FORWARDED_ALLOW_IPS``): a guesser there holds up everyone behind the same proxy.

**CSRF.** ``SameSite=Strict`` already keeps other sites' forms from riding on the session;
as a second, independent guard every form carries ``csrf = HMAC-SHA256(token, "csrf:<nonce>")``,
bound to the session's nonce, which a POST authenticated by the cookie must echo
(constant-time compare), and a POST whose ``Origin`` header names another host is refused.
A POST authenticated by the bearer header needs neither: browsers never add that header on
their own, so a forged cross-site request cannot carry it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from leadsync.service.names import LOGIN, STATIC

log = structlog.get_logger(__name__)

COOKIE = "leadsync_session"
SESSION_SECONDS = 12 * 3600
#: Wrong tokens a client address may send per window before it has to wait.
MAX_FAILURES = 5
FAILURE_WINDOW = 60.0
#: Addresses the throttle remembers at most (the longest-quiet are forgotten first).
MAX_THROTTLED_CLIENTS = 10_000
#: Always reachable: the login form (and its POST), and the stylesheets and scripts.
OPEN_ROUTES = frozenset({("GET", LOGIN), ("HEAD", LOGIN), ("POST", LOGIN)})
OPEN_PREFIX = STATIC + "/"


@dataclass(frozen=True, slots=True)
class Caller:
    """How a request proved itself: ``bearer``, ``session`` (with its nonce) or ``none``."""

    how: str
    nonce: str = ""


ANONYMOUS = Caller("none")


def _mac(token: str, message: str) -> str:
    return hmac.new(token.encode(), message.encode(), hashlib.sha256).hexdigest()


def new_session(token: str, now: float | None = None) -> str:
    """A fresh session cookie value for someone who just proved they know ``token``."""
    issued = str(int(now if now is not None else time.time()))
    nonce = secrets.token_urlsafe(16)
    return f"{issued}.{nonce}.{_mac(token, f'session:{issued}.{nonce}')}"


def session_nonce(token: str, value: str, now: float | None = None) -> str | None:
    """The session's nonce when ``value`` is a valid, unexpired cookie for ``token``."""
    try:
        issued, nonce, mac = value.split(".")
        age = (now if now is not None else time.time()) - int(issued)
    except ValueError:
        return None
    if not 0 <= age <= SESSION_SECONDS:
        return None
    if not hmac.compare_digest(mac, _mac(token, f"session:{issued}.{nonce}")):
        return None
    return nonce


def csrf_token(token: str, nonce: str) -> str:
    """The value every form of this session carries."""
    return _mac(token, f"csrf:{nonce}")


class LoginThrottle:
    """Failed attempts at the token per client address, in a sliding window."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = MAX_THROTTLED_CLIENTS,
    ) -> None:
        self._clock = clock
        self._max = max_clients
        #: address -> times of its failures in the window, oldest first; the dict is ordered
        #: by each address's latest failure, so the longest-quiet come first.
        self._failures: dict[str, deque[float]] = {}

    def __len__(self) -> int:
        return len(self._failures)

    def wait(self, client: str) -> float:
        """Seconds until ``client`` may try the token again; 0: now."""
        recent = self._recent(client)
        if len(recent) < MAX_FAILURES:
            return 0.0
        return recent[-MAX_FAILURES] + FAILURE_WINDOW - self._clock()

    def failed(self, client: str) -> None:
        recent = self._recent(client)
        recent.append(self._clock())
        self._failures.pop(client, None)
        self._failures[client] = recent
        while len(self._failures) > self._max:
            del self._failures[next(iter(self._failures))]

    def _recent(self, client: str) -> deque[float]:
        recent = self._failures.get(client, deque())
        horizon = self._clock() - FAILURE_WINDOW
        while recent and recent[0] <= horizon:
            recent.popleft()
        if not recent:
            self._failures.pop(client, None)
        return recent


class Access:
    """The token and what the service remembers about using it: sessions signed out in this
    process, and failed attempts per client address. One per app, shared by the guard and
    the dashboard; used on the event loop only."""

    def __init__(self, token: str, throttle: LoginThrottle | None = None) -> None:
        self.token = token
        self.throttle = throttle or LoginThrottle()
        #: nonce -> when its cookie expires anyway (then it is forgotten)
        self._revoked: dict[str, float] = {}

    def new_session(self) -> str:
        return new_session(self.token)

    def session(self, value: str) -> str | None:
        """The nonce of a valid, unexpired, not signed-out session cookie."""
        nonce = session_nonce(self.token, value)
        return None if nonce is None or nonce in self._revoked else nonce

    def sign_out(self, nonce: str) -> None:
        now = time.time()
        self._revoked = {n: until for n, until in self._revoked.items() if until > now}
        self._revoked[nonce] = now + SESSION_SECONDS

    def csrf(self, nonce: str) -> str:
        return csrf_token(self.token, nonce)

    def identify(self, request: Request | Scope) -> Caller:
        """Bearer header first, then the session cookie."""
        scope = request.scope if isinstance(request, Request) else request
        headers = dict(scope["headers"])
        given = headers.get(b"authorization", b"")
        if given and hmac.compare_digest(given, f"Bearer {self.token}".encode()):
            return Caller("bearer")
        cookie = Request(scope).cookies.get(COOKIE)
        if cookie:
            nonce = self.session(cookie)
            if nonce is not None:
                return Caller("session", nonce)
        return ANONYMOUS


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def throttled(wait: float) -> tuple[str, dict[str, str]]:
    """What to say, and the headers to send with 429, while an address has to wait."""
    seconds = max(1, int(wait + 0.999))
    message = f"too many wrong tokens from this address; try again in {seconds} s"
    return message, {"Retry-After": str(seconds)}


def too_many_attempts(wait: float) -> JSONResponse:
    message, headers = throttled(wait)
    return JSONResponse({"error": message}, status_code=429, headers=headers)


def action_refusal(
    request: Request, access: Access | None, form: dict[str, str]
) -> Response | None:
    """``None`` when this POST may act; otherwise the response that says why not."""
    if access is None:
        return JSONResponse(
            {"error": "dashboard actions need service.access_token in the config"},
            status_code=403,
        )
    caller = access.identify(request)
    if caller.how == "bearer":
        return None
    why = None
    if caller.how != "session":
        why = "not signed in"
    elif not hmac.compare_digest(form.get("csrf", ""), access.csrf(caller.nonce)):
        why = "missing or wrong CSRF token"
    elif not _same_origin(request):
        why = "cross-origin POST"
    if why is None:
        return None
    log.warning(
        "dashboard.action_refused",
        path=request.url.path,
        client=request.client.host if request.client else None,
        reason=why,
    )
    status = 401 if caller.how != "session" else 403
    return JSONResponse({"error": f"refused: {why}"}, status_code=status)


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        # No Origin: not a cross-site browser form (those always send one on POST), or an
        # old client; the CSRF token already matched. "null" comes from sandboxed frames.
        return origin is None
    return urlsplit(origin).netloc == request.headers.get("host", "")


def safe_next(target: str | None) -> str:
    """Where to go after login: a path on this site only (no ``//host`` or ``scheme:``)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


class AccessGuard:
    """Lets a request through when it is public or proves the token (bearer or session).

    ``public`` holds (method, path) pairs, matched exactly: the webhook is open to POST on
    its own path and nothing else. A browser (``Accept: text/html``) without either is
    redirected to the login form; anything else gets 401 with ``WWW-Authenticate: Bearer``.
    """

    def __init__(self, app: ASGIApp, access: Access, public: frozenset[tuple[str, str]]) -> None:
        self._app = app
        self._access = access
        self._public = public | OPEN_ROUTES

    def _is_public(self, method: str, path: str) -> bool:
        if (method, path) in self._public:
            return True
        return method in ("GET", "HEAD") and path.startswith(OPEN_PREFIX)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or self._is_public(scope["method"], path):
            await self._app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        given = headers.get(b"authorization", b"")
        client = client_address(scope)
        response: Response
        if given:
            # A bearer header is an attempt at the token: weighed only while the address
            # has attempts left, right or wrong.
            wait = self._access.throttle.wait(client)
            if wait > 0:
                log.warning("service.throttled", path=path, client=client, wait_seconds=wait)
                response = too_many_attempts(wait)
                await response(scope, receive, send)
                return
        caller = self._access.identify(scope)
        if given and caller.how != "bearer":
            self._access.throttle.failed(client)
        if caller.how != "none":
            await self._app(scope, receive, send)
            return
        log.warning(
            "service.unauthorized",
            path=path,
            client=client,
            reason="wrong bearer token" if given else "no bearer token or session",
        )
        if scope["method"] == "GET" and b"text/html" in headers.get(b"accept", b""):
            query = scope.get("query_string", b"").decode("latin-1")
            target = path + (f"?{query}" if query else "")
            response = RedirectResponse(f"/login?next={quote(target)}", status_code=303)
        else:
            response = JSONResponse(
                {"error": "send Authorization: Bearer <service.access_token>"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        await response(scope, receive, send)
