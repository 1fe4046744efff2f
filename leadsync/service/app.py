"""The service's ASGI application: /healthz, /readyz, /metrics, the HubSpot webhook and the
dashboard.

With an access token configured every path needs ``Authorization: Bearer <token>`` (or the
dashboard's session cookie, see ``auth``) except the probes (orchestrators call them without
credentials, and they reveal nothing) and the webhook (HubSpot authenticates with its
signature instead). The dashboard's actions need the token always.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial

import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from jobs.lease import LEADER
from leadsync.service import dashboard
from leadsync.service.auth import Access, AccessGuard
from leadsync.service.dashboard import DashboardParts
from leadsync.service.hosts import HostGuard
from leadsync.service.metrics import CONTENT_TYPE, ServiceMetrics
from leadsync.service.names import (
    HEALTHZ,
    LOOPBACK_HOSTS,
    METRICS,
    PROBES,
    READYZ,
    path_problem,
)
from leadsync.service.offload import Offload, StoreBusy
from leadsync.service.owners import HasUsers, OwnerNames
from leadsync.service.state import (
    STALE_INTERVALS,
    CycleLog,
    HealthRules,
    Leadership,
    health_from_store,
    readiness,
)
from leadsync.service.views import HasUsage, ReportInputs
from leadsync.service.webhook import BodyTooLarge, BodyTooSlow, HubSpotWebhook, too_slow
from leadsync.store import Store
from leadsync.store.db import ping
from leadsync.store.runs import ConnectorHealth

log = structlog.get_logger(__name__)

#: Orchestrators call the probes without credentials; they reveal nothing.
PUBLIC_ROUTES = frozenset((method, path) for path in PROBES for method in ("GET", "HEAD"))
#: A store that does not answer a trivial query this fast counts as unreachable.
STORE_PROBE_SECONDS = 5.0
#: What a 503 for a busy store asks the caller to wait.
BUSY_RETRY_AFTER_SECONDS = 5


@dataclass(frozen=True)
class ServiceParts:
    """Everything the HTTP app reads; built by ``leadsync run`` (or a test)."""

    store: Store
    connectors: Sequence[str]
    interval: timedelta
    cycles: CycleLog
    metrics: ServiceMetrics
    webhook: HubSpotWebhook | None = None
    webhook_path: str = "/webhooks"
    access_token: str | None = None
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    #: Leader or standby (several replicas on PostgreSQL); ``None``: always the leader.
    leadership: Leadership | None = None
    #: The connectors' API usage, for the dashboard's budget (``/metrics`` has its own).
    usage: Mapping[str, HasUsage] = field(default_factory=dict)
    #: The connectors' users and queues, for owner names on the dashboard (none: ids).
    users: Mapping[str, HasUsers] = field(default_factory=dict)
    #: Ask the scheduler for a connector's cycle or a job now (``False``: standing by).
    trigger: Callable[[str], bool] = lambda name: False
    #: Which team holds each matrix cell (``good/hand_raiser`` -> ``sales``).
    matrix_teams: Mapping[str, str] = field(default_factory=dict)
    #: What the dashboard's report page reads from the config; ``None``: no report page data.
    report: ReportInputs | None = None
    #: When a connector is unhealthy (``[health]``); ``None``: stale after three intervals.
    health: HealthRules | None = None
    #: ``Host`` names answered to (``hosts.served_hosts``); ``None``: any.
    allowed_hosts: Sequence[str] | None = LOOPBACK_HOSTS


def _probe_store(
    store: Store, connectors: Sequence[str]
) -> tuple[str | None, dict[str, ConnectorHealth]]:
    """The store's problem, if any, and each connector's health as the runs table has it
    (the leader's cycles, whichever replica asks, and any command's)."""
    try:
        with store.reading() as conn:
            ping(conn)
            return None, health_from_store(conn, connectors)
    except Exception as exc:  # any driver error means "not reachable" to a probe
        return f"store unreachable: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}", {}


def _role(parts: ServiceParts) -> str:
    return parts.leadership.role if parts.leadership is not None else LEADER


async def _store_busy(request: Request, exc: Exception) -> Response:
    """A page or action whose store work outlived its deadline (``offload``)."""
    log.warning("service.store_busy", path=request.url.path, reason=str(exc))
    return PlainTextResponse(
        str(exc), status_code=503, headers={"Retry-After": str(BUSY_RETRY_AFTER_SECONDS)}
    )


async def _too_large(request: Request, exc: Exception) -> Response:
    return PlainTextResponse("form too large", status_code=413)


async def _too_slow(request: Request, exc: Exception) -> Response:
    client = request.client.host if request.client else None
    log.warning("service.body_too_slow", path=request.url.path, client=client)
    return too_slow()


def build_app(parts: ServiceParts) -> ASGIApp:
    """The ASGI app over ``parts``; wrap it in uvicorn (``leadsync run`` does)."""
    # One thread: probes come every few seconds, and one stuck on the store is enough to
    # know the store is not answering.
    probe = Offload("readyz-store", 1)
    # The guard and the dashboard share one: a signed-out session is out everywhere here.
    access = Access(parts.access_token) if parts.access_token else None

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "role": _role(parts)})

    rules = parts.health or HealthRules(parts.interval * STALE_INTERVALS)

    async def readyz(request: Request) -> Response:
        role = _role(parts)
        health: Mapping[str, ConnectorHealth] = {}
        try:
            problem, health = await probe.run(
                partial(_probe_store, parts.store, parts.connectors),
                STORE_PROBE_SECONDS,
            )
        except StoreBusy:
            problem = f"store did not answer within {STORE_PROBE_SECONDS:.0f} s"
        checks = readiness(
            parts.clock(), parts.cycles.started_at, parts.connectors, health, problem, rules
        )
        ready = all(c.ok for c in checks)
        if not ready:
            log.warning("service.unready", failing=[c.name for c in checks if not c.ok])
        since = parts.leadership.since if parts.leadership is not None else parts.cycles.started_at
        return JSONResponse(
            {
                "status": "ready" if ready else "unready",
                "role": role,
                "role_since": since.isoformat(),
                "checks": {c.name: {"ok": c.ok, "detail": c.detail} for c in checks},
            },
            status_code=200 if ready else 503,
        )

    async def metrics(request: Request) -> Response:
        body = await asyncio.to_thread(parts.metrics.render)
        return PlainTextResponse(body, media_type=CONTENT_TYPE)

    routes: list[BaseRoute] = [
        Route(HEALTHZ, healthz, methods=["GET"]),
        Route(READYZ, readyz, methods=["GET"]),
        Route(METRICS, metrics, methods=["GET"]),
    ]
    public = set(PUBLIC_ROUTES)
    taken = path_problem(parts.webhook_path) if parts.webhook is not None else None
    if taken is not None:  # the config refuses these; a caller building parts by hand too
        raise ValueError(f"webhook_path {parts.webhook_path!r}: {taken}")
    if parts.webhook is not None:
        routes.append(Route(parts.webhook_path, parts.webhook.handle, methods=["POST"]))
        # HubSpot authenticates by its signature, on this one path and method only.
        public.add(("POST", parts.webhook_path))
    routes.extend(
        dashboard.routes(
            DashboardParts(
                store=parts.store,
                connectors=parts.connectors,
                access=access,
                usage=parts.usage,
                trigger=parts.trigger,
                role=lambda: _role(parts),
                matrix_teams=parts.matrix_teams,
                clock=parts.clock,
                report=parts.report,
                owner_names=OwnerNames(parts.users) if parts.users else None,
            )
        )
    )
    handlers = {StoreBusy: _store_busy, BodyTooLarge: _too_large, BodyTooSlow: _too_slow}
    app: ASGIApp = Starlette(routes=routes, exception_handlers=handlers)
    if access is not None:
        app = AccessGuard(app, access, frozenset(public))
    return HostGuard(app, parts.allowed_hosts)
