"""Values as people read them: one way to print a score, a fit, a field value, everywhere.

``explain``, dry-run samples, ``status``, the demo and the sandbox's summary all print through
these, so no Python repr (``None``, ``{...}``, ``99.99973388374256``) reaches a terminal.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any


def score_text(score: float | None) -> str:
    """A score as whole points, as the CRM's Score field shows it; ``none`` before scoring."""
    if score is None:
        return "none"
    return f"{round(score):,}"


def change_text(old: float | None, new: float | None) -> str:
    """``13 (was none)``: a score and the one before it."""
    return f"{score_text(new)} (was {score_text(old)})"


def fit_text(fit: str, checked: int, boxes: int) -> str:
    """``good (5 of 6 boxes)``."""
    return f"{fit} ({checked} of {boxes} boxes)"


def number_text(value: float) -> str:
    """Whole numbers without decimals, others with at most two."""
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def value_text(value: Any) -> str:
    """Any stored or written value as text: no reprs, no long floats."""
    if value is None or value == "":
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return number_text(value)
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M}"
    if isinstance(value, date):
        return f"{value:%Y-%m-%d}"
    if isinstance(value, Mapping):
        return fields_text(value)
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(value_text(v) for v in value) or "none"
    if isinstance(value, str) and len(value) >= 16 and value[10:11] == "T":
        try:  # an ISO timestamp the store kept as text
            return value_text(datetime.fromisoformat(value))
        except ValueError:
            pass
    return str(value)


def fields_text(values: Mapping[str, Any]) -> str:
    """``Fit Good; Score 100; Team Sales``: field names with their values, in order."""
    return "; ".join(f"{name} {value_text(value)}" for name, value in values.items()) or "none"


def counts_text(counts: Mapping[str, Any]) -> str:
    """``new leads 3, campaign responses 2``: the non-zero counts of a summary."""
    return ", ".join(f"{name.replace('_', ' ')} {value_text(n)}" for name, n in counts.items() if n)


def outputs_text(values: Mapping[str, Any]) -> str:
    """LeadSync's output fields (``fit``, ``score``, ``reason``...) as ``Fit good; Score 13``."""
    shown = {
        str(name).replace("_", " ").capitalize(): score_text(value)
        if name == "score" and isinstance(value, int | float)
        else value
        for name, value in values.items()
    }
    return fields_text(shown)
