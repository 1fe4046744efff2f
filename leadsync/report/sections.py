"""The report's sections, each a function of a ``Dataset`` or of the store, returning plain
JSON-able values (rendering lives in ``render``).

Conversion: a Salesforce lead converted (``ConvertedDate``), a HubSpot contact whose lifecycle
stage reached one of the mapping's ``converted_stages`` (customer by default), or a record whose
``lifecycle_stage`` attribute is one of ``stages``; where the mapping turns it on
(``[conversion] won_opportunities``, ``won_deal_stages``), the connectors also date a person's
conversion by their earliest won opportunity or deal. Otherwise "opportunity won" is not seen;
a lead converted into an opportunity that was later lost still counts as converted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from leadsync.report.dataset import Dataset, Lead
from leadsync.report.stats import Lift, lift, share
from leadsync.store import Connection
from leadsync.store.history import (
    conversions,
    handed_off_since,
    people_handed_off_since,
    recycled_since,
)

REVISIT = "revisit your ICP"
TOO_FEW = "too few leads to tell"


def period_start(now: datetime, months: int) -> datetime:
    """Midnight UTC on the first day of the month ``months - 1`` months before ``now``'s."""
    year, month = now.year, now.month - (months - 1)
    while month <= 0:
        month += 12
        year -= 1
    return now.replace(year=year, month=month, day=1, hour=0, minute=0, second=0, microsecond=0)


def _split(leads: Iterable[Lead], test: Callable[[Lead], bool]) -> tuple[int, int, int, int]:
    k_with = n_with = k_without = n_without = 0
    for lead in leads:
        if test(lead):
            n_with += 1
            k_with += bool(lead.converted)
        else:
            n_without += 1
            k_without += bool(lead.converted)
    return k_with, n_with, k_without, n_without


def _signal_row(name: str, leads: Sequence[Lead], test: Callable[[Lead], bool]) -> dict[str, Any]:
    k1, n1, k0, n0 = _split(leads, test)
    ratio = lift(k1, n1, k0, n0)
    return {
        "name": name,
        "fires": n1,
        "fire_rate": n1 / len(leads) if leads else None,
        "with": share(k1, n1).to_dict(),
        "without": share(k0, n0).to_dict(),
        "lift": ratio.to_dict(),
        "predicts": ratio.predicts,
        "flag": _flag(ratio),
    }


def _flag(ratio: Lift) -> str | None:
    if ratio.predicts is None:
        return TOO_FEW
    return None if ratio.predicts else REVISIT


def fit_summary(ds: Dataset, leads: Sequence[Lead]) -> dict[str, Any]:
    """Good against poor fit: conversion of each and the lift; flags an ICP that does not
    separate them (the lift's interval includes 1, or good fit converts worse)."""
    k1, n1, k0, n0 = _split(leads, ds.is_good_fit)
    ratio = lift(k1, n1, k0, n0)
    flag = _flag(ratio)
    why = {
        None: "good-fit leads convert more often than poor-fit ones",
        REVISIT: "good-fit and poor-fit leads convert alike: the ICP does not predict conversion",
        TOO_FEW: "too few decided leads in one of the groups to compare them",
    }[flag]
    return {
        "good": share(k1, n1).to_dict(),
        "poor": share(k0, n0).to_dict(),
        "lift": ratio.to_dict(),
        "flag": flag,
        "why": why,
    }


def _box(i: int) -> Callable[[Lead], bool]:
    return lambda lead: lead.boxes[i]


def _fires(i: int) -> Callable[[Lead], bool]:
    return lambda lead: lead.fired[i] > 0


def criteria_lift(ds: Dataset, leads: Sequence[Lead]) -> list[dict[str, Any]]:
    """Per ICP box: how often it is checked and how conversion differs when it is."""
    rows = []
    for i, name in enumerate(ds.criteria):
        row = _signal_row(name, leads, _box(i))
        rows.append({**row, "required": ds.required[i]})
    return rows


def rule_lift(ds: Dataset, leads: Sequence[Lead]) -> list[dict[str, Any]]:
    """Per engagement rule: how often it fires before the snapshot, and the lift when it does."""
    rows = []
    for i, name in enumerate(ds.rules):
        row = _signal_row(name, leads, _fires(i))
        rows.append({**row, "points": ds.points[i]})
    return rows


def poor_fit_by(ds: Dataset, leads: Sequence[Lead], key: str) -> list[dict[str, Any]]:
    """Leads per ``source`` or ``campaign``: how many, how many poor fit, and how those convert."""
    groups: dict[str, list[Lead]] = defaultdict(list)
    for lead in leads:
        value = getattr(lead, key)
        groups[value.strip() if value else "(none)"].append(lead)
    rows: list[dict[str, Any]] = []
    for name, members in groups.items():
        poor = [lead for lead in members if not ds.is_good_fit(lead)]
        decided = [lead for lead in poor if lead.converted is not None]
        rows.append(
            {
                key: name,
                "leads": len(members),
                "poor_fit": len(poor),
                "poor_share": share(len(poor), len(members)).to_dict(),
                "poor_converted": share(
                    sum(bool(x.converted) for x in decided), len(decided)
                ).to_dict(),
            }
        )
    rows.sort(key=lambda r: (-int(r["poor_fit"]), str(r[key])))
    return rows


def matrix_by_month(leads: Sequence[Lead]) -> list[dict[str, Any]]:
    """Leads per month they entered the CRM and per back-test cell (see ``BACKTEST_RULE``),
    and the share that converted within the sales cycle after entering. ``open`` counts those
    whose cycle is still running; ``after_conversion`` those already converted when they
    entered (left out of ``entered``)."""
    cells: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for lead in leads:
        if lead.cell is None or lead.entered_at is None:
            continue
        counts = cells[(f"{lead.entered_at:%Y-%m}", lead.cell)]
        if lead.converted_at is not None and lead.converted_at < lead.entered_at:
            counts[3] += 1
            continue
        counts[0] += 1
        counts[1] += lead.converted is True
        counts[2] += lead.converted is None
    rows = []
    for (month, cell), (n, k, still_open, after) in sorted(cells.items()):
        rows.append(
            {
                "month": month,
                "cell": cell,
                "entered": n,
                "converted": share(k, n).to_dict(),
                "open": still_open,
                "after_conversion": after,
            }
        )
    return rows


def _hours(deltas: Sequence[float]) -> dict[str, float | None]:
    if not deltas:
        return {"median": None, "p90": None}
    values = np.asarray(deltas, dtype=float)
    return {
        "median": float(np.percentile(values, 50)),
        "p90": float(np.percentile(values, 90)),
    }


def hand_raisers_vs_sales_ready(
    conn: Connection,
    start: datetime,
    cycle_days: float,
    converted: dict[int, datetime],
) -> list[dict[str, Any]]:
    """Hand-offs of hand-raisers against other sales-ready leads: conversion within the cycle
    after the hand-off, and hours to the first sales touch."""
    cycle = timedelta(days=cycle_days)
    groups: dict[str, dict[str, Any]] = {
        name: {"n": 0, "k": 0, "hours": [], "untouched": 0}
        for name in ("hand_raiser", "sales_ready")
    }
    for item in handed_off_since(conn, start):
        handed, touched = item.handed_off_at, item.touched_at
        group = groups["hand_raiser" if item.readiness == "hand_raiser" else "sales_ready"]
        group["n"] += 1
        conv = converted.get(item.person_id)
        if conv is not None and handed <= conv <= handed + cycle:
            group["k"] += 1
        if touched is None:
            group["untouched"] += 1
        else:
            group["hours"].append(max((touched - handed).total_seconds(), 0.0) / 3600)
    return [
        {
            "group": name,
            "handed_off": g["n"],
            "converted": share(g["k"], g["n"]).to_dict(),
            "touched": len(g["hours"]),
            "untouched": g["untouched"],
            "hours_to_first_touch": _hours(g["hours"]),
        }
        for name, g in groups.items()
    ]


def recycle_flow(
    conn: Connection, start: datetime, converted: dict[int, datetime]
) -> dict[str, Any]:
    """Handed off -> recycled (by reason) -> re-qualified -> converted after the recycle."""
    handed = people_handed_off_since(conn, start)
    reasons: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for item in recycled_since(conn, start):
        counts = reasons[item.reason or "(no reason)"]
        counts[0] += 1
        counts[1] += item.requalified_at is not None
        conv = converted.get(item.person_id)
        counts[2] += conv is not None and conv > item.recycled_at
    by_reason = [
        {
            "reason": reason,
            "recycled": n,
            "requalified": share(back, n).to_dict(),
            "converted": share(won, n).to_dict(),
        }
        for reason, (n, back, won) in sorted(reasons.items(), key=lambda kv: -kv[1][0])
    ]
    total = sum(c[0] for c in reasons.values())
    return {
        "handed_off": handed,
        "recycled": total,
        "requalified": sum(c[1] for c in reasons.values()),
        "converted_after_recycle": sum(c[2] for c in reasons.values()),
        "by_reason": by_reason,
    }


def dataset_sections(ds: Dataset, leads: Sequence[Lead]) -> dict[str, Any]:
    """Every section a ``Dataset`` alone can answer (the store and a CSV export alike)."""
    decided = [lead for lead in leads if lead.converted is not None]
    return {
        "leads": {
            "total": len(leads),
            "decided": len(decided),
            "open": len(leads) - len(decided),
            "converted": sum(bool(lead.converted) for lead in decided),
        },
        "fit": fit_summary(ds, decided),
        "criteria": criteria_lift(ds, decided),
        "rules": rule_lift(ds, decided),
        "poor_fit_by_source": poor_fit_by(ds, leads, "source"),
        "poor_fit_by_campaign": poor_fit_by(ds, leads, "campaign"),
    }


def store_sections(
    conn: Connection,
    start: datetime,
    cycle_days: float,
    stages: Iterable[str] = (),
) -> dict[str, Any]:
    """The sections only the store can answer: hand-offs and recycles (the months come from
    the dataset: ``matrix_by_month``)."""
    converted = conversions(conn, None, stages)
    return {
        "hand_raisers_vs_sales_ready": hand_raisers_vs_sales_ready(
            conn, start, cycle_days, converted
        ),
        "recycle_flow": recycle_flow(conn, start, converted),
    }
