"""``run``: the long-running service (scheduled syncs, webhooks, health and metrics)."""

from __future__ import annotations

import os
import sys
from contextlib import ExitStack
from datetime import timedelta
from typing import Annotated

import typer

from jobs.lock import ProcessLock, lock_path_for
from leadsync.cli.app import Context, app
from leadsync.config import load_settings
from leadsync.service.runtime import DEFAULT_LEASE, serve


@app.command()
def run(
    ctx: typer.Context,
    grace: Annotated[
        float,
        typer.Option(
            "--grace",
            min=1.0,
            help="Seconds a running cycle gets to finish on SIGTERM before the process exits.",
        ),
    ] = 60.0,
    lease: Annotated[
        float,
        typer.Option(
            "--lease",
            min=2.0,
            help="PostgreSQL: seconds within which a standby replica takes over from a dead "
            "leader.",
        ),
    ] = DEFAULT_LEASE.total_seconds(),
) -> None:
    """Run the service: scheduled syncs, HubSpot webhooks, /healthz, /readyz and /metrics.

    On PostgreSQL any number of replicas may run: one leads (runs the cycles), the others
    stand by and serve HTTP. On SQLite a second process is refused.
    """
    obj: Context = ctx.obj
    settings = load_settings(obj.config)
    with ExitStack() as stack:
        lock_path = lock_path_for(settings.store.url)
        if lock_path is not None:
            stack.enter_context(ProcessLock(lock_path))
        finished = serve(settings, grace=grace, lease=timedelta(seconds=lease))
    if not finished:
        # The cycle's worker thread would hold the interpreter open; what it committed is
        # durable and the next start redoes the rest, so leave now as promised.
        sys.stderr.flush()
        os._exit(0)
