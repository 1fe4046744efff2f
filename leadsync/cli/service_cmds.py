"""``run``: the long-running service (scheduled syncs, webhooks, health and metrics), and the
backfill queue it serves (``queue-backfill``, ``backfills``)."""

from __future__ import annotations

import os
import sys
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from typing import Annotated

import httpx
import typer
from rich.table import Table

from jobs.lock import ProcessLock, lock_path_for
from leadsync.cli.app import Context, app
from leadsync.cli.options import ConnectorOpt, JsonOpt
from leadsync.cli.output import console, emit_json
from leadsync.config import load_settings
from leadsync.errors import ConfigError
from leadsync.ports import listening_socket
from leadsync.service.runtime import DEFAULT_LEASE, serve
from leadsync.store.queue import enqueue_backfill, recent_requests
from leadsync.wiring import open_store


@app.command()
def run(
    ctx: typer.Context,
    grace: Annotated[
        float,
        typer.Option(
            "--grace",
            metavar="SECONDS",
            min=1.0,
            help="Seconds a running cycle gets to finish on SIGTERM before the process exits.",
        ),
    ] = 60.0,
    lease: Annotated[
        float,
        typer.Option(
            "--lease",
            metavar="SECONDS",
            min=2.0,
            help="PostgreSQL: seconds within which a standby replica takes over from a dead "
            "leader.",
        ),
    ] = DEFAULT_LEASE.total_seconds(),
) -> None:
    """Run the service: scheduled syncs, webhooks, health.

    Serves scheduled syncs, HubSpot webhooks, /healthz, /readyz and /metrics. On PostgreSQL any
    number of replicas may run: one leads (runs the cycles), the others
    stand by and serve HTTP. On SQLite a second process is refused.
    """
    obj: Context = ctx.obj
    settings = load_settings(obj.config)
    service = settings.service
    with ExitStack() as stack:
        lock_path = lock_path_for(settings.store.url)
        if lock_path is not None:
            stack.enter_context(ProcessLock(lock_path))
        # The port before any other work: taken, the start ends here (exit 6), no CRM called.
        listener = stack.enter_context(
            listening_socket(
                service.host,
                service.port,
                remedy=f"stop that process or set [service] port in {settings.source} to a "
                "free one",
            )
        )
        if sys.stderr.isatty():
            # A terminal shows warnings only (-v: info); say once that the service is up.
            port = listener.getsockname()[1]
            console.print(
                f"Serving {healthz_url(service.host, port).removesuffix('/healthz')} "
                "(dashboard, /healthz, /metrics); Ctrl-C stops.",
                highlight=False,
            )
        finished = serve(settings, listener, grace=grace, lease=timedelta(seconds=lease))
    if not finished:
        # The cycle's worker thread would hold the interpreter open; what it committed is
        # durable and the next start redoes the rest, so leave now as promised.
        sys.stderr.flush()
        os._exit(0)


@app.command()
def healthcheck(
    ctx: typer.Context,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout", metavar="SECONDS", min=0.1, help="Seconds to wait for the answer."
        ),
    ] = 4.0,
) -> None:
    """Exit 0 when this machine's service answers /healthz.

    The container image's HEALTHCHECK: it asks `leadsync run` on this machine. It asks the host and
    port of [service] in the config, so a changed port stays checked.
    """
    obj: Context = ctx.obj
    service = load_settings(obj.config).service
    url = healthz_url(service.host, service.port)
    try:
        status = httpx.get(url, timeout=timeout).status_code
    except httpx.HTTPError as exc:
        typer.echo(f"{url}: {exc.__class__.__name__}: {exc}", err=True)
        raise typer.Exit(1) from exc
    if status != 200:
        typer.echo(f"{url}: HTTP {status}", err=True)
        raise typer.Exit(1)
    typer.echo(f"{url}: ok")


def healthz_url(host: str, port: int) -> str:
    """Where a process on this machine reaches a service bound to ``host``:``port``."""
    unspecified = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}
    local = unspecified.get(host, host)
    if ":" in local:
        local = f"[{local}]"
    return f"http://{local}:{port}/healthz"


@app.command("queue-backfill")
def queue_backfill(
    ctx: typer.Context,
    connector: ConnectorOpt = None,
    since: Annotated[
        datetime | None,
        typer.Option(
            metavar="YYYY-MM-DD",
            help="Only records modified since this date.",
            formats=["%Y-%m-%d"],
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Pull and score, report what would change.")
    ] = False,
    no_actions: Annotated[
        bool,
        typer.Option("--no-actions", help="Write fields, but hand nobody off or recycle nobody."),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Queue a backfill for the running service.

    The leading `leadsync run` starts it between cycles; `leadsync backfills` shows how it went.
    """
    settings = load_settings(ctx.obj.config)
    configured = settings.require_connectors()
    unknown = [name for name in connector or [] if name not in configured]
    if unknown:
        raise ConfigError(
            f"{settings.source}: connectors: no connector named {', '.join(unknown)}; "
            f"configured: {', '.join(configured)}"
        )
    store = open_store(settings)
    try:
        with store.transaction() as conn:
            request_id, new = enqueue_backfill(
                conn,
                connectors=connector or [],
                since=since.replace(tzinfo=UTC) if since is not None else None,
                dry_run=dry_run,
                no_actions=no_actions,
                requested_by="cli",
                now=datetime.now(UTC),
            )
    finally:
        store.close()
    if as_json:
        emit_json({"id": request_id, "queued": new})
    elif new:
        console.print(
            f"Queued backfill request {request_id}; the leading `leadsync run` starts it "
            "after the cycle in hand. `leadsync backfills` shows how it went."
        )
    else:
        console.print(f"The same backfill is already queued as request {request_id}.")


@app.command("backfills")
def backfills(
    ctx: typer.Context,
    as_json: JsonOpt = False,
) -> None:
    """Queued, running and finished backfills, newest first."""
    settings = load_settings(ctx.obj.config)
    store = open_store(settings)
    try:
        with store.reading() as conn:
            requests = recent_requests(conn, 20)
    finally:
        store.close()
    if as_json:
        emit_json(requests)
        return
    table = Table(title="Backfill requests")
    for column in ("id", "state", "what", "requested", "by", "finished", "status", "error"):
        table.add_column(column)
    for item in requests:
        what = ", ".join(item["connectors"]) or "all"
        if item["since"]:
            what += f" since {item['since']:%Y-%m-%d}"
        flags = [
            f for f, on in (("dry-run", item["dry_run"]), ("no actions", item["no_actions"])) if on
        ]
        table.add_row(
            str(item["id"]),
            item["state"],
            what + (f" ({', '.join(flags)})" if flags else ""),
            f"{item['requested_at']:%Y-%m-%d %H:%M:%S}",
            item["requested_by"],
            f"{item['finished_at']:%Y-%m-%d %H:%M:%S}" if item["finished_at"] else "",
            item["status"] or "",
            (item["error"] or "")[:80],
        )
    console.print(table)
