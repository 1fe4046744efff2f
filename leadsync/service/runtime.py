"""Assembling and running the service: store, engine, scheduler and HTTP app in one process.

Threads: uvicorn serves HTTP on the main thread's event loop; every cycle runs on the
scheduler's single worker thread; on PostgreSQL a lease thread decides whether this replica
leads (runs the scheduler) or stands by (serves HTTP only). On SIGTERM or SIGINT the HTTP
server stops accepting, the running cycle ends its pull at the next batch boundary and
finishes scoring and writing (bounded by ``grace``), the scheduler starts nothing new, the
lease is given up, and ``serve`` returns.
"""

from __future__ import annotations

import signal
import socket
import threading
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from types import FrameType

import structlog
import uvicorn

from connectors.hubspot.webhooks import WebhookEvent
from jobs.backfills import JOB_NAME as BACKFILLS
from jobs.backfills import BackfillJob
from jobs.decay import CHECK_EVERY as DECAY_CHECK
from jobs.decay import JOB_NAME as DECAY
from jobs.decay import DecayJob
from jobs.handover import EVERY as HANDOVER_EVERY
from jobs.handover import JOB_NAME as HANDOVER
from jobs.handover import HandoverJob
from jobs.leading import LeaderScheduler
from jobs.lease import AdvisoryLease, Lease, SoleLease
from jobs.runner import CycleRunner, StopAwareProgress
from jobs.scheduler import Periodic, SyncScheduler
from leadsync.config import Settings
from leadsync.logs import register_secrets
from leadsync.service.app import ServiceParts, build_app
from leadsync.service.hosts import served_hosts
from leadsync.service.metrics import ServiceMetrics
from leadsync.service.server import http_config
from leadsync.service.state import CycleLog
from leadsync.service.views import ReportInputs
from leadsync.service.webhook import HubSpotWebhook, people_named
from leadsync.store import Store
from leadsync.store.db import backend_name
from leadsync.store.webhooks import StoredEventIds, hand_over
from leadsync.wiring import build_connectors, build_engine, health_rules, open_store

log = structlog.get_logger(__name__)

#: Default bound on how long a standby replica takes to take over from a dead leader.
DEFAULT_LEASE = timedelta(seconds=10)
#: How often the leader looks for queued backfills (the dashboard also asks at once).
QUEUE_POLL = timedelta(seconds=5)


class _Server(uvicorn.Server):
    """uvicorn's server, also telling the service to stop when a signal arrives."""

    def __init__(self, config: uvicorn.Config, stop: Callable[[], None]) -> None:
        super().__init__(config)
        self._stop = stop

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self._stop()
        super().handle_exit(sig, frame)


def make_lease(store_url: str, lease: timedelta) -> Lease:
    """An advisory-lock lease on PostgreSQL; on SQLite the process lock already decided."""
    if backend_name(store_url) == "postgresql":
        return AdvisoryLease(store_url, lease)
    return SoleLease()


def serve(
    settings: Settings,
    listener: socket.socket,
    *,
    grace: float = 60.0,
    lease: timedelta = DEFAULT_LEASE,
) -> bool:
    """Serve on ``listener`` (``leadsync.ports.listening_socket``: the port is claimed before
    any other work) until SIGTERM/SIGINT; ``True`` when the running cycle finished within
    ``grace`` s.

    ``False`` means a cycle was still running at the deadline: everything it committed is
    kept, and the next run redoes the rest. ``lease`` bounds how long a standby replica
    takes to notice a dead leader (PostgreSQL only).
    """
    stopping = threading.Event()
    # Set on shutdown and while a deposed leader winds down: cycles stop at a safe point.
    halt = threading.Event()

    def stop() -> None:
        stopping.set()
        halt.set()

    service = settings.service
    token = service.access_token.get_secret_value() if service.access_token else None
    register_secrets([token])
    with ExitStack() as stack:
        store = open_store(settings)
        stack.callback(store.close)
        connectors = build_connectors(settings)
        engine = build_engine(settings, store, connectors, progress=StopAwareProgress(halt))
        metrics = ServiceMetrics(connectors)
        cycles = CycleLog(started_at=datetime.now(UTC))
        runner = CycleRunner(engine, halt, [cycles.record, metrics.observe])
        interval = timedelta(seconds=settings.sync.interval_seconds)
        names = list(connectors)
        backfills = BackfillJob(
            store,
            engine,
            halt,
            names,
            observers=[metrics.observe],
            per_connector=[cycles.record],
        )
        queue = Periodic(BACKFILLS, backfills.run_next, QUEUE_POLL)
        # ``scheduler`` is bound below, before any periodic job can run.
        handover = HandoverJob(store, lambda c, refs: scheduler.trigger(c, refs), names)
        pickup = Periodic(HANDOVER, handover.run, HANDOVER_EVERY)
        reread = timedelta(hours=settings.sync.reread_hours) if settings.sync.reread_hours else None
        decay = Periodic(DECAY, DecayJob(store, engine, halt, reread=reread).run, DECAY_CHECK)
        scheduler = LeaderScheduler(
            make_lease(settings.store.url, lease),
            lambda: SyncScheduler(runner.run, names, interval, periodic=[queue, decay, pickup]),
            halt=halt,
            stopping=stopping,
            grace=grace,
        )
        webhook = _webhook(settings, store, scheduler, metrics)
        hosts = served_hosts(service.host, service.allowed_hosts, token is not None)
        app = build_app(
            ServiceParts(
                store=store,
                connectors=list(connectors),
                interval=interval,
                cycles=cycles,
                metrics=metrics,
                webhook=webhook,
                webhook_path=service.webhook_path,
                access_token=token,
                leadership=scheduler,
                usage=connectors,
                users=connectors,
                trigger=scheduler.trigger,
                matrix_teams={
                    f"{fit}/{ready}": team
                    for (fit, ready), team in settings.model_spec().matrix.items()
                },
                report=ReportInputs(settings.model_spec(), settings.identity.fit_source),
                health=health_rules(settings),
                allowed_hosts=hosts,
            )
        )
        config = http_config(app, service.host, service.port)
        # uvicorn restores the handlers it found and re-raises the signal it caught once it
        # has stopped; with the default handler that re-raise would kill us before the
        # cycle could finish, so the handlers it finds only set ``stopping``.
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous = signal.signal(sig, lambda *_: stop())
            stack.callback(signal.signal, sig, previous)
        scheduler.start()
        log.info(
            "service.started",
            url=f"http://{service.host}:{listener.getsockname()[1]}",
            connectors=list(connectors),
            interval_seconds=settings.sync.interval_seconds,
            webhook=service.webhook_path if webhook else None,
            hosts=list(hosts) if hosts is not None else "any",
        )
        try:
            _Server(config, stop).run(sockets=[listener])
        finally:
            stop()
            finished = scheduler.shutdown(grace)
        if finished:
            for connector in connectors.values():
                connector.close()
        log.info("service.stopped", cycle_finished=finished)
        return finished


def _webhook(
    settings: Settings, store: Store, scheduler: LeaderScheduler, metrics: ServiceMetrics
) -> HubSpotWebhook | None:
    hubspot = settings.connectors.section("hubspot")
    if hubspot is None:
        return None
    if hubspot.client_secret is None:
        log.warning(
            "service.webhook_disabled",
            reason="connectors.hubspot.client_secret is not set; HubSpot signs with it",
        )
        return None

    def on_delivery(events: list[WebhookEvent]) -> bool:
        refs = people_named(events)
        if scheduler.scheduler is not None:
            return scheduler.trigger("hubspot", refs)
        # A standby (or a leader between terms) runs no cycle: the leader picks these up
        # within seconds (jobs.handover).
        with store.transaction() as conn:
            hand_over(conn, refs, datetime.now(UTC))
        log.info("webhook.handed_over", records=len(refs))
        return False

    return HubSpotWebhook(
        hubspot.client_secret.get_secret_value(),
        on_delivery,
        metrics,
        replays=StoredEventIds(store),
    )
