"""The typer application, global options, and turning errors into one-line messages."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from leadsync import __version__, interpreter
from leadsync.errors import AddressInUse, ConfigError, CycleBusy, LeadSyncError, StoreError
from leadsync.logs import configure, redact_text, say_repeats

#: ``leadsync --help`` lists commands in the order an admin meets them: try it, connect it,
#: run it, look at the results, improve the model, then housekeeping.
ADMIN_ORDER = (
    "demo",
    "sandbox",
    "check",
    "fields",
    "install",
    "sync",
    "backfill",
    "preview",
    "rescore",
    "run",
    "queue-backfill",
    "backfills",
    "status",
    "explain",
    "report",
    "tune",
    "forget",
    "uninstall",
    "db",
    "healthcheck",
)


class AdminOrderGroup(TyperGroup):
    """Lists commands in ``ADMIN_ORDER`` (any command missing from it comes last, by name)."""

    def list_commands(self, ctx: Any) -> list[str]:  # typer's vendored click.Context
        known = super().list_commands(ctx)
        rank = {name: i for i, name in enumerate(ADMIN_ORDER)}
        return sorted(known, key=lambda name: (rank.get(name, len(rank)), name))


app = typer.Typer(
    name="leadsync",
    cls=AdminOrderGroup,
    help="Qualify B2B leads in Salesforce and HubSpot and run the hand-off to sales.",
    no_args_is_help=True,
    # Plain help text: rich markup would read "[sync]" in a help string as a style tag and
    # swallow it, and rich panels show every flag as taking a "<bool>" value.
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@dataclass
class Context:
    config: Path | None
    verbose: bool


def _version(value: bool) -> None:
    if value:
        typer.echo(f"leadsync {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            metavar="FILE",
            help="Config file (default: $LEADSYNC_CONFIG, else ./leadsync.toml).",
            envvar="LEADSYNC_CONFIG",
        ),
    ] = None,
    verbose: Annotated[
        int,
        typer.Option(
            "--verbose",
            "-v",
            count=True,
            help="More log lines: -v info, -vv debug (a terminal shows warnings only).",
        ),
    ] = 0,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show version.")
    ] = False,
) -> None:
    configure(level=(None, "info", "debug")[min(verbose, 2)])
    ctx.obj = Context(config=config, verbose=verbose > 0)


def main() -> None:
    # Importing the command modules registers them on ``app``.
    import leadsync.cli.report_cmds  # noqa: F401
    from leadsync.cli import (  # noqa: F401
        admin_cmds,
        demo_cmds,
        install_cmds,
        preview_cmds,
        service_cmds,
        sync_cmds,
    )

    interpreter.tune()
    try:
        _run_app()
    except ConfigError as exc:
        for problem in exc.problems:
            typer.echo(f"leadsync: {redact_text(problem)}", err=True)
        sys.exit(2)
    except StoreError as exc:
        typer.echo(f"leadsync: store: {redact_text(str(exc))}", err=True)
        sys.exit(3)
    except CycleBusy as exc:
        typer.echo(f"leadsync: {redact_text(str(exc))}", err=True)
        sys.exit(4)
    except AddressInUse as exc:
        typer.echo(f"leadsync: {redact_text(str(exc))}", err=True)
        sys.exit(6)
    except LeadSyncError as exc:
        typer.echo(f"leadsync: {redact_text(str(exc))}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        typer.echo("leadsync: interrupted; the next run resumes where this one stopped", err=True)
        sys.exit(130)


def _run_app() -> None:
    try:
        app()
    finally:
        # Warnings held back as repeats are counted once the command is done, on a terminal.
        say_repeats()
