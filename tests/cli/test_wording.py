"""Human output prints values as people read them: no dicts, no ``None``, no long floats, and
a score the same way everywhere (whole points)."""

from __future__ import annotations

import re
import string
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from leadsync.cli.explain_view import explain_lines
from leadsync.cli.output import console
from leadsync.cli.sync_cmds import _print_report, _print_status
from leadsync.cli.wording import change_text, counts_text, fit_text, score_text
from leadsync.engine.cycle import CycleReport

#: A float printed with more than two decimals, a Python None, or a dict/set repr.
RAW = re.compile(r"\d\.\d{3,}|\bNone\b|[{}]")

# Text a CRM could hold, never itself spelling a repr.
words = st.text(alphabet=string.ascii_letters + " -", min_size=1, max_size=12).filter(
    lambda w: "None" not in w
)
numbers = st.none() | st.integers(-(10**6), 10**6) | st.floats(-1e6, 1e6, allow_nan=False)
moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1))
values = numbers | words | moments | st.booleans() | moments.map(lambda d: d.isoformat())
outputs = st.dictionaries(
    st.sampled_from(["fit", "score", "readiness", "team", "reason", "scored_at", "points"]),
    values,
    max_size=7,
)
criteria = st.fixed_dictionaries(
    {
        "name": words,
        "attribute": words,
        "status": st.sampled_from(["checked", "missed", "missing", "unreadable"]),
        "required": st.booleans(),
        "reason": words,
    }
)
contributions = st.fixed_dictionaries(
    {
        "activity_id": words,
        "rule": words,
        "kind": words,
        "raw_points": numbers,
        "points": numbers,
        "occurred_at": moments.map(lambda d: d.replace(tzinfo=UTC).isoformat()),
        "interest": words,
    }
)
results = st.fixed_dictionaries(
    {
        "key": words,
        "fit": st.sampled_from(["good", "poor"]),
        "readiness": st.sampled_from(["hand_raiser", "sales_ready", "unready", "do_not_contact"]),
        "team": words,
        "cell": words,
        "score": numbers,
        "raw_score": numbers,
        "good_fit_min": st.integers(0, 9),
        "criteria": st.lists(criteria, max_size=4),
        "contributions": st.lists(contributions, max_size=4),
        "readiness_reason": words,
        "account": st.none() | st.fixed_dictionaries({"score": numbers, "engaged_people": numbers}),
        "notes": st.lists(words, max_size=2),
    }
)
causes = st.fixed_dictionaries(
    {
        "added": st.lists(
            st.fixed_dictionaries({"activity": words, "rule": words, "points": numbers}),
            max_size=5,
        ),
        "removed": st.lists(
            st.fixed_dictionaries({"activity": words, "rule": words, "points": numbers}),
            max_size=2,
        ),
        "decay": numbers,
    }
)
history = st.fixed_dictionaries(
    {
        "at": moments,
        "old_score": numbers,
        "new_score": numbers,
        "old_cell": st.none() | words,
        "new_cell": st.none() | words,
        "cause": causes | words,
    }
)
details = st.fixed_dictionaries(
    {
        "score": st.none() | st.fixed_dictionaries({"result": results, "scored_at": moments}),
        "records": st.lists(
            st.fixed_dictionaries({"id": st.integers(1, 5), "uid": words}), max_size=3
        ),
        "written": st.dictionaries(st.integers(1, 9), outputs, max_size=3),
        "history": st.lists(history, max_size=4),
        "handoffs": st.just([]),
    }
)


def printed(fn: Any, *args: Any) -> str:
    with console.capture() as capture:
        fn(*args)
    return capture.get()


@settings(max_examples=150, deadline=None)
@given(details)
def test_explain_prints_no_raw_python_values(detail: dict[str, Any]) -> None:
    text = "\n".join(explain_lines(detail))
    assert not RAW.search(text), text


@settings(max_examples=100, deadline=None)
@given(
    samples=st.lists(st.fixed_dictionaries({"record": words, "values": outputs}), max_size=4),
    counts=st.dictionaries(words, st.integers(0, 10**6), max_size=3),
)
def test_dry_run_samples_print_no_raw_python_values(
    samples: list[dict[str, Any]], counts: dict[str, int]
) -> None:
    report = CycleReport(
        run_id=1,
        dry_run=True,
        scored=3,
        would_write={"per_field": counts, "sample": samples, "cell_moves": counts},
        api_calls=counts,
    )
    text = printed(_print_report, report)
    assert not RAW.search(text), text


@settings(max_examples=50, deadline=None)
@given(
    rejected=st.lists(
        st.fixed_dictionaries(
            {
                "state": words,
                "uid": words,
                "attempts": st.integers(1, 9),
                "error_code": words,
                "error_message": words,
                "error_fields": st.none() | st.lists(words, max_size=3),
            }
        ),
        max_size=3,
    ),
    api_calls=st.none() | st.integers(0, 10**5),
)
def test_status_prints_no_raw_python_values(
    rejected: list[dict[str, Any]], api_calls: int | None
) -> None:
    run = {
        "id": 1,
        "connector": "salesforce",
        "kind": "sync",
        "started_at": datetime(2026, 1, 1),
        "status": "ok",
        "api_calls": api_calls,
        "error": None,
    }
    document = {
        "healthy": True,
        "health": {},
        "waiting": {"people": 0, "sample": [], "pulls": []},
        "runs": [run],
        "matrix": {"good/sales_ready": 3},
        "pending_writes": {"salesforce": {"pending": 1}},
        "rejected": rejected,
        "pending_actions": {},
        "rejected_actions": [],
        "handoffs": {},
        "recycles": {},
        "sla_breaches": 0,
        "unrouted": [],
        "unreadable": {"count": 0, "latest": []},
    }
    text = printed(_print_status, document)
    assert not RAW.search(text), text


@given(st.floats(-1e9, 1e9, allow_nan=False))
def test_a_score_prints_as_whole_points_everywhere(score: float) -> None:
    whole = f"{round(score):,}"
    assert score_text(score) == whole
    assert change_text(None, score) == f"{whole} (was none)"


def test_examples_read_as_an_admin_expects() -> None:
    assert change_text(None, 13) == "13 (was none)"
    assert score_text(99.99973388374256) == "100"
    assert fit_text("good", 5, 6) == "good (5 of 6 boxes)"
    assert counts_text({"new_leads": 3, "recycles": 0}) == "new leads 3"
