"""``install`` and ``uninstall``: the access, views and lists LeadSync needs in each CRM.

Each connector plans its own steps (``Connector.plan_install``); this module prints the plan,
runs it unless ``--dry-run``, and says what each step did. A step that fails stops that
CRM's plan (later steps may depend on it) and the command exits 1 naming the step and the
CRM's message; running install again picks up where it stopped, since plans skip what is in
place.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated

import typer
from rich.markup import escape

from connectors.base import Connector, InstallStep
from leadsync.cli.app import app
from leadsync.cli.options import ConnectorOpt, JsonOpt
from leadsync.cli.output import console, emit_json
from leadsync.config import load_settings
from leadsync.config.settings import Settings
from leadsync.errors import LeadSyncError
from leadsync.wiring import build_connectors

DryRunOption = Annotated[bool, typer.Option("--dry-run", help="Print the plan and change nothing.")]


@app.command()
def install(
    ctx: typer.Context,
    connector: ConnectorOpt = None,
    dry_run: DryRunOption = False,
    sales_access: Annotated[
        bool,
        typer.Option(
            "--sales-access",
            help="Also grant read on LeadSync's fields to the reps of [[handoff.pools]] "
            "and the fallback owner.",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Grant LeadSync's access, views and lists in each CRM.

    Access for the integration user (and, with --sales-access, the reps); the views and
    lists sales and marketing open.

    Run after `fields create`. Safe to run again: what is in place is left as it is.
    """
    settings = load_settings(ctx.obj.config)
    connectors = build_connectors(settings, connector)
    reps = _reps(settings) if sales_access else ()
    sales_crm = _sales_crm(settings)
    _carry_out(
        connectors,
        lambda name, c: c.plan_install(reps if name == sales_crm else ()),
        dry_run=dry_run,
        as_json=as_json,
    )


@app.command()
def uninstall(
    ctx: typer.Context,
    connector: ConnectorOpt = None,
    dry_run: DryRunOption = False,
    remove_fields: Annotated[
        bool,
        typer.Option(
            "--remove-fields",
            help="Also delete the fields LeadSync created, and the scores and owners' "
            "reasons they hold.",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Remove what `install` made: grants, views, lists.

    Access grants and their assignments, list views, lists. Fields stay, since they hold
    data, unless --remove-fields.
    """
    settings = load_settings(ctx.obj.config)
    connectors = build_connectors(settings, connector)
    _carry_out(
        connectors,
        lambda _name, c: c.plan_uninstall(remove_fields),
        dry_run=dry_run,
        as_json=as_json,
    )


def _reps(settings: Settings) -> tuple[str, ...]:
    """The users hand-off gives leads to, who read LeadSync's fields in their views."""
    handoff = settings.handoff
    reps = [member for pool in handoff.pools for member in pool.members]
    if handoff.fallback_owner:
        reps.append(handoff.fallback_owner)
    return tuple(dict.fromkeys(reps))


def _sales_crm(settings: Settings) -> str:
    """The CRM whose users the reps are: ``[identity] sales_crm``, else the first CRM."""
    return settings.identity.sales_crm or settings.require_connectors()[0]


Planner = Callable[[str, Connector], Sequence[InstallStep]]


def _carry_out(
    connectors: dict[str, Connector], plan_for: Planner, *, dry_run: bool, as_json: bool
) -> None:
    report: dict[str, list[dict[str, str]]] = {}
    failed = False
    try:
        for name, c in connectors.items():
            steps: Sequence[InstallStep] = plan_for(name, c)
            report[name] = []
            for step in steps:
                outcome = step.change if dry_run or step.run is None else _run(step)
                failed = failed or outcome.startswith("failed")
                report[name].append(
                    {
                        "what": step.what,
                        "change": step.change,
                        "detail": step.detail,
                        "outcome": outcome,
                    }
                )
                if not as_json:
                    _say(name, step, outcome, dry_run)
                if outcome.startswith("failed"):
                    break
            if not as_json and not steps:
                console.print(f"{name}: nothing to do")
    finally:
        for c in connectors.values():
            c.close()
    if as_json:
        emit_json({"ok": not failed, "dry_run": dry_run, "steps": report})
    elif not failed:
        changes = sum(1 for steps in report.values() for s in steps if s["change"] != "unchanged")
        verb = "would change" if dry_run else "changed"
        console.print(f"{verb} {changes} thing{'s' if changes != 1 else ''}")
    if failed:
        raise typer.Exit(1)


def _run(step: InstallStep) -> str:
    assert step.run is not None
    try:
        step.run()
    except LeadSyncError as exc:
        return f"failed: {exc}"
    return "done"


def _say(name: str, step: InstallStep, outcome: str, dry_run: bool) -> None:
    detail = f" ({step.detail})" if step.detail else ""
    if step.change == "unchanged":
        mark = "[dim]in place[/dim]"
    elif dry_run:
        mark = f"[yellow]would {step.change}[/yellow]"
    elif outcome == "done":
        mark = f"[green]{_past(step.change)}[/green]"
    else:
        mark = f"[red]{escape(outcome)}[/red]"
    console.print(f"{name}: {escape(step.what)}{escape(detail)}: {mark}", highlight=False)


def _past(change: str) -> str:
    return {
        "create": "created",
        "update": "updated",
        "assign": "assigned",
        "unassign": "unassigned",
        "remove": "removed",
    }.get(change, change)
