"""All SQL lives in ``leadsync/store``: no module outside it imports SQLAlchemy or the store's
tables, or executes a statement. Code outside calls the store's named queries and names a
connection ``leadsync.store.Connection``. The scan reads the source with ``ast``, so a string
or a comment that mentions SQL is no breach, and an aliased import is still one."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The production code: the package, the CRM connectors and the scheduled jobs.
SCANNED = ("leadsync", "connectors", "jobs")
STORE = ROOT / "leadsync" / "store"
#: Calls that run SQL on a connection, whatever the receiver is called.
EXECUTING = frozenset({"execute", "exec_driver_sql", "scalar", "scalars"})


def _sources() -> list[Path]:
    files = [p for top in SCANNED for p in sorted((ROOT / top).rglob("*.py"))]
    return [p for p in files if STORE not in p.parents and ".venv" not in p.parts]


#: Packages only the store imports: the SQL toolkit and the store's table definitions.
FORBIDDEN = ("sqlalchemy", "leadsync.store.schema")


def _forbidden(module: str) -> bool:
    return any(module == name or module.startswith(name + ".") for name in FORBIDDEN)


def breaches(source: str) -> list[str]:
    """What in ``source`` (a module outside the store) reaches past the store's functions."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in EXECUTING
        ):
            found.append(f"line {node.lineno}: .{node.func.attr}(...)")
            continue
        else:
            continue
        found += [f"line {node.lineno}: imports {name}" for name in names if _forbidden(name)]
    return sorted(set(found))


def _breaches_by_module() -> dict[str, list[str]]:
    out = {}
    for path in _sources():
        found = breaches(path.read_text(encoding="utf-8"))
        if found:
            out[path.relative_to(ROOT).as_posix()] = found
    return out


def test_no_sql_outside_the_store() -> None:
    found = _breaches_by_module()
    assert not found, f"SQL outside leadsync/store (move it behind a store function): {found}"


def test_the_scan_sees_each_kind_of_breach() -> None:
    """The scan itself: every way in is caught, aliases included; mentions are not."""
    assert breaches("import sqlalchemy as sa\n")
    assert breaches("from sqlalchemy.orm import Session\n")
    assert breaches("from leadsync.store.schema import people as p\n")
    assert breaches("from leadsync.store import schema\n")
    assert breaches("def f(c):\n    return c.execute(q)\n")
    assert breaches("def f(c):\n    return c.scalars(q)\n")
    assert not breaches('"""sa.select(people) and import sqlalchemy, in prose"""\n')
    assert not breaches("from leadsync.store import Connection\n")
    assert not breaches("from leadsync.store.history import histories\n")
