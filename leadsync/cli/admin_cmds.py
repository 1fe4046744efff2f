"""``check``, ``fields create`` and ``db upgrade``: what an admin runs before going live."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.markup import escape

from leadsync.cli.app import app
from leadsync.cli.checking import find_problems
from leadsync.cli.options import ConnectorOpt, JsonOpt
from leadsync.cli.output import console, emit_json
from leadsync.config import load_settings
from leadsync.errors import LeadSyncError
from leadsync.records import CheckProblem
from leadsync.store import db
from leadsync.wiring import build_connectors

fields_app = typer.Typer(
    help="Custom fields and properties LeadSync writes to.", no_args_is_help=True
)
db_app = typer.Typer(help="The state store: its schema migrations.", no_args_is_help=True)
app.add_typer(fields_app, name="fields")
app.add_typer(db_app, name="db")


@app.command()
def check(
    ctx: typer.Context,
    connector: ConnectorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Check the config and mappings against the live CRMs.

    Mapped fields, owners, hand-off statuses, nurture campaigns and lists must exist in the
    org or portal. Exits 1 when anything is missing, naming it and the fix.
    """
    settings = load_settings(ctx.obj.config)
    connectors = build_connectors(settings, connector)
    try:
        problems = {
            name: [_line(p, settings.source) for p in found]
            for name, found in find_problems(settings, connectors).items()
        }
    finally:
        for c in connectors.values():
            c.close()
    if as_json:
        emit_json({"ok": not any(problems.values()), "problems": problems})
    else:
        for name, found in problems.items():
            if not found:
                console.print(f"[green]{name}: mapping and settings match the org[/green]")
            for problem in found:
                # Problems quote config keys such as [handoff]: never read them as markup.
                console.print(f"[red]{name}:[/red] {escape(problem)}", highlight=False)
    if any(problems.values()):
        raise typer.Exit(1)


def _line(problem: CheckProblem, config_file: str) -> str:
    """One problem as ``check`` prints it; a config problem names the file and the key."""
    if problem.object_type == config_file:
        return f"{problem.object_type}: {problem.field}: {problem.problem}; fix: {problem.fix}"
    return str(problem)


@fields_app.command("create")
def fields_create(
    ctx: typer.Context,
    connector: ConnectorOpt = None,
) -> None:
    """Create the mapped output fields and properties that are missing."""
    settings = load_settings(ctx.obj.config)
    connectors = build_connectors(settings, connector)
    for name, c in connectors.items():
        created = c.create_fields()
        c.close()
        if created:
            console.print(f"{name}: created {', '.join(created)}")
            console.print(
                f"{name}: next, run `leadsync install`: it grants access to the new fields "
                "and makes the views sales opens"
            )
        else:
            console.print(f"{name}: every mapped field already exists")


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Apply pending store migrations."""
    settings = load_settings(ctx.obj.config)
    engine = db.create_engine(settings.store.url)
    before, after = db.upgrade(engine)
    engine.dispose()
    if before == after:
        console.print(f"store already at revision {after}")
    else:
        console.print(f"store migrated from {before or 'empty'} to {after}")


@app.command()
def forget(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The person's email address.")],
    as_json: JsonOpt = False,
) -> None:
    """Remove a person from the store (not from the CRMs).

    Everything LeadSync holds about them goes; the CRMs are not touched. Erase or anonymise the
    person in the CRM first: a record still there is read again by the
    next backfill.
    """
    from leadsync.store.privacy import forget as forget_person
    from leadsync.wiring import open_store

    settings = load_settings(ctx.obj.config)
    store = open_store(settings)
    try:
        with store.transaction() as conn:
            done = forget_person(conn, email, datetime.now(UTC))
    except ValueError as exc:
        raise LeadSyncError(str(exc)) from None
    finally:
        store.close()
    if as_json:
        emit_json({"people": done.people, "rows": done.rows})
        return
    if not done.people:
        console.print("No one with that address in the store; nothing removed.")
        return
    rows = ", ".join(f"{table} {n}" for table, n in done.rows.items() if n)
    console.print(f"Forgot {done.people} person(s): {rows}. The CRMs were not changed.")
