"""``preview``: what a config's model would do to everyone in the store, before adopting it."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import Any

import typer
from rich.table import Table

from leadsync.cli.app import Context, app
from leadsync.cli.options import JsonOpt
from leadsync.cli.output import console, emit_json
from leadsync.config import load_settings
from leadsync.engine import preview as previewing
from leadsync.engine.preview import UNSCORED, PreviewCounts
from leadsync.model.values import FITS, READINESS_LEVELS
from leadsync.store import model_state
from leadsync.wiring import model_fingerprint, open_store, preview_work

#: Worker processes the preview scores in (the machine's cores, at most this many).
WORKERS = 2
#: Cell moves listed on screen, the largest first.
MOVES_SHOWN = 12
#: Days of hand-offs spelled out when the per-cycle cap spreads them over several.
DAYS_SHOWN = 5


@app.command()
def preview(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Show what this config's model would change; write nothing.

    The matrix before and after, who moves between cells, and the hand-offs it would cause,
    read from the store: no CRM is called. Then `leadsync rescore` applies it.
    """
    obj: Context = ctx.obj
    settings = load_settings(obj.config)
    store = open_store(settings)
    try:
        with store.reading() as conn:
            adopted = model_state.scored_with(conn)
        began = time.perf_counter()
        work = preview_work(settings, datetime.now(UTC))
        counts = previewing.preview(work, store, WORKERS)
        seconds = time.perf_counter() - began
    finally:
        store.close()
    same_model = adopted is not None and adopted.fingerprint == model_fingerprint(settings)
    pace = _pace(
        sum(counts.handoffs.values()),
        settings.sync.handoffs_per_cycle,
        settings.sync.interval_seconds,
    )
    document = _document(counts, seconds, same_model, pace, settings.accounts.enabled)
    if as_json:
        emit_json(document)
        return
    _print(document, settings.source)


def _pace(handoffs: int, cap: int, interval_seconds: int) -> list[int]:
    """Hand-offs per day while the per-cycle cap drains them (the scheduled cycles only)."""
    per_day = cap * max(1, 86_400 // interval_seconds)
    days = math.ceil(handoffs / per_day) if handoffs else 0
    return [min(per_day, handoffs - day * per_day) for day in range(days)]


def _cells(counts: PreviewCounts) -> list[str]:
    known = [f"{fit}/{readiness}" for fit in FITS for readiness in READINESS_LEVELS]
    seen = set(counts.before) | set(counts.after)
    return [cell for cell in known if cell in seen] + sorted(seen - set(known))


def _document(
    counts: PreviewCounts, seconds: float, same_model: bool, pace: list[int], accounts: bool
) -> dict[str, Any]:
    return {
        "people": counts.people,
        "seconds": round(seconds, 2),
        "model_adopted": same_model,
        "accounts_previewed": not accounts,
        "matrix": {
            cell: {"now": counts.before[cell], "preview": counts.after[cell]}
            for cell in _cells(counts)
        },
        "moves": [{"from": a, "to": b, "people": n} for (a, b), n in counts.moves.most_common()],
        "handoffs": {
            "total": sum(counts.handoffs.values()),
            "by_readiness": dict(counts.handoffs),
            "per_day": pace,
            "held_by_cool_down": counts.held,
        },
        "recycles": counts.recycles,
    }


def _print(document: dict[str, Any], source: str) -> None:
    console.print(
        f"Preview of {source}'s model over {document['people']:,} people in the store "
        f"({document['seconds']:.1f} s): nothing written, no CRM called."
    )
    if document["model_adopted"]:
        console.print(
            "This is the model the store is scored with: moves come from time passing "
            "(decay) and from changes not yet scored."
        )
    if not document["accounts_previewed"]:
        console.print("Account roll-ups ([accounts]) are not previewed: cells leave them out.")
    table = Table(title="Matrix", show_header=True)
    for column in ("cell", "now", "preview", "change"):
        table.add_column(column, justify="left" if column == "cell" else "right")
    for cell, row in document["matrix"].items():
        change = row["preview"] - row["now"]
        label = "not scored yet" if cell == UNSCORED else cell
        table.add_row(label, f"{row['now']:,}", f"{row['preview']:,}", f"{change:+,}")
    console.print(table)
    moves = document["moves"]
    if moves:
        shown = Table(title="Moves", show_header=True)
        for column in ("from", "to", "people"):
            shown.add_column(column, justify="right" if column == "people" else "left")
        for move in moves[:MOVES_SHOWN]:
            shown.add_row(move["from"], move["to"], f"{move['people']:,}")
        console.print(shown)
        if len(moves) > MOVES_SHOWN:
            rest = sum(m["people"] for m in moves[MOVES_SHOWN:])
            console.print(f"... and {len(moves) - MOVES_SHOWN} more moves ({rest:,} people)")
    else:
        console.print("Nobody changes cell.")
    handoffs = document["handoffs"]
    if handoffs["total"]:
        ready = ", ".join(
            f"{n:,} {k.replace('_', '-')}" for k, n in handoffs["by_readiness"].items()
        )
        days = handoffs["per_day"]
        spread = ", ".join(f"day {i + 1}: {n:,}" for i, n in enumerate(days[:DAYS_SHOWN]))
        if len(days) > DAYS_SHOWN:
            spread += f", ... ({len(days)} days)"
        console.print(f"Hand-offs it would cause: {handoffs['total']:,} ({ready}); {spread}.")
    else:
        console.print("Hand-offs it would cause: none.")
    if handoffs["held_by_cool_down"]:
        console.print(f"Held by a cool-down after recycles: {handoffs['held_by_cool_down']:,}.")
    if document["recycles"]:
        console.print(f"Recycles to nurture: {document['recycles']:,}.")
    console.print("Apply it with `leadsync rescore` (writes only what changed).")
