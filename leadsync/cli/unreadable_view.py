"""The unreadable values block of ``leadsync status``: how many, and the latest with their fix.

Kept apart from the status command so its document key and its lines live in one place.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console

from leadsync.store import Connection
from leadsync.store.unreadable import summary

#: How many of the most recently seen unreadable values status lists.
LATEST = 20


def unreadable_document(conn: Connection) -> dict[str, Any]:
    """``{"unreadable": {"count": n, "latest": [...]}}`` for the status document."""
    found = summary(conn, LATEST)
    return {"unreadable": {"count": found.count, "latest": [row.to_dict() for row in found.latest]}}


def printable(text: str) -> str:
    """Text safe for a terminal: control characters (an escape sequence in a CRM field, a NUL)
    shown as their escapes instead of acting on the terminal."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def print_unreadable(console: Console, document: dict[str, Any]) -> None:
    """The count, then one line per latest value: record, CRM id, field, raw value, problem."""
    count, latest = document["count"], document["latest"]
    if not count:
        console.print("Unreadable values: none")
        return
    shown = f" (latest {len(latest)})" if len(latest) < count else ""
    console.print(
        f"Unreadable values: {count}{shown}; each cost its value, not the cycle. Fix them in "
        "the CRM (or the field's type: `leadsync check`); they clear once read fine."
    )
    for item in latest:
        console.print(
            f"  {printable(item['source'])} {printable(item['object_type'])} "
            f"{printable(item['crm_id'])} {printable(item['field'])} = "
            f"{printable(repr(item['raw']))}: {printable(item['problem'])} "
            f"(last seen {item['last_seen'][:19]})",
            markup=False,
            highlight=False,
        )
