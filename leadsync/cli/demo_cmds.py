"""``demo`` and ``sandbox``: LeadSync end to end with no CRM, no config, no database server."""

from __future__ import annotations

import signal
import sys
import threading
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from leadsync.cli.app import app
from leadsync.cli.options import JsonOpt
from leadsync.cli.output import RichProgress, console, emit_json
from leadsync.cli.wording import counts_text, score_text, value_text
from leadsync.engine.cycle import LogProgress, Progress

if TYPE_CHECKING:
    from leadsync.demo import DemoReport

CRM_NAMES = {"salesforce": "Salesforce", "hubspot": "HubSpot"}
#: The list view's columns: the lead, LeadSync's fields, and who works it now.
LIST_COLUMNS = (
    ("Name", "name"),
    ("Fit", "fit"),
    ("Score", "score"),
    ("Readiness", "readiness"),
    ("Team", "team"),
    ("Owner", "owner"),
    ("Status", "status"),
)
CELLS = (("good", "Good fit"), ("poor", "Poor fit"))
READINESS = (("hand_raiser", "Hand-raiser"), ("sales_ready", "Sales-ready"), ("unready", "Unready"))


@app.command()
def demo(
    leads: Annotated[
        int, typer.Option(metavar="N", help="Leads in the generated Salesforce org.", min=50)
    ] = 2_000,
    seed: Annotated[int, typer.Option(metavar="N", help="Seed of the generated org.")] = 7,
    folder: Annotated[
        Path,
        typer.Option(
            "--dir",
            metavar="FOLDER",
            help="Where the demo leaves its config (leadsync.toml) and store (leadsync.db) for "
            "`leadsync status`, `explain` and `report`; an earlier demo's are replaced.",
        ),
    ] = Path("leadsync-demo"),
    as_json: JsonOpt = False,
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
        report = run_demo(leads=leads, seed=seed, folder=folder, progress=progress, say=say)
    if as_json:
        emit_json(report.to_dict())
        return
    print_demo(report)


def print_demo(report: DemoReport) -> None:
    """The matrix, the moved leads as a Salesforce list view, API use, and what to run next."""
    matrix = Table(title="Lead qualification matrix (people per cell)")
    matrix.add_column("")
    for _, label in READINESS:
        matrix.add_column(label, justify="right")
    for fit, label in CELLS:
        matrix.add_row(
            label, *(value_text(report.matrix.get(f"{fit}/{r}", 0)) for r, _ in READINESS)
        )
    dnc = sum(n for cell, n in report.matrix.items() if cell.endswith("do_not_contact"))
    console.print(matrix)
    console.print(f"Do not contact: {value_text(dnc)}")
    if report.moved:
        print_list_view(report.moved)
    if report.sales_view:
        print_sales_view(report.sales_view)
    acted = report.second.actions
    console.print(
        f"Live cycle: {acted.get('handed_off', 0)} hand-offs (owner, hand-off status and a "
        f"task each), {acted.get('recycled', 0)} recycles, {acted.get('breaches', 0)} SLA "
        f"breaches; {acted.get('actions_done', 0)} CRM actions confirmed.",
        highlight=False,
    )
    commands = report.next_commands()
    for name, calls in report.api_calls.items():
        console.print(api_use_text(name, calls), highlight=False)
    for name, calls in report.api_calls.items():
        if calls["first_sync_rejected"]:
            console.print(
                f"{CRM_NAMES.get(name, name)} rejected {calls['first_sync_rejected']} records "
                "(validation rules); they are kept with the CRM's message and retried: see "
                f"`{commands[0]}`.",
                markup=False,
                highlight=False,
            )
    if report.config is not None:
        folder = report.config.parent
        console.print(
            f"Left in {folder}/: leadsync.toml (the config; the sandboxes it names have "
            "stopped) and leadsync.db (the store). See what the demo did with:",
            markup=False,
            highlight=False,
        )
        for command in commands:
            # One line each, never wrapped, so each can be copied and run as printed.
            console.print(f"  {command}", markup=False, highlight=False, soft_wrap=True)
    if report.conversion:
        console.print(conversion_text(report.conversion), markup=False, highlight=False)
    console.print(f"Done in {report.seconds:.1f} s.")


def conversion_text(cells: dict[str, dict[str, int]]) -> str:
    """``Converted within 90 days, per cell: good/hand-raiser 9 of 14 (64 %), ...``."""
    parts = []
    for fit, _ in CELLS:
        for readiness, label in READINESS:
            counts = cells.get(f"{fit}/{readiness}")
            if counts and counts["leads"]:
                rate = 100 * counts["converted"] / counts["leads"]
                parts.append(
                    f"{fit}/{label.lower()} {counts['converted']:,} of {counts['leads']:,} "
                    f"({rate:.0f} %)"
                )
    return (
        "Converted within 90 days, per cell (leads whose cycle has told, read as `report` "
        "reads them): " + "; ".join(parts)
    )


def print_list_view(moved: list[dict[str, Any]]) -> None:
    """The moved leads as a Salesforce list view shows them, then one lead's Reason and task."""
    view = Table(title="Salesforce list view (read back through the API): moved to sales")
    for label, _ in LIST_COLUMNS:
        view.add_column(label, overflow="fold")
    for lead in moved:
        view.add_row(
            *(
                score_text(lead[key]) if key == "score" else value_text(lead[key])
                for _, key in LIST_COLUMNS
            )
        )
    console.print(view)
    first = moved[0]
    console.print(
        f"{value_text(first['name'])}'s Reason field: {value_text(first['reason'])}",
        markup=False,
        highlight=False,
    )
    console.print(
        f"Task for the rep: {value_text(first['task'])} "
        f"({value_text(first['task_priority'])} priority)",
        markup=False,
        highlight=False,
    )


def print_sales_view(view: dict[str, Any]) -> None:
    """A list view ``install`` made, its first rows as sales sees them in Salesforce. The
    Reason column (up to 255 characters; one lead's is printed above) is named, not shown,
    so the table stays readable and every cell whole."""
    shown = [i for i, label in enumerate(view["columns"]) if not label.endswith("Reason")]
    table = Table(
        title=f"Salesforce list view '{view['label']}' as sales opens it "
        f"(first {len(view['rows'])} of {value_text(view['size'])})"
    )
    for i in shown:
        table.add_column(view["columns"][i], overflow="fold")
    for row in view["rows"]:
        table.add_row(*(value_text(row[i]) for i in shown))
    console.print(table)
    console.print(f"Its columns: {', '.join(view['columns'])}.", highlight=False)


def api_use_text(name: str, calls: dict[str, Any]) -> str:
    """``Salesforce API calls: 21 of the org's daily limit of 100,000 (pulls 14, writes 7)``."""
    used = calls["pulls"] + calls["writes"]
    limit = calls.get("daily_limit")
    of = f" of the {'org' if name == 'salesforce' else 'portal'}'s daily limit of {limit:,}"
    return (
        f"{CRM_NAMES.get(name, name)} API calls: {used:,}{of if limit else ''} "
        f"(pulls {calls['pulls']:,}, writes {calls['writes']:,}); records written: first sync "
        f"{calls['first_sync_written']:,}, live cycle {calls['live_sync_written']:,}."
    )


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
        made: dict[str, int] = {}
        if live:
            hubspot_traffic.start()
        try:
            while not stop.wait(tick):
                if live:
                    changes = salesforce_traffic.tick()
                    for name, n in changes.items():
                        made[name] = made.get(name, 0) + n
                    console.print(
                        f"Salesforce traffic: {counts_text(changes) or 'no changes'}",
                        highlight=False,
                    )
        except KeyboardInterrupt:
            pass
        finally:
            if live:
                hubspot_traffic.stop()
            served = (world.salesforce.stats()["total"], world.hubspot.stats()["total"])
    console.print(
        f"Sandboxes stopped. They served {served[0]:,} Salesforce and {served[1]:,} HubSpot "
        "API calls" + (f"; Salesforce traffic made {counts_text(made)}." if made else "."),
        highlight=False,
    )
