"""A random life of an org (issue 21) on SQLite and PostgreSQL, with a bounded budget.

CI lives ``LEADSYNC_LIFE_LIVES`` lives per store (default 6, seeds 0..5: reproducible; about
12 s on SQLite and 28 s on PostgreSQL on a quiet 2-core machine). ``LEADSYNC_LIFE_SECONDS=N``
lives for N seconds a store instead, and ``LEADSYNC_LIFE_SEED`` moves the first seed;
``python bench/life.py`` runs it for minutes and shrinks what it finds. Every life's events,
faults and violations are printed (``-s``) and the failure message names each broken
invariant with the seed of the first life to break it: ``python bench/life.py --seed S
--lives 1 --shrink`` reproduces and shrinks it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import fresh_store_url
from tests.engine.life.life import Tally, live, quiet_logs
from tests.engine.life.sandbox import sandbox_life
from tests.engine.life.steps import generate

LIVES = int(os.environ.get("LEADSYNC_LIFE_LIVES", "6"))
SECONDS = float(os.environ.get("LEADSYNC_LIFE_SECONDS", "0"))
FIRST_SEED = int(os.environ.get("LEADSYNC_LIFE_SEED", "0"))


@contextmanager
def fresh_store(backend: str, folder: Path) -> Iterator[str]:
    """An empty store of ``backend`` for one life (a PostgreSQL database is dropped after)."""
    yield from fresh_store_url(backend, folder)


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_a_random_life_keeps_every_invariant(backend: str, tmp_path: Path) -> None:
    quiet_logs()
    tally = Tally()
    deadline = time.monotonic() + SECONDS
    seed = FIRST_SEED
    while (tally.lives < LIVES) if not SECONDS else (time.monotonic() < deadline):
        folder = tmp_path / f"life-{seed}"
        folder.mkdir()
        with fresh_store(backend, folder) as url:
            result = live(generate(seed), url)
        tally.add(result)
        print(f"seed {seed}: {result.cycles} cycles, {result.seconds:.1f} s, "
              f"events {dict(result.steps)}, faults {dict(result.faults)}, "
              f"broke {sorted(result.broken()) or '-'}")  # fmt: skip
        seed += 1
    report = tally.report()
    print(report)
    assert tally.cycles > tally.lives * 10, report  # the lives really lived
    if tally.broken:
        pytest.fail(report, pytrace=False)


#: Sandbox lives in CI, of 6 rounds (about 9 s each); ``LEADSYNC_LIFE_SANDBOX_LIVES`` for more.
SANDBOX_LIVES = int(os.environ.get("LEADSYNC_LIFE_SANDBOX_LIVES", "2"))


@pytest.mark.slow
def test_a_random_life_over_both_sandboxes(tmp_path: Path) -> None:
    """The same life's oracle-free invariants through the real connectors and client
    libraries, over HTTP, with the sandboxes' own fault injection (see ``life.sandbox``)."""
    quiet_logs()
    tally = Tally()
    for seed in range(FIRST_SEED, FIRST_SEED + SANDBOX_LIVES):
        folder = tmp_path / f"sandbox-{seed}"
        folder.mkdir()
        with fresh_store("sqlite", folder) as url:
            result = sandbox_life(seed, url, rounds=6)
        tally.add(result)
        print(f"sandbox seed {seed}: {result.cycles} cycles, {result.seconds:.1f} s, "
              f"events {dict(result.steps)}, faults {dict(result.faults)}, "
              f"broke {sorted(result.broken()) or '-'}")  # fmt: skip
    report = tally.report()
    print(report)
    if tally.broken:
        pytest.fail(report, pytrace=False)
