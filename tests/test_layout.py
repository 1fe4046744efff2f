"""The README's layout table names every folder a newcomer finds, and nothing that is gone."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _folders_in_table() -> set[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text.split("## Layout", 1)[1]
    return {
        name.rstrip("/")
        for row in table.splitlines()
        if row.startswith("| `")
        for name in re.findall(r"`([\w/.-]+/)`", row.split("|")[1])
    }


def _folders_in_tree() -> set[str]:
    # What git tracks, so local leftovers (a mutmut run's mutants/, caches) do not count.
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    top = {path.split("/")[0] for path in tracked if "/" in path and not path.startswith(".")}
    packages = {
        "/".join(path.split("/")[:2])
        for path in tracked
        if path.startswith("leadsync/") and path.count("/") == 2 and path.endswith("/__init__.py")
    }
    return (top | packages) - {"leadsync"}


def test_the_layout_table_matches_the_tree() -> None:
    listed, present = _folders_in_table(), _folders_in_tree()
    assert present - listed == set(), "folders the README's layout table does not name"
    assert listed - present == set(), "folders the README's layout table names that are gone"
