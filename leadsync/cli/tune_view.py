"""Pieces of ``tune``'s screen and review file: rates with their intervals, and the per-value
points it adds for categorical columns (``leadsync.tune.value_points``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table
from rich.text import Text

from leadsync.report.stats import Share

if TYPE_CHECKING:
    from leadsync.tune import Suggestion


def rate_text(rate: Share) -> str:
    """``12/40 = 30.0% (17.9%-45.8%)``: converted of all, with the 95 % interval."""
    if rate.rate is None or rate.low is None or rate.high is None:
        return "no leads"
    return f"{rate.k:,}/{rate.n:,} = {rate.rate:.1%} ({rate.low:.1%}-{rate.high:.1%})"


def _auc_line(found: Suggestion) -> str:
    def one(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    without = found.without_values.auc if found.without_values is not None else None
    return f"hold-out AUC {one(without)} without them, {one(found.suggested.auc)} with them"


def value_points_header(found: Suggestion) -> list[str]:
    """Review-file comment lines: which rules below are per-value points, and what they do."""
    if not found.value_points:
        return []
    names = ", ".join(column.attribute for column in found.value_points)
    count = sum(len(column.rules) for column in found.value_points)
    return [
        f" {count} per-value rules added for {names} ({_auc_line(found)}): the attribute rules "
        "at the end of [engagement] rules; delete any you disagree with."
    ]


def print_value_points(found: Suggestion, console: Console) -> None:
    """One table per categorical column given per-value points."""
    from leadsync.report.render import plain_row

    for column in found.value_points:
        table = Table(
            title=Text(
                f"Per-value points for {column.attribute}, added to the suggestion as "
                f"attribute rules ({_auc_line(found)}; training leads, 95 % intervals)"
            )
        )
        for heading in ("value", "points", "converted with it", "without it", "lift"):
            table.add_column(heading)
        for rule in column.rules:
            high = "inf" if rule.lift_high == float("inf") else f"{rule.lift_high:.2f}"
            plain_row(
                table, rule.value, f"{rule.points:+d}", rate_text(rule.with_value),
                rate_text(rule.without), f"{rule.lift:.2f} ({rule.lift_low:.2f}-{high})",
            )  # fmt: skip
        console.print(table)
