"""A random life of an org, lived long (issue 21): lives with consecutive seeds until time is up.

Each life (``tests/engine/life``) plays a seeded list of lifecycle events in two in-memory
CRMs (Salesforce and HubSpot), faults on any connector call, per-record rejections,
unreadable values, time passing, cycles of every kind and restarts, checks the invariants
after every cycle, then lets the faults stop and checks that everything converges to what a
fresh run over the same CRMs gives. At the end it prints the events and faults per kind, the
cycles run and every invariant broken, with the seed of the first life that broke it; with
``--shrink`` it also shrinks that life to the fewest steps that still break the invariant and
prints them as code for a regression test.

Run: ``python bench/life.py --minutes 5 [--seed 0] [--lives N] [--store sqlite|postgresql|URL]
[--rounds 14] [--shrink [INVARIANT ...]] [--sandboxes] [--json]``. ``--sandboxes`` lives the
slow life instead (``tests/engine/life/sandbox.py``: real connectors, both sandboxes, their
fault injection; no shrinking). ``postgresql`` uses ``LEADSYNC_TEST_PG_URL`` (one fresh
database per life). Exit 1 when an invariant broke.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
# Run as a script, bench/ is first on the path and its hubspot.py would shadow the HubSpot
# client library that connectors.hubspot imports.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _ROOT / "bench"]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from tests.conftest import fresh_store_url  # noqa: E402
from tests.engine.life.life import (  # noqa: E402
    Tally,
    as_code,
    live,
    quiet_logs,
    scratch_sqlite,
    shrink,
)
from tests.engine.life.sandbox import sandbox_life  # noqa: E402
from tests.engine.life.steps import generate  # noqa: E402

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@contextmanager
def store_for(kind: str) -> Iterator[str]:
    """A fresh store per life: a SQLite file, a new PostgreSQL database, or a given URL."""
    if kind == "sqlite":
        with scratch_sqlite() as url:
            yield url
        return
    if kind == "postgresql":
        os.environ.setdefault("LEADSYNC_TEST_PG_URL", PG_DEFAULT)
        with _tmp() as folder:
            yield from fresh_store_url("postgresql", folder)
        return
    yield kind


@contextmanager
def _tmp() -> Iterator[Path]:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="leadsync-life-") as folder:
        yield Path(folder)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=0, help="the first life's seed")
    parser.add_argument("--store", default="sqlite", help="sqlite, postgresql or a store URL")
    parser.add_argument("--lives", type=int, default=0, help="stop after this many lives")
    parser.add_argument("--rounds", type=int, default=14, help="cycles per life before settling")
    parser.add_argument(
        "--shrink",
        nargs="*",
        metavar="INVARIANT",
        help="shrink the first life to break each invariant (or only those named)",
    )
    parser.add_argument(
        "--sandboxes",
        action="store_true",
        help="live through the real connectors over both sandboxes (the slow life)",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    quiet_logs()
    deadline = time.monotonic() + args.minutes * 60
    tally = Tally()
    plans = {}
    seed = args.seed
    while time.monotonic() < deadline and not (args.lives and tally.lives >= args.lives):
        plan = generate(seed, args.rounds)
        plans[seed] = plan
        with store_for(args.store) as url:
            result = sandbox_life(seed, url) if args.sandboxes else live(plan, url)
        tally.add(result)
        if not args.json:
            broken = ", ".join(sorted(result.broken())) or "-"
            print(f"seed {seed}: {result.cycles} cycles, {result.seconds:.1f} s, broke: {broken}")
        seed += 1
    shrunk = {}
    if args.shrink is not None and not args.sandboxes:
        for name, (first_seed, _) in sorted(tally.first.items()):
            if args.shrink and name not in args.shrink:
                continue
            small = shrink(plans[first_seed], name, deadline=time.monotonic() + 300)
            shrunk[name] = as_code(small)
    if args.json:
        out = {
            "lives": tally.lives,
            "cycles": tally.cycles,
            "seconds": round(tally.seconds, 1),
            "events": dict(tally.steps),
            "faults": dict(tally.faults),
            "broken": {
                name: {
                    "violations": n,
                    "lives": tally.broken_lives[name],
                    "first_seed": tally.first[name][0],
                    "first": str(tally.first[name][1]),
                }
                for name, n in tally.broken.items()
            },
            "shrunk": shrunk,
        }
        print(json.dumps(out, indent=2))
    else:
        print(tally.report())
        for name, code in shrunk.items():
            print(f"\nshrunk, breaks {name}:\n{code}")
    return 1 if tally.broken else 0


if __name__ == "__main__":
    sys.exit(main())
