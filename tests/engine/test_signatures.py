"""The core's functions take few arguments, and its engine modules stay small (STYLE: no
function with more than six parameters; split a module near 600 lines).

Parameters are counted as a caller sees them: positional, keyword-only (after ``*``) and
``*args``/``**kwargs`` each count one; ``self`` and ``cls`` do not.
"""

from __future__ import annotations

import ast
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
CORE = ("leadsync/engine", "leadsync/handoff", "leadsync/model", "leadsync/store")
MAX_PARAMETERS = 6
MAX_ENGINE_MODULE_LINES = 600

#: Wider functions outside the engine, owned elsewhere: each is to be narrowed and struck
#: off. The test fails on any other, and on an entry that no longer is one (strike it off).
KNOWN_WIDE = {
    "leadsync/handoff/escalation.py:escalate",
    "leadsync/handoff/plan.py:plan_handoff",
    "leadsync/handoff/recycle.py:plan_recycle",
    "leadsync/handoff/routing.py:route",
    "leadsync/handoff/tasks.py:render_task",
    "leadsync/handoff/transitions.py:transition",
    "leadsync/model/spec.py:build_spec",
    "leadsync/model/values.py:new_contribution",
    "leadsync/store/actions.py:queue_action",
    "leadsync/store/checkpoints.py:save",
    "leadsync/store/ingest.py:_follow_email_change",
    "leadsync/store/queue.py:enqueue_backfill",
    "leadsync/store/queue.py:finish_request",
    "leadsync/store/runs.py:finish_run",
}


def parameter_count(function: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    args = function.args
    names = [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)]
    if names and names[0] in ("self", "cls"):
        names = names[1:]
    return len(names) + (args.vararg is not None) + (args.kwarg is not None)


def wide_functions(source: str) -> dict[str, int]:
    """Every function (and method, nested or not) in ``source`` taking more than six."""
    return {
        node.name: parameter_count(node)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and parameter_count(node) > MAX_PARAMETERS
    }


def _core_modules() -> list[Path]:
    return sorted(p for package in CORE for p in (ROOT / package).rglob("*.py"))


def test_no_core_function_takes_more_than_six_parameters() -> None:
    found = {
        f"{path.relative_to(ROOT)}:{name}": count
        for path in _core_modules()
        for name, count in wide_functions(path.read_text()).items()
    }
    new = {key: count for key, count in found.items() if key not in KNOWN_WIDE}
    assert not new, f"take few meaningful arguments (a value object, a request): {new}"
    assert not {k for k in found if k.startswith("leadsync/engine/")}
    narrowed = KNOWN_WIDE - set(found)
    assert not narrowed, f"now within the limit: strike them off KNOWN_WIDE: {narrowed}"


def test_engine_modules_stay_under_six_hundred_lines() -> None:
    lengths = {
        str(path.relative_to(ROOT)): len(path.read_text().splitlines())
        for path in (ROOT / "leadsync/engine").glob("*.py")
    }
    long = {p: n for p, n in lengths.items() if n > MAX_ENGINE_MODULE_LINES}
    assert not long, f"split into cohesive modules: {long}"


@given(
    positional=st.integers(0, 9),
    keyword_only=st.integers(0, 4),
    star_args=st.booleans(),
    star_kwargs=st.booleans(),
    method=st.booleans(),
)
def test_every_kind_of_parameter_counts_but_self(
    positional: int, keyword_only: int, star_args: bool, star_kwargs: bool, method: bool
) -> None:
    params = [f"p{i}" for i in range(positional)]
    if star_args:
        params.append("*rest")
    elif keyword_only:
        params.append("*")
    params += [f"k{i}: int = 0" for i in range(keyword_only)]
    if star_kwargs:
        params.append("**more")
    signature = ", ".join((["self"] if method else []) + params)
    source = f"def f({signature}):\n    pass\n"
    if method:
        source = "class C:\n    " + source.replace("\n    pass", "\n        pass")
    count = positional + keyword_only + star_args + star_kwargs
    assert wide_functions(source) == ({"f": count} if count > MAX_PARAMETERS else {})
