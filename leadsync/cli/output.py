"""Printing results: one JSON document for ``--json``, rich tables for people."""

from __future__ import annotations

import json
import sys
from datetime import date, datetime
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from leadsync.logs import print_through, redact_text

#: Piped output is read by programs and by ``less -S``: never cut a cell or wrap a line
#: for a terminal that is not there (rich assumes 80 columns when stdout is no terminal).
PIPED_WIDTH = 4096


def _stdout_console() -> Console:
    return Console() if sys.stdout.isatty() else Console(width=PIPED_WIDTH)


console = _stdout_console()


def _default(value: object) -> str:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value)


def emit_json(document: Any) -> None:
    """Exactly one JSON document on stdout, secrets masked."""
    sys.stdout.write(redact_text(json.dumps(document, default=_default, indent=2)) + "\n")


class RichProgress:
    """The engine's ``Progress`` as a rich progress bar with rate and ETA, for terminals.

    Phases whose size is known up front (scoring) get an ETA; pulls do not (a CRM does not
    say how many records changed before it pages them).

    Everything printed while the bars show goes through the console that draws them, which
    prints it above the bars: ``console`` when stdout is this terminal too (results and
    narration), and log lines (``leadsync.logs.print_through``). A second console writing
    to the same terminal would leave a stale copy of the bars behind each line."""

    def __init__(self) -> None:
        self._console = console if console.is_terminal else Console(stderr=True)
        self._bar = Progress(
            TextColumn("{task.description:<28}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self._console,
            transient=False,
        )
        self._task: Any = None
        self._logs_went_to: Console | None = None

    def __enter__(self) -> RichProgress:
        self._logs_went_to = print_through(self._console)
        self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.stop()
        print_through(self._logs_went_to)

    def phase(self, name: str, total: int | None = None) -> None:
        if self._task is not None:
            self._bar.update(self._task, total=self._bar.tasks[-1].completed)
        self._task = self._bar.add_task(name, total=total, rate="")

    def advance(self, n: int) -> None:
        if self._task is None:
            return
        self._bar.advance(self._task, n)
        task = self._bar.tasks[-1]
        if task.speed:
            self._bar.update(self._task, rate=f"{task.speed:,.0f}/s")
