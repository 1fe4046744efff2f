"""The dashboard: server-rendered pages (Jinja2) over the store, and two actions.

Pages: the matrix and API budget (``/``), recent cycles (``/cycles``), rejected records with a
retry button (``/rejected``), hand-offs, SLA breaches and recycles (``/handoffs``), the
backfill queue with its form (``/backfills``), and ``leadsync report``'s document with charts
(``/report``: Chart.js, vendored under ``static/``, drawn by ``static/report.js`` from a JSON
block in the page, so the page runs no inline script). Actions are POSTs that redirect back
(post/redirect/get) with what happened in the query string; who may make them, and how
forged requests are kept out, is ``leadsync.service.auth``'s docstring.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

import jinja2
import structlog
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from leadsync.config.operations import MIN_SERVICE_TOKEN
from leadsync.report.render import lift_text, share_text
from leadsync.service import views
from leadsync.service.auth import (
    COOKIE,
    SESSION_SECONDS,
    Access,
    action_refusal,
    client_address,
    safe_next,
    throttled,
)
from leadsync.service.names import LOGIN, LOGOUT, STATIC, UNREADABLE
from leadsync.service.offload import Offload
from leadsync.service.owners import OwnerNames
from leadsync.service.webhook import read_limited
from leadsync.store import Store
from leadsync.store.actions import replay_parked
from leadsync.store.queue import enqueue_backfill
from leadsync.store.writes import replay_failed

log = structlog.get_logger(__name__)

#: The scheduler's name for the backfill queue job (``jobs.backfills.JOB_NAME``).
BACKFILL_JOB = "backfills"
MAX_FORM_BYTES = 16 * 1024
#: A greyed-out action button's tooltip (the page says the same at more length).
ACTIONS_OFF = "needs [service] access_token: set it in the config, restart, and sign in"
#: Months the report page covers unless ``?months=`` says otherwise, and the most it allows.
REPORT_MONTHS = 12
REPORT_MAX_MONTHS = 36
#: The report reads every person's history; one computed document serves this long.
REPORT_CACHE_SECONDS = 300.0
#: How long a page or action waits for the store before answering 503 (``offload``).
STORE_SECONDS = 10.0
#: The report page reads every person's history: on a big store that takes a while.
REPORT_STORE_SECONDS = 120.0
#: Pages and actions whose store work may be in flight at once (stuck ones included).
STORE_THREADS = 3
#: How long the hand-offs page waits for the CRMs' user lists before it shows ids.
OWNER_NAMES_SECONDS = 10.0
#: Sent with every page: no framing (the retry button cannot be clickjacked), no outside or
#: inline scripts or styles (scripts are this site's static files only), forms post only here.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("leadsync.service", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)
_env.filters["when"] = lambda v: f"{v:%Y-%m-%d %H:%M:%S}" if v else ""
_env.filters["day"] = lambda v: f"{v:%Y-%m-%d}" if v else ""
_env.filters["share"] = share_text
_env.filters["lift"] = lift_text
_env.filters["hours"] = lambda v: "-" if v is None else f"{v:.1f} h"


@dataclass(frozen=True)
class DashboardParts:
    """What the pages read and what the actions may poke."""

    store: Store
    connectors: Sequence[str]
    #: The token and its sessions; ``None``: no token configured (read-only dashboard).
    access: Access | None
    usage: Mapping[str, views.HasUsage] = field(default_factory=dict)
    #: ``trigger(name)``: ask the scheduler for a connector's cycle or a job now.
    trigger: Callable[[str], bool] = lambda name: False
    role: Callable[[], str] = lambda: "leader"
    matrix_teams: Mapping[str, str] = field(default_factory=dict)
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    #: The config the report page reads (model, fit source, sales cycle); ``None``: no report.
    report: views.ReportInputs | None = None
    #: Owner names per connector (the CRMs' users); ``None``: owners shown by id.
    owner_names: OwnerNames | None = None


def routes(parts: DashboardParts) -> list[BaseRoute]:
    """The dashboard's routes, to be mounted in the service app."""
    pages = _Pages(parts)
    return [
        Route("/", pages.overview, methods=["GET"]),
        Route("/cycles", pages.cycles, methods=["GET"]),
        Route("/rejected", pages.rejected, methods=["GET"]),
        Route("/rejected/retry", pages.retry, methods=["POST"]),
        Route("/handoffs", pages.handoffs, methods=["GET"]),
        Route("/backfills", pages.backfills, methods=["GET"]),
        Route("/backfills", pages.queue_backfill, methods=["POST"]),
        Route("/report", pages.report, methods=["GET"]),
        Route(UNREADABLE, pages.unreadable, methods=["GET"]),
        Route(LOGIN, pages.login_form, methods=["GET"]),
        Route(LOGIN, pages.login, methods=["POST"]),
        Route(LOGOUT, pages.logout, methods=["POST"]),
        Mount(STATIC, StaticFiles(packages=[("leadsync.service", "static")]), name="static"),
    ]


async def _form(request: Request) -> dict[str, list[str]]:
    """The posted form; ``BodyTooLarge`` / ``BodyTooSlow`` become 413 / 408 (``app``)."""
    body = await read_limited(request, MAX_FORM_BYTES)
    out: dict[str, list[str]] = {}
    for key, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
        out.setdefault(key, []).append(value)
    return out


def _first(form: Mapping[str, list[str]]) -> dict[str, str]:
    return {k: v[0] for k, v in form.items()}


class _Pages:
    def __init__(self, parts: DashboardParts) -> None:
        self.parts = parts
        #: months -> (monotonic time computed, the report page's data)
        self._reports: dict[int, tuple[float, dict[str, Any]]] = {}
        self._store = Offload("dashboard-store", STORE_THREADS)

    # -- rendering --------------------------------------------------------------------------

    def _render(
        self, request: Request, template: str, status: int = 200, **context: Any
    ) -> Response:
        access = self.parts.access
        caller = access.identify(request) if access is not None else None
        html = _env.get_template(template).render(
            path=request.url.path,
            role=self.parts.role(),
            connectors=list(self.parts.connectors),
            actions_enabled=access is not None,
            actions_off_title=ACTIONS_OFF,
            min_token=MIN_SERVICE_TOKEN,
            signed_in=caller is not None and caller.how == "session",
            csrf=access.csrf(caller.nonce) if access and caller and caller.nonce else "",
            flash=request.query_params.get("flash", ""),
            **context,
        )
        return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)

    async def _read(
        self, fn: Callable[..., Any], *args: Any, seconds: float = STORE_SECONDS
    ) -> Any:
        """``fn(conn, *args)`` on a worker thread; ``StoreBusy`` (a 503) past ``seconds``."""

        def run() -> Any:
            with self.parts.store.reading() as conn:
                return fn(conn, *args)

        return await self._store.run(run, seconds)

    # -- pages ------------------------------------------------------------------------------

    async def overview(self, request: Request) -> Response:
        now = self.parts.clock()
        matrix = await self._read(views.matrix, self.parts.matrix_teams)
        budget = await self._read(views.budget, self.parts.connectors, self.parts.usage, now)
        recent = await self._read(views.cycles, 5)
        return self._render(request, "overview.html", matrix=matrix, budget=budget, recent=recent)

    async def cycles(self, request: Request) -> Response:
        return self._render(request, "cycles.html", cycles=await self._read(views.cycles, 50))

    async def rejected(self, request: Request) -> Response:
        return self._render(request, "rejected.html", data=await self._read(views.rejected))

    async def unreadable(self, request: Request) -> Response:
        return self._render(request, "unreadable.html", data=await self._read(views.unreadable))

    async def handoffs(self, request: Request) -> Response:
        data = await self._read(views.handoff_page)
        views.name_owners(data, await self._owner_names())
        return self._render(request, "handoffs.html", data=data)

    async def _owner_names(self) -> dict[str, dict[str, str]]:
        """Each connector's owner names; ids only for a CRM that does not answer in time."""
        names = self.parts.owner_names
        if names is None:
            return {}

        def read() -> dict[str, dict[str, str]]:
            return {name: names.of(name) for name in self.parts.connectors}

        try:
            return await asyncio.wait_for(asyncio.to_thread(read), OWNER_NAMES_SECONDS)
        except TimeoutError:
            log.warning("dashboard.owner_names_slow", seconds=OWNER_NAMES_SECONDS)
            return {}

    async def backfills(self, request: Request, error: str = "", status: int = 200) -> Response:
        requests = await self._read(views.backfills)
        return self._render(
            request, "backfills.html", status=status, requests=requests, error=error
        )

    async def report(self, request: Request) -> Response:
        asked = request.query_params.get("months", "")
        months = REPORT_MONTHS
        if asked:
            if not asked.isdigit() or not 1 <= int(asked) <= REPORT_MAX_MONTHS:
                error = (
                    f"months must be a whole number from 1 to {REPORT_MAX_MONTHS}, not {asked!r}"
                )
                return self._render(
                    request, "report.html", status=400, months=months, data=None, error=error
                )
            months = int(asked)
        inputs = self.parts.report
        if inputs is None:
            error = "This service was started without the model config, so it has no report."
            return self._render(request, "report.html", months=months, data=None, error=error)
        cached = self._reports.get(months)
        if cached is not None and time.monotonic() - cached[0] < REPORT_CACHE_SECONDS:
            data = cached[1]
        else:
            data = await self._read(
                views.report, inputs, self.parts.clock(), months, seconds=REPORT_STORE_SECONDS
            )
            self._reports[months] = (time.monotonic(), data)
        return self._render(request, "report.html", months=months, data=data, error="")

    # -- actions ----------------------------------------------------------------------------

    async def retry(self, request: Request) -> Response:
        form = _first(await _form(request))
        refused = action_refusal(request, self.parts.access, form)
        if refused is not None:
            return refused
        connector = form.get("connector", "")
        if connector not in self.parts.connectors:
            return Response(f"no connector named {connector!r}", status_code=400)
        now = self.parts.clock()

        def replay() -> tuple[int, int]:
            with self.parts.store.transaction() as conn:
                return replay_failed(conn, connector, now), replay_parked(conn, connector, now)

        writes, actions = await self._store.run(replay, STORE_SECONDS)
        cycle = self.parts.trigger(connector)
        log.info(
            "dashboard.retry", connector=connector, writes=writes, actions=actions, cycle=cycle
        )
        flash = f"{connector}: {writes} write(s) and {actions} action(s) back in line; " + (
            "a cycle is queued" if cycle else "the next cycle sends them"
        )
        return RedirectResponse("/rejected?" + urlencode({"flash": flash}), status_code=303)

    async def queue_backfill(self, request: Request) -> Response:
        raw = await _form(request)
        form = _first(raw)
        refused = action_refusal(request, self.parts.access, form)
        if refused is not None:
            return refused
        chosen = raw.get("connector", [])
        unknown = [c for c in chosen if c not in self.parts.connectors]
        since: datetime | None = None
        error = ""
        if unknown:
            error = f"no connector named {', '.join(unknown)}"
        elif form.get("since"):
            try:
                since = datetime.strptime(form["since"], "%Y-%m-%d").replace(tzinfo=UTC)
            except ValueError:
                error = f"since must be a date like 2026-01-31, not {form['since']!r}"
        if error:
            return await self.backfills(request, error=error, status=400)
        every = set(chosen) == set(self.parts.connectors)
        now = self.parts.clock()

        def enqueue() -> tuple[int, bool]:
            with self.parts.store.transaction() as conn:
                return enqueue_backfill(
                    conn,
                    connectors=[] if every else chosen,
                    since=since,
                    dry_run=form.get("dry_run") == "on",
                    no_actions=form.get("no_actions") == "on",
                    requested_by="dashboard",
                    now=now,
                )

        request_id, new = await self._store.run(enqueue, STORE_SECONDS)
        self.parts.trigger(BACKFILL_JOB)
        log.info("dashboard.backfill_queued", request=request_id, new=new)
        flash = (
            f"Queued backfill request {request_id}."
            if new
            else f"The same backfill is already queued as request {request_id}."
        )
        return RedirectResponse("/backfills?" + urlencode({"flash": flash}), status_code=303)

    # -- signing in -------------------------------------------------------------------------

    async def login_form(self, request: Request) -> Response:
        return self._render(
            request, "login.html", next=safe_next(request.query_params.get("next")), error=""
        )

    async def login(self, request: Request) -> Response:
        access = self.parts.access
        form = _first(await _form(request))
        target = safe_next(form.get("next"))
        if access is None:
            return RedirectResponse(target, status_code=303)
        client = client_address(request.scope)
        wait = access.throttle.wait(client)
        if wait > 0:
            # Right or wrong, the token is not weighed while this address has to wait.
            log.warning("dashboard.login_throttled", client=client, wait_seconds=wait)
            message, headers = throttled(wait)
            page = self._render(request, "login.html", status=429, next=target, error=message)
            page.headers.update(headers)
            return page
        if not hmac.compare_digest(form.get("token", "").encode(), access.token.encode()):
            access.throttle.failed(client)
            log.warning("dashboard.login_refused", client=client)
            return self._render(
                request, "login.html", status=401, next=target, error="That is not the token."
            )
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            COOKIE,
            access.new_session(),
            max_age=SESSION_SECONDS,
            path="/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        log.info("dashboard.signed_in", client=client)
        return response

    async def logout(self, request: Request) -> Response:
        form = _first(await _form(request))
        access = self.parts.access
        refused = action_refusal(request, access, form)
        if refused is not None or access is None:
            return refused or Response(status_code=403)
        # The cookie stops working here and now, not only in this browser.
        nonce = access.session(request.cookies.get(COOKIE, ""))
        if nonce is not None:
            access.sign_out(nonce)
            log.info("dashboard.signed_out", client=client_address(request.scope))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return response
