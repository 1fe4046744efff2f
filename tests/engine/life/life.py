"""Living a life, and shrinking one that broke an invariant to the fewest steps that still do.

``live`` plays a plan's steps, checks every cycle, and (unless told not to) lets the faults
stop and checks that everything converges. ``shrink`` is delta debugging over the steps:
drop chunks of decreasing size while the life still breaks the same invariant.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import structlog

from tests.engine.life.convergence import converge
from tests.engine.life.invariants import Violation, check_cycle
from tests.engine.life.steps import LifePlan, Step
from tests.engine.life.world import World


@dataclass
class LifeResult:
    plan: LifePlan
    steps: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    cycles: int = 0
    violations: list[Violation] = field(default_factory=list)
    seconds: float = 0.0

    def broken(self) -> set[str]:
        return {v.invariant for v in self.violations}


def quiet_logs() -> None:
    """A life logs thousands of events; the invariants, not the logs, say what went wrong."""
    # No processors: a crashed cycle's traceback is not even rendered (rich takes seconds).
    structlog.configure(processors=[], logger_factory=structlog.ReturnLoggerFactory())


def live(plan: LifePlan, store_url: str, *, settle: bool = True) -> LifeResult:
    """Play ``plan`` over an empty store at ``store_url``; collect every violation."""
    began = time.monotonic()
    result = LifeResult(plan)
    world = World(store_url, plan.cap)
    try:
        for step in plan.steps:
            try:
                world.apply(step)
            except Exception as exc:  # e.g. ``forget`` failing: an engine defect, recorded
                result.violations.append(
                    Violation("step_raised", world.cycles, f"{step!r}: {type(exc).__name__}: {exc}")
                )
                continue
            if step.kind == "cycle":
                result.violations.extend(check_cycle(world, world.last))
        if settle:
            result.violations.extend(converge(world))
    finally:
        world.close()
        result.steps, result.faults, result.cycles = world.steps, world.faults, world.cycles
        result.seconds = time.monotonic() - began
    return result


@contextmanager
def scratch_sqlite() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="leadsync-life-") as folder:
        yield f"sqlite:///{Path(folder) / 'life.db'}"


def breaks(plan: LifePlan, invariant: str, *, settle: bool = True) -> bool:
    with scratch_sqlite() as url:
        return invariant in live(plan, url, settle=settle).broken()


def shrink(
    plan: LifePlan,
    invariant: str,
    *,
    deadline: float | None = None,
    still_breaks: Callable[[LifePlan], bool] | None = None,
) -> LifePlan:
    """The smallest sub-life found (by ``deadline``, a ``time.monotonic()`` value) that still
    breaks ``invariant``; without the settling phase when the life breaks it without one."""
    settle = not breaks(plan, invariant, settle=False)
    test = still_breaks or (lambda p: breaks(p, invariant, settle=settle))
    steps = list(plan.steps)
    chunk = max(1, len(steps) // 2)
    while chunk >= 1:
        if deadline is not None and time.monotonic() > deadline:
            break
        start, removed = 0, False
        while start < len(steps):
            candidate = steps[:start] + steps[start + chunk :]
            if candidate and test(replace(plan, steps=tuple(candidate))):
                steps, removed = candidate, True
            else:
                start += chunk
            if deadline is not None and time.monotonic() > deadline:
                break
        if not removed:
            chunk //= 2
    return replace(plan, steps=tuple(steps))


@dataclass
class Tally:
    """Many lives summed up: what they did, what went off, and what broke (and where first)."""

    lives: int = 0
    cycles: int = 0
    seconds: float = 0.0
    steps: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    #: invariant -> violations, and lives with at least one
    broken: Counter[str] = field(default_factory=Counter)
    broken_lives: Counter[str] = field(default_factory=Counter)
    #: invariant -> (seed, first violation) of the first life that broke it
    first: dict[str, tuple[int, Violation]] = field(default_factory=dict)
    #: invariant -> violations next to a known defect's trigger (see ``invariants.context``)
    beside: dict[str, Counter[str]] = field(default_factory=dict)

    def add(self, result: LifeResult) -> None:
        self.lives += 1
        self.cycles += result.cycles
        self.seconds += result.seconds
        self.steps.update(result.steps)
        self.faults.update(result.faults)
        for violation in result.violations:
            self.broken[violation.invariant] += 1
            notes = self.beside.setdefault(violation.invariant, Counter())
            for trigger in ("forgotten before", "pull failed"):
                if f"{trigger}" in violation.detail:
                    notes[trigger] += 1
            self.first.setdefault(violation.invariant, (result.plan.seed, violation))
        self.broken_lives.update(result.broken())

    def report(self) -> str:
        fired = Counter({k: n for k, n in self.faults.items() if not k.startswith("unmet ")})
        by_kind = Counter[str]()
        for key, n in fired.items():
            by_kind[key.split(":")[1]] += n
        lines = [
            f"{self.lives} lives, {self.cycles} cycles, {self.seconds:.1f} s",
            "events: " + ", ".join(f"{k} {n}" for k, n in sorted(self.steps.items())),
            f"faults that went off ({sum(fired.values())}): "
            + ", ".join(f"{k} {n}" for k, n in sorted(by_kind.items())),
            "  by call: " + ", ".join(f"{k} {n}" for k, n in sorted(fired.items())),
        ]
        if not self.broken:
            lines.append("no invariant broken")
        for name, n in sorted(self.broken.items()):
            seed, example = self.first[name]
            beside = ", ".join(f"{k}: {v}" for k, v in sorted(self.beside[name].items()))
            lines.append(
                f"BROKEN {name}: {n} times in {self.broken_lives[name]}/{self.lives} lives"
                + (f" ({beside})" if beside else "")
                + f"; first: seed {seed}, {example}"
            )
        return "\n".join(lines)


def as_code(plan: LifePlan) -> str:
    """The plan as Python to paste into a regression test."""
    lines = [f"LifePlan(seed={plan.seed}, cap={plan.cap}, steps=("]
    lines += [f"    {step!r}," for step in plan.steps]
    lines.append("))")
    return "\n".join(lines)


__all__ = ["LifePlan", "LifeResult", "Step", "Tally", "as_code", "breaks", "live", "shrink"]
