"""Who may read the service's pages and who may act through the dashboard.

**Reading.** Without an access token (allowed only on a loopback bind) every page is open.
With one, every path except the probes, the webhook (HubSpot signs it), the login page and
the stylesheet needs either ``Authorization: Bearer <token>`` (Prometheus, scripts) or the
session cookie the login form sets. A browser asking for a page without either is sent to
the login form; anything else gets 401.

**Acting** (the dashboard's POSTs: retry rejected records, queue a backfill) always needs the
token: without one configured the dashboard is read-only and says so.

**The session cookie** is ``<issued>.<nonce>.<mac>`` with ``mac = HMAC-SHA256(token,
"session:<issued>.<nonce>")``: stateless, valid for ``SESSION_SECONDS``, and void as soon as
the token changes. The token itself never goes into the cookie, a page or a log. It is
``HttpOnly`` (no script reads it), ``SameSite=Strict`` (no other site's page can make the
browser send it) and ``Secure`` when served over HTTPS.

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


def identify(request: Request | Scope, token: str) -> Caller:
    """Bearer header first, then the session cookie."""
    scope = request.scope if isinstance(request, Request) else request
    headers = dict(scope["headers"])
    given = headers.get(b"authorization", b"")
    if given and hmac.compare_digest(given, f"Bearer {token}".encode()):
        return Caller("bearer")
    cookie = Request(scope).cookies.get(COOKIE)
    if cookie:
        nonce = session_nonce(token, cookie)
        if nonce is not None:
            return Caller("session", nonce)
    return ANONYMOUS


def action_refusal(request: Request, token: str | None, form: dict[str, str]) -> Response | None:
    """``None`` when this POST may act; otherwise the response that says why not."""
    if token is None:
        return JSONResponse(
            {"error": "dashboard actions need service.access_token in the config"},
            status_code=403,
        )
    caller = identify(request, token)
    if caller.how == "bearer":
        return None
    why = None
    if caller.how != "session":
        why = "not signed in"
    elif not hmac.compare_digest(form.get("csrf", ""), csrf_token(token, caller.nonce)):
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

    def __init__(self, app: ASGIApp, token: str, public: frozenset[tuple[str, str]]) -> None:
        self._app = app
        self._token = token
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
        caller = identify(scope, self._token)
        if caller.how != "none":
            await self._app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        given = headers.get(b"authorization", b"")
        client = scope.get("client")
        log.warning(
            "service.unauthorized",
            path=path,
            client=client[0] if client else None,
            reason="wrong bearer token" if given else "no bearer token or session",
        )
        response: Response
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
