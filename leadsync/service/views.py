"""What the dashboard's pages show, read from the store as plain values.

Each function takes a connection and returns dicts and lists ready for a template; the
pages add nothing but layout. Reads that ``leadsync status`` already has (runs, matrix,
rejected writes and actions) are reused from the store's modules, and the report page shows
``leadsync report``'s own document (``leadsync.report``) with what its charts plot.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from leadsync.model import ModelSpec
from leadsync.model.values import FITS, READINESS_LEVELS
from leadsync.records import ApiUsage
from leadsync.report import leads_from_store, report_document, share
from leadsync.store import Connection
from leadsync.store.actions import action_counts, stuck_action_count, stuck_actions
from leadsync.store.handoffs import recent_handoffs, recent_recycles, sla_breaches
from leadsync.store.lookup import matrix_counts
from leadsync.store.queue import recent_requests
from leadsync.store.runs import calls_since, recent_runs
from leadsync.store.unreadable import summary as unreadable_summary
from leadsync.store.writes import pending_counts, rejected_write_count, rejected_writes


class HasUsage(Protocol):
    def usage(self) -> ApiUsage: ...


def matrix(conn: Connection, teams: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Rows (fit) x columns (readiness) of active people, with totals."""
    counts = matrix_counts(conn)
    columns: list[str] = [r for r in READINESS_LEVELS if r != "do_not_contact"]
    if any(cell.endswith("/do_not_contact") for cell in counts):
        columns.append("do_not_contact")
    rows = [
        {
            "fit": fit,
            "cells": [
                {
                    "cell": f"{fit}/{ready}",
                    "count": counts.get(f"{fit}/{ready}", 0),
                    "team": (teams or {}).get(f"{fit}/{ready}"),
                }
                for ready in columns
            ],
        }
        for fit in FITS
    ]
    return {"columns": columns, "rows": rows, "total": sum(counts.values())}


def cycles(conn: Connection, limit: int = 30) -> list[dict[str, Any]]:
    """Recent runs with the totals a reader scans for (``RunCounts``, as ``leadsync status``
    and ``/metrics`` count them): pulled (and how many changed), scored, written, rejected."""
    out = []
    for run in recent_runs(conn, limit):
        counts = run["counts"] or {}
        finished = run["finished_at"]
        out.append(
            {
                **run,
                **run["totals"],
                "seconds": (finished - run["started_at"]).total_seconds() if finished else None,
                "errors": counts.get("errors") or ([run["error"]] if run["error"] else []),
            }
        )
    return out


def rejected(conn: Connection, limit: int = 100) -> dict[str, Any]:
    """Rejected writes and actions with the CRM's own words, and the connectors they are on."""
    writes = rejected_writes(conn, limit)
    actions = stuck_actions(conn, limit)
    uids = [w["uid"] for w in writes] + [a["record"] for a in actions]
    sources = sorted({uid.split(":", 1)[0] for uid in uids})
    return {
        "writes": writes,
        "writes_count": rejected_write_count(conn),
        "actions": actions,
        "actions_count": stuck_action_count(conn),
        "sources": sources,
        "owed": pending_counts(conn),
        "owed_actions": action_counts(conn),
    }


def handoff_page(conn: Connection, limit: int = 50) -> dict[str, Any]:
    """Recent hand-offs, SLA breaches, and recycled people with whether they came back."""
    recent = recent_handoffs(conn, limit)
    breaches = sla_breaches(conn, limit)
    recycled = recent_recycles(conn, limit)
    returned = sum(1 for r in recycled if r["requalified_at"] is not None)
    return {"recent": recent, "breaches": breaches, "recycled": recycled, "returned": returned}


def name_owners(page: Mapping[str, Any], names: Mapping[str, Mapping[str, str]]) -> None:
    """Give each hand-off and breach on ``handoff_page``'s page its owner's name, as the
    hand-off's CRM (``names[source]``) calls them; ``None`` where the CRM did not say."""
    for row in (*page["recent"], *page["breaches"]):
        owner = row.get("owner_id")
        row["owner_name"] = names.get(row.get("source") or "", {}).get(owner) if owner else None


def budget(
    conn: Connection,
    connectors: Sequence[str],
    usage: Mapping[str, HasUsage],
    now: datetime,
) -> list[dict[str, Any]]:
    """Per connector: calls in the last 24 h (runs table), and what the CRM last said.

    The runs table knows the calls of every replica's cycles; ``usage()`` knows this
    process's calls since start and the remaining allowance the CRM reported, if any.
    """
    day = calls_since(conn, now - timedelta(hours=24), connectors)
    out = []
    for name in connectors:
        known = usage.get(name)
        now_usage = known.usage() if known is not None else None
        out.append(
            {
                "connector": name,
                "calls_24h": day.get(name, 0),
                "calls_since_start": now_usage.calls if now_usage else None,
                "remaining": now_usage.remaining if now_usage else None,
                "limit": now_usage.limit if now_usage else None,
            }
        )
    return out


def backfills(conn: Connection, limit: int = 20) -> list[dict[str, Any]]:
    return recent_requests(conn, limit)


@dataclass(frozen=True, slots=True)
class ReportInputs:
    """What the report page reads from the config, as ``leadsync report`` does: the model (ICP
    criteria and engagement rules), where fit is read, and the sales cycle."""

    spec: ModelSpec
    fit_source: str | None
    #: A lead counts as converted if it converts within this many days of entering.
    cycle_days: float = 90.0
    #: Extra lifecycle stages counted as converted (``--converted-stage``).
    stages: tuple[str, ...] = ()


def report(conn: Connection, inputs: ReportInputs, now: datetime, months: int) -> dict[str, Any]:
    """``leadsync report``'s document over the store, and what the page's charts plot."""
    ds = leads_from_store(
        conn,
        inputs.spec,
        fit_source=inputs.fit_source,
        cycle_days=inputs.cycle_days,
        now=now,
        stages=inputs.stages,
    )
    document = report_document(ds, now=now, months=months, conn=conn, stages=inputs.stages)
    return {"document": document, "charts": report_charts(document)}


def _months(start: datetime, end: datetime) -> list[str]:
    out = []
    year, month = start.year, start.month
    while (year, month) <= (end.year, end.month):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def _lift_row(
    label: str, kind: str, row: Mapping[str, Any], with_key: str = "with", without: str = "without"
) -> dict[str, Any]:
    lift = row["lift"]
    return {
        "label": label,
        "kind": kind,
        "ratio": lift["ratio"],
        "low": lift["low"],
        "high": lift["high"],
        "flag": row["flag"],
        "with_n": row[with_key]["n"],
        "without_n": row[without]["n"],
    }


def report_charts(document: Mapping[str, Any]) -> dict[str, Any]:
    """The plain numbers the page's charts draw (``report.js``), from the report document.

    ``months``: the period's months from the first in which anyone entered a cell (none when
    nobody did), people entering each matrix cell per month, and
    the month's conversion share over all cells with its Wilson interval. ``lift``: per ICP
    criterion (led by good fit against poor) and per rule, the lift with its 95% interval and
    the report's flag. ``recycle``: handed off, recycled by reason, re-qualified, converted.
    """
    period = document["period"]
    entered = [row for row in document.get("matrix_by_month", []) if row["entered"]]
    # From the first month anyone entered: a young store draws no run of empty months.
    first = min((row["month"] for row in entered), default=None)
    labels = [m for m in _months(period["from"], period["to"]) if first and m >= first]
    by_cell: dict[str, dict[str, int]] = {}
    totals = {month: [0, 0] for month in labels}
    for row in document.get("matrix_by_month", []):
        by_cell.setdefault(row["cell"], {})[row["month"]] = row["entered"]
        if row["month"] in totals:
            totals[row["month"]][0] += row["converted"]["k"]
            totals[row["month"]][1] += row["entered"]
    order = [f"{fit}/{ready}" for fit in FITS for ready in READINESS_LEVELS]
    cells = sorted(by_cell, key=lambda c: (order.index(c) if c in order else len(order), c))
    conversion = []
    for month in labels:
        k, n = totals[month]
        conversion.append({"month": month, **share(k, n).to_dict()})
    fit = document["fit"]
    criteria = [_lift_row("good fit against poor fit", "fit", fit, "good", "poor")] + [
        _lift_row(row["name"], "criterion", row) for row in document["criteria"]
    ]
    charts: dict[str, Any] = {
        "months": {
            "labels": labels,
            "cells": [
                {"cell": cell, "entered": [by_cell[cell].get(m, 0) for m in labels]}
                for cell in cells
            ],
            "conversion": conversion,
        },
        "lift": {
            "criteria": criteria,
            "rules": [_lift_row(row["name"], "rule", row) for row in document["rules"]],
        },
    }
    flow = document.get("recycle_flow")
    if flow is not None:
        charts["recycle"] = {
            "handed_off": flow["handed_off"],
            "recycled": flow["recycled"],
            "by_reason": [
                {"reason": row["reason"], "recycled": row["recycled"]} for row in flow["by_reason"]
            ],
            "requalified": flow["requalified"],
            "converted": flow["converted_after_recycle"],
        }
    return charts


def unreadable(conn: Connection, limit: int = 200) -> dict[str, Any]:
    """Values a connector could not read: how many, and the most recently seen ``limit``."""
    found = unreadable_summary(conn, limit)
    return {"count": found.count, "rows": list(found.latest)}
