"""Options several commands share, spelled and explained once."""

from __future__ import annotations

from typing import Annotated

import typer

ConnectorOpt = Annotated[
    list[str] | None,
    typer.Option("--connector", metavar="NAME", help="Only this connector (repeatable)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
