"""The suggestion as something an admin reviews: a TOML snippet and a unified diff against the
config file. The config file is read, never written: tomlkit edits a copy in memory, keeping
the file's comments and layout, so the diff shows only the changed values.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import tomlkit
from tomlkit.items import AoT, Array, Table

from leadsync.model import CriterionDef, ModelSpec
from leadsync.model.engagement import Rule
from leadsync.tune.checklist import Checklist
from leadsync.tune.value_points import ValueRule

_DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class Proposal:
    """What ``tune`` proposes to change in the config."""

    points: Sequence[int]
    checklist: Checklist
    #: ``[engagement] sales_ready_threshold`` in the suggested points' units (``None``: as is).
    sales_ready_threshold: int | None = None
    #: Attribute rules giving per-value points, appended to the rules.
    value_rules: Sequence[ValueRule] = ()


def rule_table(rule: Rule, points: int, window_days: float) -> dict[str, Any]:
    """A rule as its ``[[engagement.rules]]`` entry, with ``points`` in place of its own."""
    if rule.attribute_test is not None:
        return _attribute_rule_table(rule.attribute_test.definition, points)
    entry: dict[str, Any] = {
        "name": rule.name,
        "kind": rule.kinds[0] if len(rule.kinds) == 1 else list(rule.kinds),
    }
    for key, regex in (
        ("name_pattern", rule.name_re),
        ("campaign_type_pattern", rule.campaign_type_re),
        ("member_status_pattern", rule.member_status_re),
        ("url_pattern", rule.url_re),
    ):
        if regex is not None:
            entry[key] = regex.pattern
    entry["points"] = points
    entry["interest"] = rule.interest
    if rule.cap is not None:
        entry["cap"] = rule.cap
    days = rule.window_seconds / _DAY
    if abs(days - window_days) > 1e-9:
        entry["window_days"] = int(days) if float(days).is_integer() else days
    return entry


def _attribute_rule_table(test: CriterionDef, points: int) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": test.name, "attribute": test.attribute}
    entry["operator"] = test.operator
    if test.values:
        entry["values"] = list(test.values)
    for key, number in (("min", test.minimum), ("max", test.maximum)):
        if number is not None:
            entry[key] = int(number) if float(number).is_integer() else number
    if test.pattern:
        entry["pattern"] = test.pattern
    if test.negate:
        entry["negate"] = True
    entry["points"] = points
    return entry


def _rules_aot(spec: ModelSpec, proposal: Proposal) -> AoT:
    entries = [
        rule_table(rule, value, spec.window_days)
        for rule, value in zip(spec.rules, proposal.points, strict=True)
    ]
    entries += [rule.entry() for rule in proposal.value_rules]
    tables = [_table(entry) for entry in entries]
    return tomlkit.aot() if not tables else AoT(tables)


def _table(entry: dict[str, Any]) -> Table:
    table = tomlkit.table()
    for key, item in entry.items():
        table.add(key, item)
    return table


def _edit_criteria(entries: Any, checklist: Checklist) -> None:
    """The file's ``[[icp.criteria]]`` entries as the checklist says: dropped boxes removed,
    ``required`` set or cleared (entries are matched in order, as the config reads them)."""
    if not isinstance(entries, AoT | Array) or len(entries) != len(checklist.kept):
        return
    for index in reversed(range(len(entries))):
        entry = entries[index]
        if not checklist.kept[index]:
            del entries[index]
        elif checklist.required[index]:
            entry["required"] = True
        elif "required" in entry:
            del entry["required"]


def snippet(spec: ModelSpec, proposal: Proposal, header: Sequence[str], config_text: str) -> str:
    """A TOML snippet holding the suggested ``[icp]`` (cut-off and the criteria kept) and
    the whole rule list (a TOML array replaces as a whole, so every entry is listed)."""
    checklist = proposal.checklist
    doc = tomlkit.document()
    for line in header:
        doc.add(tomlkit.comment(line))
    if spec.criteria:
        icp = tomlkit.table()
        icp.add("good_fit_min", checklist.good_fit_min)
        current = tomlkit.parse(config_text).get("icp")
        entries = current.get("criteria") if isinstance(current, Table) else None
        if isinstance(entries, AoT | Array) and len(entries) == len(checklist.kept):
            _edit_criteria(entries, checklist)
            icp.add("criteria", entries)
        doc.add("icp", icp)
    engagement = tomlkit.table()
    if proposal.sales_ready_threshold is not None:
        engagement.add("sales_ready_threshold", proposal.sales_ready_threshold)
    engagement.add("rules", _rules_aot(spec, proposal))
    doc.add("engagement", engagement)
    return tomlkit.dumps(doc)


def suggested_text(text: str, spec: ModelSpec, proposal: Proposal) -> str:
    """The config file's text with the suggested points, checklist and threshold edited in."""
    checklist, points = proposal.checklist, proposal.points
    doc = tomlkit.parse(text)
    if spec.criteria:
        icp = doc.get("icp")
        if isinstance(icp, Table):
            icp["good_fit_min"] = checklist.good_fit_min
            _edit_criteria(icp.get("criteria"), checklist)
        else:
            table = tomlkit.table()
            table.add("good_fit_min", checklist.good_fit_min)
            doc.add("icp", table)
    engagement = doc.get("engagement")
    if not isinstance(engagement, Table):
        engagement = tomlkit.table()
        doc.add("engagement", engagement)
    if proposal.sales_ready_threshold is not None:
        engagement["sales_ready_threshold"] = proposal.sales_ready_threshold
    rules = engagement.get("rules")
    if isinstance(rules, AoT | list) and len(rules) > 0:
        by_name = dict(zip((r.name for r in spec.rules), points, strict=True))
        for entry in rules:
            name = entry.get("name")
            if name in by_name:
                entry["points"] = by_name[name]
        for rule in proposal.value_rules:
            rules.append(_table(rule.entry()) if isinstance(rules, AoT) else rule.entry())
    else:
        # The file relies on the built-in rules: spell them out with the new points.
        engagement["rules"] = _rules_aot(spec, proposal)
    return tomlkit.dumps(doc)


def unified_diff(before: str, after: str, path: str) -> str:
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            fromfile=path,
            tofile=f"{path} (suggested)",
        )
    )


def review_file(snippet_text: str, diff_text: str, now: datetime) -> str:
    """What ``--out`` writes: the snippet, then the diff as TOML comments (still valid TOML)."""
    commented = "".join(
        f"# {line}" if line.strip() else "#\n" for line in diff_text.splitlines(True)
    )
    return (
        f"{snippet_text.rstrip()}\n\n# Unified diff against the config file "
        f"({now:%Y-%m-%d %H:%M} UTC):\n{commented}"
    )
