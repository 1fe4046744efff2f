"""Mutation score per file from a mutmut run (see bench/mutation.md for how to run one).

mutmut 3 keeps each mutant's outcome in ``mutants/<file>.meta`` (the exit code of the tests
run against it: 1 killed, 0 survived, 33 no test reaches it, other codes timeouts or
crashes). ``mutmut results`` lists mutants one by one; this prints the per-file score
the bench page records, and with ``--survivors`` the names of the survivors, for
``mutmut show NAME``.

    python bench/mutation.py [--survivors] [--root mutants]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

KILLED, SURVIVED, NO_TESTS = 1, 0, 33


def outcomes(root: Path) -> dict[str, dict[str, int | None]]:
    """Mutant name -> exit code (``None``: not run yet), per mutated file."""
    found: dict[str, dict[str, int | None]] = {}
    for meta in sorted(root.rglob("*.py.meta")):
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        if codes:
            found[str(meta.relative_to(root)).removesuffix(".meta")] = codes
    return found


def table(by_file: dict[str, dict[str, int | None]]) -> list[str]:
    lines = ["| file | killed / tested | survived | no test | not run | other |"]
    lines.append("|---|---|---|---|---|---|")
    totals: Counter[str] = Counter()
    for name, codes in by_file.items():
        seen = Counter(
            "not_run"
            if code is None
            else {KILLED: "killed", SURVIVED: "survived", NO_TESTS: "no_tests"}.get(code, "other")
            for code in codes.values()
        )
        totals.update(seen)
        lines.append(_row(name, seen))
    lines.append(_row("**total**", totals))
    return lines


def _row(name: str, seen: Counter[str]) -> str:
    tested = seen["killed"] + seen["survived"] + seen["other"]
    share = f" ({seen['killed'] / tested:.0%})" if tested else ""
    return (
        f"| {name} | {seen['killed']} / {tested}{share} | {seen['survived']} | "
        f"{seen['no_tests']} | {seen['not_run']} | {seen['other']} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("mutants"))
    parser.add_argument("--survivors", action="store_true", help="list surviving mutants")
    args = parser.parse_args()
    by_file = outcomes(args.root)
    if not by_file:
        raise SystemExit(f"no mutmut results under {args.root}: run `nice -n 10 mutmut run`")
    print("\n".join(table(by_file)))
    if args.survivors:
        for codes in by_file.values():
            print("\n".join(name for name, code in codes.items() if code == SURVIVED))


if __name__ == "__main__":
    main()
