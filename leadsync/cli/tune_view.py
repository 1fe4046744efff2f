"""Pieces of ``tune``'s screen and review file: rates with their intervals, and the per-value
points it proposes for categorical columns (``leadsync.tune.value_points``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from leadsync.report.stats import Share

if TYPE_CHECKING:
    from leadsync.tune import Suggestion
    from leadsync.tune.value_points import ValuePoints


def rate_text(rate: Share) -> str:
    """``12/40 = 30.0% (17.9%-45.8%)``: converted of all, with the 95 % interval."""
    if rate.rate is None or rate.low is None or rate.high is None:
        return "no leads"
    return f"{rate.k:,}/{rate.n:,} = {rate.rate:.1%} ({rate.low:.1%}-{rate.high:.1%})"


def _auc_pair(column: ValuePoints) -> str:
    def one(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    return f"hold-out AUC {one(column.auc_before)} -> {one(column.auc_after)} with them"


def value_points_header(found: Suggestion) -> list[str]:
    """Review-file comment lines: each column's proposed value rules, ready to uncomment."""
    lines = []
    for column in found.value_points:
        lines.append(
            f" per-value points for {column.attribute} ({_auc_pair(column)}); to add them, "
            "uncomment:"
        )
        for rule in column.rules:
            lines.extend(f" {line}" for line in rule.toml().splitlines())
    return lines


def print_value_points(found: Suggestion, console: Console) -> None:
    """One table per categorical column with proposed value rules."""
    from leadsync.report.render import plain_row

    for column in found.value_points:
        table = Table(
            title=f"Per-value points for {column.attribute} ({_auc_pair(column)}): add them "
            "as attribute rules ([[engagement.rules]] with attribute and operator one_of)"
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
