"""The report document as terminal tables (rich) and as CSV files, one per section."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text


def plain_row(table: Table, *cells: object) -> None:
    """A row whose cells are shown as they are: a CRM value such as ``[/oops]`` or
    ``[bold]Paid`` is text, not console markup (which failed the run or hid the brackets)."""
    table.add_row(*(Text(str(cell)) for cell in cells))


def share_text(value: Mapping[str, Any]) -> str:
    """``12/40 30% (18-45%)``; ``0/0`` when nobody is in the group."""
    if not value["n"]:
        return "0/0"
    return f"{value['k']}/{value['n']} {value['rate']:.0%} ({value['low']:.0%}-{value['high']:.0%})"


def lift_text(value: Mapping[str, Any]) -> str:
    if value["ratio"] is None:
        return "-"
    return f"{value['ratio']:.2f} ({value['low']:.2f}-{value['high']:.2f})"


def _hours(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} h"


def print_report(document: Mapping[str, Any], console: Console) -> None:
    """Every section present in ``document`` as a rich table, flags in words."""
    leads = document["leads"]
    console.print(
        f"[bold]LeadSync report[/bold] {document['origin']}: {document['period']['from']:%Y-%m-%d}"
        f" to {document['period']['to']:%Y-%m-%d}; {leads['total']} leads, {leads['decided']} "
        f"decided ({leads['converted']} converted), {leads['open']} still in their sales cycle"
    )
    console.print(document["conversion"], markup=False, highlight=False)
    if document.get("future_dated"):
        console.print(
            f"{document['future_dated']:,} leads entered after {document['period']['to']:%Y-%m-%d}"
            " (a clock ahead or a typo in the data): in no month of this report.",
            markup=False,
            highlight=False,
        )
    if "backtest_rule" in document:
        console.print(f"Months are when leads entered the CRM; {document['backtest_rule']}.",
                      markup=False, highlight=False)  # fmt: skip
    if "matrix_by_month" in document:
        table = Table(
            title="Matrix per month: leads entering the CRM per back-test cell, converted"
        )
        for column in ("month", "cell", "entered", "converted (95% CI)", "open", "after conv."):
            table.add_column(column)
        for row in document["matrix_by_month"]:
            plain_row(
                table,
                row["month"],
                row["cell"],
                str(row["entered"]),
                share_text(row["converted"]),
                str(row["open"]),
                str(row["after_conversion"]),
            )
        console.print(table)
    fit = document["fit"]
    console.print(
        f"Good fit converts {share_text(fit['good'])}, poor fit {share_text(fit['poor'])}; "
        f"lift {lift_text(fit['lift'])}: {fit['why']}",
        markup=False,
        highlight=False,
    )
    for key, title, extra in (
        ("criteria", "ICP criteria", "required"),
        ("rules", "Engagement rules", "points"),
    ):
        table = Table(title=f"{title}: how often each fires and the conversion lift when it does")
        for column in ("name", extra, "fires", "converted with", "without", "lift (95% CI)", ""):
            table.add_column(column)
        for row in document[key]:
            plain_row(
                table,
                row["name"],
                str(row[extra]),
                f"{row['fires']} ({row['fire_rate'] or 0:.0%})",
                share_text(row["with"]),
                share_text(row["without"]),
                lift_text(row["lift"]),
                row["flag"] or "predicts conversion",
            )
        console.print(table)
    for key, label in (("source", "source"), ("campaign", "campaign")):
        rows = document[f"poor_fit_by_{key}"]
        table = Table(title=f"Poor-fit leads by {label}")
        for column in (label, "leads", "poor fit", "poor share", "poor fit converted"):
            table.add_column(column)
        for row in rows:
            plain_row(
                table,
                row[key],
                str(row["leads"]),
                str(row["poor_fit"]),
                share_text(row["poor_share"]),
                share_text(row["poor_converted"]),
            )
        console.print(table)
    if "hand_raisers_vs_sales_ready" in document:
        table = Table(title="Hand-raisers against other sales-ready leads (hand-offs)")
        for column in (
            "group",
            "handed off",
            "converted",
            "touched",
            "untouched",
            "first touch median",
            "p90",
        ):
            table.add_column(column)
        for row in document["hand_raisers_vs_sales_ready"]:
            hours = row["hours_to_first_touch"]
            plain_row(
                table,
                row["group"],
                str(row["handed_off"]),
                share_text(row["converted"]),
                str(row["touched"]),
                str(row["untouched"]),
                _hours(hours["median"]),
                _hours(hours["p90"]),
            )
        console.print(table)
    if "recycle_flow" in document:
        flow = document["recycle_flow"]
        console.print(
            f"Recycle flow: {flow['handed_off']} handed off -> {flow['recycled']} recycled -> "
            f"{flow['requalified']} re-qualified -> {flow['converted_after_recycle']} converted"
        )
        table = Table(title="Recycles by reason")
        for column in ("reason", "recycled", "re-qualified", "converted after"):
            table.add_column(column)
        for row in flow["by_reason"]:
            plain_row(
                table,
                row["reason"],
                str(row["recycled"]),
                share_text(row["requalified"]),
                share_text(row["converted"]),
            )
        console.print(table)
    if "not_available" in document:
        console.print(f"Not in this report: {document['not_available']}", markup=False)
    if "data_quality" in document:
        print_quality(document["data_quality"], console)
    print_config_notes(document.get("config_against_data", ()), console)


def print_config_notes(notes: Sequence[str], console: Console) -> None:
    """What the config names that the store's records never hold."""
    if notes:
        console.print("The config against the data (each checks nobody):", markup=False)
    for note in notes:
        console.print(f"  {note}", markup=False, highlight=False)


def print_quality(quality: Mapping[str, Any], console: Console) -> None:
    table = Table(title=f"Data quality: {quality['rows']} rows, {quality['skipped_rows']} empty")
    table.add_column("column")
    table.add_column("cells read with care")
    for column, problems in quality["columns"].items():
        plain_row(table, column, ", ".join(f"{p} {n}" for p, n in problems.items()))
    console.print(table)
    for note in quality["notes"]:
        console.print(f"  {note}", markup=False, highlight=False)


def _flat(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, Mapping):
        for key, inner in value.items():
            _flat(f"{prefix}_{key}" if prefix else str(key), inner, out)
    elif not isinstance(value, list):
        out[prefix] = value


def _write(path: Path, rows: Sequence[Mapping[str, Any]]) -> Path:
    flat = []
    for row in rows:
        out: dict[str, Any] = {}
        _flat("", row, out)
        flat.append(out)
    columns = list(dict.fromkeys(key for row in flat for key in row))
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(flat)
    return path


def write_csvs(document: Mapping[str, Any], folder: Path) -> list[Path]:
    """One CSV per table section in ``folder`` (created); intervals as ``_low``/``_high``."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for key in (
        "matrix_by_month",
        "criteria",
        "rules",
        "poor_fit_by_source",
        "poor_fit_by_campaign",
        "hand_raisers_vs_sales_ready",
    ):
        if key in document:
            written.append(_write(folder / f"{key}.csv", document[key]))
    written.append(_write(folder / "fit.csv", [{"group": "all", **document["fit"]}]))
    if "recycle_flow" in document:
        written.append(_write(folder / "recycle_flow.csv", document["recycle_flow"]["by_reason"]))
    if "data_quality" in document:
        rows = [
            {"column": column, "problem": problem, "cells": n}
            for column, problems in document["data_quality"]["columns"].items()
            for problem, n in problems.items()
        ]
        written.append(_write(folder / "data_quality.csv", rows))
    return written
