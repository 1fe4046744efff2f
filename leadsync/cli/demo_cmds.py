"""``demo`` and ``sandbox``: LeadSync end to end with no CRM, no config, no database server."""

from __future__ import annotations

import signal
import sys
import threading
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from leadsync.cli.app import app
from leadsync.cli.output import RichProgress, console, emit_json
from leadsync.engine.cycle import LogProgress, Progress

CELLS = (("good", "Good fit"), ("poor", "Poor fit"))
READINESS = (("hand_raiser", "Hand-raiser"), ("sales_ready", "Sales-ready"), ("unready", "Unready"))


@app.command()
def demo(
    leads: Annotated[
        int, typer.Option(metavar="N", help="Leads in the generated Salesforce org.", min=50)
    ] = 2_000,
    seed: Annotated[int, typer.Option(metavar="N", help="Seed of the generated org.")] = 7,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON document on stdout.")
    ] = False,
) -> None:
    """Try LeadSync on built-in Salesforce and HubSpot sandboxes.

    Generates an org and a portal sharing people, syncs both with the real clients, moves
    leads to sales with HubSpot form submissions, and leaves a config and store behind for
    `leadsync status`, `explain` and `report`.
    """
    from leadsync.demo import run_demo

    with ExitStack() as stack:
        progress: Progress = LogProgress(every_seconds=30)
        if sys.stderr.isatty() and not as_json:
            progress = stack.enter_context(RichProgress())
        say = (lambda _t: None) if as_json else (lambda text: console.print(text, highlight=False))
        report = run_demo(leads=leads, seed=seed, progress=progress, say=say)
    if as_json:
        emit_json(report.to_dict())
        return
    matrix = Table(title="Lead qualification matrix (people per cell)")
    matrix.add_column("")
    for _, label in READINESS:
        matrix.add_column(label, justify="right")
    for fit, label in CELLS:
        matrix.add_row(label, *(str(report.matrix.get(f"{fit}/{r}", 0)) for r, _ in READINESS))
    dnc = sum(n for cell, n in report.matrix.items() if cell.endswith("do_not_contact"))
    console.print(matrix)
    console.print(f"Do not contact: {dnc}")
    for name, calls in report.api_calls.items():
        console.print(
            f"{name}: first sync wrote {calls['first_sync_written']:,} records with "
            f"{calls['first_sync_calls']:,} API calls in all (writes alone need at least "
            f"{calls['first_sync_write_minimum']:,}); the live cycle wrote "
            f"{calls['live_sync_written']:,} with {calls['live_sync_calls']:,} calls "
            f"(write minimum {calls['live_sync_write_minimum']:,})."
        )
    for name, calls in report.api_calls.items():
        if calls["first_sync_rejected"]:
            console.print(
                f"{name} rejected {calls['first_sync_rejected']} records (validation rules); "
                "they are kept with the CRM's message and retried: see `leadsync status`."
            )
    if report.moved:
        columns = ("email", "readiness", "team", "score", "owner", "status", "task_priority")
        moved = Table(title="HubSpot form submissions moved these Salesforce leads to sales")
        for column in columns:
            moved.add_column("task" if column == "task_priority" else column)
        for item in report.moved:
            moved.add_row(*(str(item[c]) for c in columns))
        console.print(moved)
    acted = report.second.actions
    console.print(
        f"Live cycle: {acted.get('handed_off', 0)} hand-offs (owner, hand-off status and a "
        f"task each), {acted.get('recycled', 0)} recycles, {acted.get('breaches', 0)} SLA "
        f"breaches; {acted.get('actions_done', 0)} CRM actions confirmed."
    )
    console.print(f"Done in {report.seconds:.1f} s.")


@app.command()
def sandbox(
    port: Annotated[
        int,
        typer.Option(
            metavar="PORT", help="Salesforce port (HubSpot gets the next one); 0 picks free ports."
        ),
    ] = 8443,
    host: Annotated[str, typer.Option(metavar="ADDRESS", help="Address to bind.")] = "127.0.0.1",
    leads: Annotated[
        int, typer.Option(metavar="N", help="Leads in the generated org.", min=50)
    ] = 5_000,
    seed: Annotated[
        int, typer.Option(metavar="N", help="Seed of the generated org and portal.")
    ] = 7,
    live: Annotated[
        bool, typer.Option("--live/--no-live", help="Keep simulating CRM traffic.")
    ] = False,
    tick: Annotated[
        float, typer.Option(metavar="SECONDS", help="Seconds between traffic ticks.", min=0.1)
    ] = 5.0,
    write_config: Annotated[
        Path,
        typer.Option(
            metavar="FILE", help="Where to write a LeadSync config that points at the sandboxes."
        ),
    ] = Path("leadsync.sandbox.toml"),
    store_url: Annotated[
        str, typer.Option(metavar="URL", help="Store URL to put in that config.")
    ] = "sqlite:///leadsync-sandbox.db",
) -> None:
    """Serve the Salesforce and HubSpot sandboxes until Ctrl-C.

    Writes a config pointing at them, for `leadsync sync` and `leadsync run`.
    """
    import tomli_w

    from leadsync.sandboxes import running_sandboxes
    from sandboxes.hubspot.traffic import TrafficGenerator as HubSpotTraffic
    from sandboxes.salesforce.traffic import TrafficGenerator as SalesforceTraffic

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with running_sandboxes(leads, seed, host=host, port=port) as world:
        # The sandboxes' throwaway credentials go to a file only its owner can read, never
        # to the terminal: no command prints a secret.
        write_config.touch(mode=0o600, exist_ok=True)
        write_config.chmod(0o600)
        write_config.write_text(tomli_w.dumps(world.config_data(store_url)))
        console.print(f"Salesforce sandbox: {world.salesforce.url} (HTTPS)")
        console.print(f"HubSpot sandbox:    {world.hubspot.url}")
        console.print(f"People in both:     {len(world.shared_emails):,}")
        console.print(f"Config written to {write_config} (mode 600). Try:")
        console.print(f"  leadsync --config {write_config} sync")
        console.print("Stats: GET <url>/_sandbox/stats   Faults: POST <url>/_sandbox/faults")
        hubspot_traffic = HubSpotTraffic(world.hubspot.portal, seed=seed, interval_s=tick)
        salesforce_traffic = SalesforceTraffic(world.salesforce.org, seed=seed)
        if live:
            hubspot_traffic.start()
        try:
            while not stop.wait(tick):
                if live:
                    changes = salesforce_traffic.tick()
                    console.print(f"salesforce traffic: {changes}", highlight=False)
        except KeyboardInterrupt:
            pass
        finally:
            if live:
                hubspot_traffic.stop()
    console.print("Sandboxes stopped.")
