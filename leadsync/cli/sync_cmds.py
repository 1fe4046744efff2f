"""``sync``, ``backfill``, ``status`` and ``explain``: running cycles and looking at results."""

from __future__ import annotations

import sys
from contextlib import ExitStack
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from leadsync.cli.app import Context, app
from leadsync.cli.explain_view import explain_lines
from leadsync.cli.options import ConnectorOpt, JsonOpt
from leadsync.cli.output import RichProgress, console, emit_json
from leadsync.cli.unreadable_view import print_unreadable, unreadable_document
from leadsync.cli.wording import outputs_text, value_text
from leadsync.config import load_settings
from leadsync.engine.cycle import CycleReport, LogProgress, Progress
from leadsync.engine.request import CycleRequest
from leadsync.errors import LeadSyncError
from leadsync.service.state import health_from_store, readiness
from leadsync.store import checkpoints
from leadsync.store.actions import action_counts, stuck_action_count, stuck_actions
from leadsync.store.handoffs import handoff_summary, person_handoffs
from leadsync.store.lookup import find_person, matrix_counts, person_detail
from leadsync.store.returning import any_returning
from leadsync.store.runs import PullGap, RunCounts, pull_gaps_of, recent_runs
from leadsync.store.scoring import Holds, waiting_people
from leadsync.store.writes import pending_counts, rejected_write_count, rejected_writes
from leadsync.wiring import build_connectors, build_engine, health_rules, open_store

#: Exit codes of ``sync`` and ``backfill`` when a cycle did not end ok (README, "Exit codes").
EXIT_FAILED = 1
EXIT_PARTIAL = 5
#: Rejected writes and refused actions ``status`` lists; it says how many more there are.
LISTED = 20

DiffCsvOpt = Annotated[
    Path | None,
    typer.Option(
        "--diff-csv",
        metavar="FILE",
        help="With --dry-run: write every field that would change (record, field, old, new).",
    ),
]
NoActionsOpt = Annotated[
    bool,
    typer.Option(
        "--no-actions",
        help="Score and write fields, but hand nobody off and recycle nobody (backfills).",
    ),
]
AdoptModelOpt = Annotated[
    bool,
    typer.Option(
        "--adopt-model",
        help="This config's model replaces the one the store is scored with; everyone is "
        "re-scored from the store (hand-offs capped as usual).",
    ),
]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Pull and score, print what would change, change nothing.")
]


def _run_cycle(
    ctx: typer.Context, request: CycleRequest, as_json: bool, restart: bool = False
) -> None:
    """Run ``request``'s cycle and print its report. A backfill (not a dry run) is resumable:
    the same command carries on where a crash left it, unless ``restart``."""
    if request.diff_csv is not None and not request.dry_run:
        raise typer.BadParameter("--diff-csv needs --dry-run", param_hint="--diff-csv")
    obj: Context = ctx.obj
    settings = load_settings(obj.config)
    store = open_store(settings)
    connectors = build_connectors(settings, list(request.only) or None)
    if request.full and not request.dry_run:
        key = backfill_key(list(connectors), request.since)
        request = replace(request, resume_key=key)
        if restart:
            with store.transaction() as conn:
                checkpoints.clear(conn, key)
    with ExitStack() as stack:
        progress: Progress = LogProgress()
        if sys.stderr.isatty() and not as_json:
            progress = stack.enter_context(RichProgress())
        engine = build_engine(settings, store, connectors, progress=progress)
        report = engine.run(request)
    for c in connectors.values():
        c.close()
    store.close()
    if as_json:
        emit_json(report.to_dict())
    else:
        _print_report(report)
    if report.status != "ok":
        raise typer.Exit(EXIT_FAILED if report.status == "failed" else EXIT_PARTIAL)


@app.command()
def sync(
    ctx: typer.Context,
    connector: ConnectorOpt = None,
    dry_run: DryRunOpt = False,
    retry_failed: Annotated[
        bool,
        typer.Option("--retry-failed", help="Replay rejected and parked writes and actions now."),
    ] = False,
    no_actions: NoActionsOpt = False,
    decay: Annotated[
        bool,
        typer.Option(
            "--decay",
            help="Also re-score everyone for the time that passed; write only those whose "
            "score moved by [sync] score_change_threshold or whose cell changed.",
        ),
    ] = False,
    diff_csv: DiffCsvOpt = None,
    adopt_model: AdoptModelOpt = False,
    reread: Annotated[
        int | None,
        typer.Option(
            "--reread",
            metavar="HOURS",
            min=1,
            help="Also re-read every record modified in the last HOURS, whatever the cursors "
            "(finds records committed late); only what changed is re-scored.",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run one incremental cycle now."""
    request = CycleRequest(
        only=tuple(connector or ()),
        dry_run=dry_run,
        retry_failed=retry_failed,
        no_actions=no_actions,
        decay=decay,
        diff_csv=diff_csv,
        adopt_model=adopt_model,
        reread=timedelta(hours=reread) if reread else None,
    )
    _run_cycle(ctx, request, as_json)


@app.command()
def backfill(
    ctx: typer.Context,
    connector: ConnectorOpt = None,
    since: Annotated[
        datetime | None,
        typer.Option(
            metavar="YYYY-MM-DD",
            help="Only records modified since this date.",
            formats=["%Y-%m-%d"],
        ),
    ] = None,
    dry_run: DryRunOpt = False,
    no_actions: NoActionsOpt = False,
    diff_csv: DiffCsvOpt = None,
    restart: Annotated[
        bool,
        typer.Option(
            "--restart",
            help="Start over instead of resuming this backfill where a crash or Ctrl-C left it.",
        ),
    ] = False,
    adopt_model: AdoptModelOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Re-pull everything (or since a date) and re-score it.

    Scores with the current model. Killed or interrupted, the same command carries on from the last
    committed page.
    """
    since_utc = since.replace(tzinfo=UTC) if since is not None else None
    request = CycleRequest(
        only=tuple(connector or ()),
        dry_run=dry_run,
        full=True,
        since=since_utc,
        no_actions=no_actions,
        diff_csv=diff_csv,
        adopt_model=adopt_model,
    )
    _run_cycle(ctx, request, as_json, restart=restart)


@app.command()
def rescore(
    ctx: typer.Context,
    dry_run: DryRunOpt = False,
    no_actions: NoActionsOpt = False,
    diff_csv: DiffCsvOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Re-score everyone from the store; pull nothing.

    Uses this config's model. Writes only the outputs that changed, hands off as usual (capped)
    unless --no-actions,
    and makes this config's model the one the store is scored with. Preview with --dry-run.
    """
    request = CycleRequest(
        dry_run=dry_run, rescore=True, no_actions=no_actions, diff_csv=diff_csv, adopt_model=True
    )
    _run_cycle(ctx, request, as_json)


def backfill_key(connectors: list[str], since: datetime | None) -> str:
    """What makes two ``leadsync backfill`` runs the same backfill: connectors and ``since``."""
    return f"cli:{'+'.join(sorted(connectors))}:{since.isoformat() if since else 'all'}"


def _print_report(report: CycleReport) -> None:
    table = Table(title=f"Cycle {report.run_id}: {report.status}", show_header=True)
    table.add_column("step")
    table.add_column("result")
    for stream, counts in report.pulled.items():
        table.add_row(f"pulled {stream}", ", ".join(f"{k} {v}" for k, v in counts.items()))
    # The totals the dashboard's cycle rows, ``status`` and ``/metrics`` show for this run.
    totals = RunCounts.of(report.to_dict()).to_dict()
    table.add_row(
        "pulled",
        f"{value_text(totals['pulled'])} records read, "
        f"{value_text(totals['changed'])} new or changed"
        + (
            f" ({value_text(totals['resumed'])} read before a restart)" if totals["resumed"] else ""
        ),
    )
    table.add_row("scored", f"{report.scored} people, {report.changed} changed")
    if report.dry_run:
        per_field = report.would_write.get("per_field", {})
        table.add_row("would write", ", ".join(f"{k} {v}" for k, v in per_field.items()) or "none")
        moves = report.would_write.get("cell_moves", {})
        table.add_row("cells", ", ".join(f"{k}: {v}" for k, v in moves.items()) or "no moves")
        would = report.would_write
        table.add_row(
            "would act",
            f"{would.get('handoffs', 0)} handed off ({would.get('handoffs_waiting', 0)} "
            f"waiting for the cap or a held CRM), {would.get('recycles', 0)} recycled",
        )
    else:
        table.add_row("written", _per(report.written) or "nothing to write")
        if report.rejected:
            table.add_row(
                "rejected", _per(report.rejected) + f" (parked {_per(report.parked) or 0})"
            )
    acted = report.actions
    if acted and not report.dry_run:
        table.add_row(
            "acted",
            f"{acted['handed_off']} handed off ({acted['waiting']} waiting for the cap, "
            f"{acted['unrouted']} unrouted), {acted['recycled']} recycled, "
            f"{acted['breaches']} SLA breaches; actions: {acted['actions_done']} done, "
            f"{acted['actions_rejected']} rejected, {acted['actions_parked']} parked",
        )
    if report.people_waiting or report.waiting_for:
        table.add_row(
            "waiting",
            Text(
                f"{report.people_waiting} people wait for a complete pull of "
                f"{', '.join(report.waiting_for)}; they are scored once it completes"
            ),
        )
    table.add_row("API calls", _per(report.api_calls) or "0")
    console.print(table)
    if report.dry_run:
        for item in report.would_write.get("sample", []):
            console.print(
                f"  {item['record']}: {outputs_text(item['values'])}", markup=False, highlight=False
            )
    for error in report.errors:
        console.print(Text.assemble(("error:", "red"), f" {error}"), highlight=False)
    for name, why in report.waiting_for.items():
        console.print(Text.assemble(("waiting:", "yellow"), f" {name}: {why}"), highlight=False)
    for note in report.notes:
        console.print(Text.assemble(("note:", "cyan"), f" {note}"), highlight=False)


def _per(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {value_text(n)}" for name, n in counts.items())


@app.command()
def status(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Runs, health, matrix counts, owed writes, API calls.

    Recent runs, health, matrix counts, pending and parked writes and actions, hand-offs,
    API calls and unreadable values, all from the store. Exits 1 when a connector is unhealthy (as
    /readyz would say), for cron monitoring."""
    settings = load_settings(ctx.obj.config)
    store = open_store(settings)
    names = settings.connectors.configured()
    with store.reading() as conn:
        checks = readiness(
            datetime.now(UTC),
            None,
            names,
            health_from_store(conn, names),
            None,
            health_rules(settings),
        )
        gaps = pull_gaps_of(conn, names)
        held = Holds(tuple(sorted({gap.connector for gap in gaps})), any_returning(conn))
        count, sample = waiting_people(conn, held)
        document: dict[str, Any] = {
            "healthy": all(check.ok for check in checks),
            "health": {c.name: {"ok": c.ok, "detail": c.detail} for c in checks},
            "waiting": {"people": count, "sample": sample, "pulls": [gap_dict(g) for g in gaps]},
            "runs": recent_runs(conn, 10),
            "matrix": matrix_counts(conn),
            "pending_writes": pending_counts(conn),
            "rejected": rejected_writes(conn, LISTED),
            "rejected_count": rejected_write_count(conn),
            "pending_actions": action_counts(conn),
            "rejected_actions": stuck_actions(conn, LISTED),
            "rejected_actions_count": stuck_action_count(conn),
            **handoff_summary(conn),
            **unreadable_document(conn),
        }
    store.close()
    if as_json:
        emit_json(document)
    else:
        _print_status(document)
    if not document["healthy"]:
        raise typer.Exit(1)


def gap_dict(gap: PullGap) -> dict[str, Any]:
    return {
        "connector": gap.connector,
        "stream": gap.stream,
        "since": gap.since,
        "error": gap.error,
    }


def _print_status(document: dict[str, Any]) -> None:
    healthy = document["healthy"]
    console.print(
        "Health: " + ("[green]healthy[/green]" if healthy else "[red]unhealthy[/red]"),
        highlight=False,
    )
    for name, check in document["health"].items():
        if not check["ok"]:
            console.print(f"  {name}: {check['detail']}", markup=False, highlight=False)
    waiting = document["waiting"]
    for gap in waiting["pulls"]:
        console.print(
            f"Waiting for {gap['connector']} ({gap['stream']} pull incomplete since "
            f"{gap['since']:%Y-%m-%d %H:%M} UTC: {gap['error']}): {waiting['people']} people "
            "are not scored or acted on until it completes",
            markup=False,
            highlight=False,
        )
    runs = Table(title="Recent runs")
    columns = ("id", "connector", "kind", "started", "status", "pulled", "changed", "written")
    for column in (*columns, "rejected", "API calls", "error"):
        runs.add_column(column)
    for run in document["runs"]:
        totals = run.get("totals") or {}
        runs.add_row(
            str(run["id"]),
            run["connector"],
            run["kind"],
            f"{run['started_at']:%Y-%m-%d %H:%M:%S}",
            run["status"],
            *(value_text(totals.get(k, 0)) for k in ("pulled", "changed", "written", "rejected")),
            value_text(run["api_calls"]),
            (run["error"] or "")[:80],
        )
    console.print(runs)
    console.print("Matrix: " + (_per(document["matrix"]) or "empty"))
    for source, counts in document["pending_writes"].items():
        console.print(f"Writes owed to {source}: " + _per(counts))
    for item in document["rejected"]:
        console.print(
            f"  {item['state']} {item['uid']} attempt {item['attempts']}: "
            f"{item['error_code']}: {item['error_message']}"
            + (f" (fields: {value_text(item['error_fields'])})" if item["error_fields"] else ""),
            markup=False,
        )
    _print_more(len(document["rejected"]), document.get("rejected_count", 0), "rejected writes")
    console.print(
        f"Hand-offs: {_per(document['handoffs']) or 'none'}; recycles: "
        f"{_per(document['recycles']) or 'none'}; SLA breaches: {document['sla_breaches']}"
    )
    for source, counts in document["pending_actions"].items():
        console.print(f"Actions owed to {source}: {_per(counts)}")
    for item in document["rejected_actions"]:
        console.print(
            f"  {item['state']} {item['kind']} {item['record']} ({item['key']}) attempt "
            f"{item['attempts']}: {item['error_code']}: {item['error_message']}",
            markup=False,
        )
    _print_more(
        len(document["rejected_actions"]),
        document.get("rejected_actions_count", 0),
        "refused actions",
    )
    for item in document["unrouted"]:
        console.print(f"  unrouted {item['record']}: {item['why']}", markup=False)
    print_unreadable(console, document["unreadable"])


def _print_more(listed: int, total: int, what: str) -> None:
    if total > listed:
        more = value_text(total - listed)
        console.print(f"  and {more} more {what} (the dashboard's Rejected page lists them)")


@app.command()
def explain(
    ctx: typer.Context,
    person: Annotated[
        str, typer.Argument(metavar="PERSON", help="Email address or CRM record id.")
    ],
    as_json: JsonOpt = False,
) -> None:
    """Why this person has this fit, score and owner."""
    settings = load_settings(ctx.obj.config)
    store = open_store(settings)
    with store.reading() as conn:
        person_id = find_person(conn, person)
        if person_id is None:
            store.close()
            raise LeadSyncError(f"no person with email or CRM id {person!r} in the store")
        detail = person_detail(conn, person_id)
        detail["handoffs"] = person_handoffs(conn, person_id)
    store.close()
    if as_json:
        emit_json(detail)
        return
    records = ", ".join(
        r["uid"] + (" (deleted)" if r["deleted"] else "") for r in detail["records"]
    )
    shown = str(detail["person"]["email_norm"] or person)
    console.print(Text.assemble((shown, "bold"), f"  records: {records}"))
    for line in explain_lines(detail):
        console.print(line, markup=False, highlight=False)
