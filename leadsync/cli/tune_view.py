"""What ``tune`` shows: its screen (hold-out, rules, checklist, candidates, per-value points,
threshold, impact) and its review file's header, each rate with its 95 % interval."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from leadsync.report.stats import Share

if TYPE_CHECKING:
    from leadsync.report import Dataset
    from leadsync.tune import Suggestion
    from leadsync.tune.checklist import BoxEvidence
    from leadsync.tune.impact import Impact
    from leadsync.tune.routing_impact import Router


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


def review_header(found: Suggestion, ds: Dataset, now: datetime) -> list[str]:
    """The review file's comment lines: where the suggestion comes from, what it scores on the
    hold-out, and each box, rule, candidate and per-value rule with its evidence."""
    return [
        f" Suggested by `leadsync tune` on {now:%Y-%m-%d} from {ds.origin}.",
        f" Hold-out AUC: current {auc_text(found.current.auc)}, suggested "
        f"{auc_text(found.suggested.auc)} ({found.suggested.leads} leads).",
        " Review, then copy into the config; nothing was changed.",
        *(
            [" WARNING: the suggestion ranks the hold-out worse than the current config."]
            if (found.suggested.auc or 0.0) < (found.current.auc or 0.0)
            else []
        ),
        *(f" criterion {box.name!r}: {box_line(box)}" for box in found.boxes),
        *(f" rule {rule.name!r}: {rule.note}" for rule in found.rules if rule.note),
        *(
            f" candidate box {c.attribute} = {c.value!r}: converted {rate_text(c.with_value)} "
            f"with it, {rate_text(c.without)} without; lift {c.lift:.2f} "
            f"({c.lift_low:.2f}-{c.lift_high:.2f}); add it as an [[icp.criteria]] entry "
            "(operator one_of) if it describes your customer"
            for c in found.candidates
        ),
        *value_points_header(found),
    ]


def _lift(box: BoxEvidence) -> str:
    if box.lift is None:
        return "n/a"
    high = "inf" if box.lift_high == float("inf") else f"{box.lift_high:.2f}"
    return f"{box.lift:.2f} ({box.lift_low:.2f}-{high})"


def box_line(box: BoxEvidence) -> str:
    """One box's verdict with its evidence, for the review file's header."""
    line = (
        f"{box.verdict}; converted {rate_text(box.checked)} with it, {rate_text(box.unchecked)} "
        f"without; lift {_lift(box)}"
    )
    return f"{line}; {box.note}" if box.note else line


def auc_text(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


#: Reps shown by name in the per-rep table; the rest are summed as "others".
_REPS_SHOWN = 10


def print_impact(found: Impact, console: Console) -> None:
    """Leads per cell and hand-offs per month of entry, now -> as suggested; per rep too."""
    from leadsync.report.render import plain_row

    table = Table(title="Impact by month of entry (back-test cells): leads now -> as suggested")
    cells = sorted({cell for month in found.months for cell in month.cells})
    for column in ("month", *cells, "hand-offs"):
        table.add_column(column)
    for month in found.months:
        now, then = month.handoffs
        row = [month.month]
        pairs = [month.cells.get(cell, (0, 0)) for cell in cells]
        row += [f"{before} -> {after}" for before, after in pairs]
        row.append(f"{now} -> {then}")
        plain_row(table, *row)
    console.print(table)
    if found.router is not None:
        _print_reps(found, found.router, console)


def _print_reps(found: Impact, router: Router, console: Console) -> None:
    """Hand-offs per rep (rows) and month (columns, the latest first), now -> as suggested."""
    from leadsync.report.render import plain_row
    from leadsync.tune.routing_impact import UNROUTED, top_owners

    totals: dict[str, int] = {}
    for month in found.months:
        for owner, (a, b) in month.owners.items():
            totals[owner] = totals.get(owner, 0) + a + b
    shown, more = top_owners(totals, router, _REPS_SHOWN)
    table = Table(title="Hand-offs per rep by month of entry: now -> as suggested")
    for column in ("rep", *(m.month for m in found.months)):
        table.add_column(column)

    def pair(month: Any, owners: set[str]) -> str:
        a = sum(month.owners.get(o, (0, 0))[0] for o in owners)
        b = sum(month.owners.get(o, (0, 0))[1] for o in owners)
        return f"{a} -> {b}"

    for owner in shown:
        if owner == UNROUTED:
            label = "nobody (no pool or fallback took it)"
        elif owner == router.settings.fallback_owner:
            label = f"{router.name(owner)} (fallback)"
        else:
            label = router.name(owner)
        plain_row(table, label, *(pair(m, {owner}) for m in found.months))
    if more:
        rest = set(totals) - set(shown)
        plain_row(table, f"others ({len(rest)} reps)", *(pair(m, rest) for m in found.months))
    console.print(table)
    console.print(f"per rep: {router.assumes}", markup=False)


def print_tune(
    found: Suggestion, ds: Dataset, diff_text: str, written: Path | None, console: Console
) -> None:
    """``tune``'s screen: the hold-out, the rules, the checklist, candidates, per-value
    points, the threshold and the diff."""
    from leadsync.report.render import plain_row

    split = found.split
    train_pos = sum(bool(lead.converted) for lead in split.train)
    test_pos = sum(bool(lead.converted) for lead in split.test)
    if split.note:
        console.print(f"note: {split.note}", markup=False, highlight=False)
    console.print(split.description, markup=False, highlight=False)
    console.print(
        f"Trained on {len(split.train):,} leads ({train_pos:,} converted); held out "
        f"{len(split.test):,} ({test_pos:,} converted); L2 strength C = {found.fit.c:.3g}",
        markup=False,
        highlight=False,
    )
    table = Table(title="Hold-out ranking quality (AUC; 0.5 = chance)")
    for column in ("config", "fit then score", "score only", "fit only"):
        table.add_column(column)
    rows = [("current", found.current), ("suggested", found.suggested)]
    if found.without_values is not None:
        rows.append(("suggested without per-value points", found.without_values))
    for name, row in rows:
        plain_row(table, name, auc_text(row.auc), auc_text(row.score_auc), auc_text(row.fit_auc))
    plain_row(table, "logistic regression (unrounded)", auc_text(found.logistic_auc), "", "")
    console.print(table)
    now, then = found.current.auc, found.suggested.auc
    if now is not None and then is not None and then < now:
        console.print(
            f"warning: the suggestion ranks the hold-out worse than the current config ({then:.3f} "
            f"against {now:.3f}): keep the current config, or gather more history",
            markup=False,
        )
    rules = Table(title="Engagement points (training leads; rates with 95 % intervals)")
    for column in (
        "rule", "current", "suggested", "log-odds per activity", "converted when it fired",
        "when it did not", "note",
    ):  # fmt: skip
        rules.add_column(column)
    for i, rule in enumerate(found.rules):
        plain_row(
            rules,
            rule.name,
            f"{ds.points[i]:g}",
            str(found.points[i]),
            f"{found.fit.rule_coef[i]:+.3f}",
            rate_text(rule.fired),
            rate_text(rule.not_fired),
            rule.note,
        )
    console.print(rules)
    boxes = Table(title="ICP checklist (training leads; rates and lift with 95 % intervals)")
    for column in ("box", "converted with it", "without it", "lift", "suggested"):
        boxes.add_column(column)
    for box in found.boxes:
        was = "required" if box.required_now else "counts"
        plain_row(
            boxes,
            box.name,
            rate_text(box.checked),
            rate_text(box.unchecked),
            _lift(box),
            f"{box.verdict} (now: {was})" + (f"; {box.note}" if box.note else ""),
        )
    if found.boxes:
        console.print(boxes)
    if found.candidates:
        extra = Table(
            title=Text(
                "Candidate boxes: values no box covers whose leads converted clearly better "
                "(add one as an [[icp.criteria]] entry if it describes your customer)"
            )
        )
        for column in ("attribute", "value", "converted with it", "without it", "lift"):
            extra.add_column(column)
        for c in found.candidates:
            plain_row(extra,
                c.attribute, c.value, rate_text(c.with_value), rate_text(c.without),
                f"{c.lift:.2f} ({c.lift_low:.2f}-{c.lift_high:.2f})",
            )  # fmt: skip
        console.print(extra)
    print_value_points(found, console)
    console.print(f"good_fit_min: current {ds.good_fit_min}, suggested {found.good_fit_min}")
    if found.thresholds is not None:
        ready = Table(title="Sales-ready threshold on the hold-out (rates with 95 % intervals)")
        for column in ("config", "threshold", "sales-ready: converted", "below it: converted"):
            ready.add_column(column)
        for name, side in zip(("current", "suggested"), found.thresholds, strict=True):
            plain_row(
                ready,
                name,
                f"{side.threshold:g}",
                rate_text(side.ready),
                rate_text(side.not_ready),
            )
        console.print(ready)
    console.print(diff_text or "No change to the config file.", markup=False, highlight=False)
    from leadsync.report.render import print_config_notes, print_quality

    if ds.quality is not None:
        print_quality(ds.quality.to_dict(), console)
    print_config_notes(ds.notes, console)
    if written is not None:
        console.print(f"wrote {written}", markup=False)
