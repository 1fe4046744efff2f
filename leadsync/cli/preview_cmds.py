"""``preview``: what a config's model would do to everyone in the store, before adopting it."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import typer
from rich.table import Table

from leadsync.cli.app import Context, app
from leadsync.cli.options import JsonOpt
from leadsync.cli.output import console, emit_json
from leadsync.config import load_settings
from leadsync.engine import preview as previewing
from leadsync.engine.preview import UNSCORED, PreviewCounts
from leadsync.engine.preview_routing import ASSUMES, UNROUTED, route_previewed
from leadsync.model.values import FITS, READINESS_LEVELS
from leadsync.store import model_state
from leadsync.wiring import model_fingerprint, open_store, preview_work

#: Worker processes the preview scores in (the machine's cores, at most this many).
WORKERS = 2
#: Cell moves listed on screen, the largest first.
MOVES_SHOWN = 12
#: Days of hand-offs spelled out when the per-cycle cap spreads them over several.
DAYS_SHOWN = 5
#: Reps listed by name in the per-rep table, the most hand-offs first.
REPS_SHOWN = 10


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
        now = datetime.now(UTC)
        work = preview_work(settings, now)
        counts = previewing.preview(work, store, WORKERS)
        routed: dict[int, Counter[str]] = {}
        if work.acting is not None and counts.would:
            interval = timedelta(seconds=settings.sync.interval_seconds)
            routed = route_previewed(counts.would, work.acting, store, now, interval)
        seconds = time.perf_counter() - began
    finally:
        store.close()
    same_model = adopted is not None and adopted.fingerprint == model_fingerprint(settings)
    document = _document(counts, seconds, same_model, routed, settings.accounts.enabled)
    if as_json:
        emit_json(document)
        return
    _print(document, settings.source)


def _cells(counts: PreviewCounts) -> list[str]:
    known = [f"{fit}/{readiness}" for fit in FITS for readiness in READINESS_LEVELS]
    seen = set(counts.before) | set(counts.after)
    return [cell for cell in known if cell in seen] + sorted(seen - set(known))


def _document(
    counts: PreviewCounts,
    seconds: float,
    same_model: bool,
    routed: dict[int, Counter[str]],
    accounts: bool,
) -> dict[str, Any]:
    days = range(max(routed) + 1) if routed else range(0)
    owners: Counter[str] = Counter()
    for per_owner in routed.values():
        owners.update(per_owner)
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
            "per_day": [sum(routed.get(day, Counter()).values()) for day in days],
            "per_rep": {
                owner: {
                    "total": total,
                    "per_day": [routed.get(day, Counter())[owner] for day in days],
                }
                for owner, total in owners.most_common()
            },
            "routing_assumes": ASSUMES,
            "held_by_cool_down": counts.held,
        },
        "recycles": counts.recycles,
    }


def _print(document: dict[str, Any], source: str) -> None:
    if not document["people"]:
        console.print(
            "The store holds nobody to preview yet: run `leadsync backfill` (or `sync`) first."
        )
        return
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
        _print_reps(handoffs)
    else:
        console.print("Hand-offs it would cause: none.")
    if handoffs["held_by_cool_down"]:
        console.print(f"Held by a cool-down after recycles: {handoffs['held_by_cool_down']:,}.")
    if document["recycles"]:
        console.print(f"Recycles to nurture: {document['recycles']:,}.")
    console.print("Apply it with `leadsync rescore` (writes only what changed).")


def _print_reps(handoffs: dict[str, Any]) -> None:
    """Hand-offs per rep per day: the reps with most first, the rest summed on one row."""
    per_rep = handoffs["per_rep"]
    days = len(handoffs["per_day"])
    shown_days = min(days, DAYS_SHOWN)
    table = Table(title="Hand-offs per rep", show_header=True)
    table.add_column("rep")
    for day in range(shown_days):
        table.add_column(f"day {day + 1}", justify="right")
    table.add_column("total", justify="right")
    reps = [o for o in per_rep if o != UNROUTED]
    for owner in [*reps[:REPS_SHOWN], *([UNROUTED] if UNROUTED in per_rep else [])]:
        row = per_rep[owner]
        label = "nobody (unrouted)" if owner == UNROUTED else owner
        table.add_row(label, *(f"{n:,}" for n in row["per_day"][:shown_days]), f"{row['total']:,}")
    rest = reps[REPS_SHOWN:]
    if rest:
        totals = [sum(per_rep[o]["per_day"][day] for o in rest) for day in range(shown_days)]
        table.add_row(
            f"{len(rest)} other reps",
            *(f"{n:,}" for n in totals),
            f"{sum(per_rep[o]['total'] for o in rest):,}",
        )
    console.print(table)
    console.print(f"per rep: {handoffs['routing_assumes']}")
