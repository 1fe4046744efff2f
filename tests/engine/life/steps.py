"""The steps of a life, and the seeded generator that writes them.

A step names people by slot (0..``PEOPLE``-1); a step about a slot that does not exist (yet,
or any more) does nothing, so every sub-list of a life is a life: what shrinking needs.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from tests.engine.memory_crm import FAULT_KINDS

SF, HS = "salesforce", "hubspot"
CONNECTORS = (SF, HS)
PEOPLE = 10

#: What a person is, by profile number: good fits, poor fits, and the in-between.
PROFILES: tuple[dict[str, object], ...] = (
    {"industry": "Manufacturing", "employees": 120, "country": "United Kingdom",
     "ownership": "Private", "title": "VP Operations", "company": "Acme Engineering"},
    {"industry": "Manufacturing", "employees": 400, "country": "France",
     "ownership": "Private", "title": "Plant Director", "company": "Usine SA"},
    {"industry": "Retail", "employees": 5000, "country": "Germany",
     "ownership": "Public", "title": "Analyst", "company": "Shop AG"},
    {"industry": "Industrial Machinery", "employees": 80, "country": "UK",
     "ownership": "Private", "title": "CEO", "company": "Globex"},
    {"industry": "Manufacturing", "employees": 2500, "country": "Spain",
     "ownership": "Public", "title": "Engineer", "company": "Iberia Metal"},
)  # fmt: skip

#: Values an edit may set, per attribute: readable ones, then unreadable ones.
VALUES: dict[str, tuple[object, ...]] = {
    "industry": ("Manufacturing", "Retail", "Mfg", 12345, ["Manufacturing"], ""),
    "employees": (50, 900, 20000, "1,200", "lots", True, "2026-13-45", 1e308, -3),
    "country": ("United Kingdom", "France", "Royaume-Uni", "Germany", 12345, None, "\x00UK"),
    "title": ("Director of Sales", "Intern", "CFO", "x" * 100_000, 3.14, {"a": 1}),
    "ownership": ("Private", "Public", False, "publicly traded?"),
    "company": ("Acme Engineering", "Nobody Ltd", 0, "é" * 300),
}

FORMS = ("Contact Us", "Demo request", "Price sheet", "Ebook download", "Newsletter")
EMAIL_EVENTS = ("email_open", "email_click", "unsubscribe")
STATUSES = ("Working", "Recycled", "Unqualified", "Open", "Qualified")
REJECTIONS = ("UNABLE_TO_LOCK_ROW", "FIELD_CUSTOM_VALIDATION_EXCEPTION")
CALLS = (
    "pull_people",
    "pull_activities",
    "read_people",
    "write",
    "reassign",
    "create_tasks",
    "enrol",
    "users",
)
CYCLES = (SF, HS, "all", "hook", "decay")
#: Minutes a ``wait`` lets pass: a moment, an hour, a day, a week, past the 30-day recycle.
WAITS = (5, 60, 24 * 60, 7 * 24 * 60, 31 * 24 * 60)


@dataclass(frozen=True, slots=True)
class Step:
    """One thing that happens. ``who``/``other`` are person slots, ``crm`` a connector (or
    ``both``), ``arg`` and ``n`` what the kind needs (see ``World.apply``)."""

    kind: str
    who: int = 0
    crm: str = ""
    arg: str = ""
    n: int = 0
    other: int = 0

    def __repr__(self) -> str:
        parts = [repr(self.kind)]
        for name in ("who", "crm", "arg", "n", "other"):
            value = getattr(self, name)
            if value not in (0, ""):
                parts.append(f"{name}={value!r}")
        return f"Step({', '.join(parts)})"


@dataclass(frozen=True, slots=True)
class LifePlan:
    """A life: its seed (for the record), the hand-off cap, and its steps."""

    seed: int
    cap: int
    steps: tuple[Step, ...]


def generate(seed: int, rounds: int = 14) -> LifePlan:
    """A life of ``rounds`` cycles, each after a few events and perhaps some faults."""
    rng = random.Random(seed)
    steps: list[Step] = []
    alive: list[int] = []
    for _ in range(rounds):
        for _ in range(rng.choice((1, 2, 2, 3, 4))):
            steps.append(_event(rng, alive))
        if rng.random() < 0.4:
            steps.append(_fault(rng))
        if rng.random() < 0.2:
            steps.append(Step("wait", n=rng.choices(WAITS, weights=(4, 3, 3, 2, 1))[0]))
        if rng.random() < 0.08:
            steps.append(Step("restart"))
        steps.append(Step("cycle", arg=rng.choices(CYCLES, weights=(7, 6, 4, 2, 1))[0]))
    return LifePlan(seed, rng.randint(1, 3), tuple(steps))


def _fault(rng: random.Random) -> Step:
    call = rng.choices(CALLS, weights=(4, 4, 1, 3, 2, 2, 1, 1))[0]
    kind = rng.choice(FAULT_KINDS)
    return Step(
        "fault", crm=rng.choice(CONNECTORS), arg=f"{call}:{kind}", n=rng.choice((0, 0, 1, 2))
    )


def _event(rng: random.Random, alive: list[int]) -> Step:
    """One CRM event, mostly about people who exist (so few steps are no-ops)."""
    if not alive or rng.random() < 0.16:
        who = rng.randrange(PEOPLE)
        if who not in alive:
            alive.append(who)
        crm = rng.choices((SF, HS, "both"), weights=(5, 2, 3))[0]
        return Step("create", who, crm, n=rng.randrange(len(PROFILES)))
    who = rng.choice(alive)
    crm = rng.choice(CONNECTORS)
    kind = rng.choices(
        ("form", "campaign", "email", "page", "opt_out", "status", "touch", "convert", "merge",
         "delete", "undelete", "forget", "edit", "reject", "unreject", "rep"),
        weights=(14, 4, 7, 3, 5, 6, 3, 3, 2, 3, 2, 2, 8, 4, 1, 1),
    )[0]  # fmt: skip
    if kind == "form":
        return Step(kind, who, crm, rng.choices(FORMS, weights=(4, 2, 3, 2, 2))[0])
    if kind == "email":
        return Step(kind, who, HS, rng.choices(EMAIL_EVENTS, weights=(4, 3, 2))[0])
    if kind == "opt_out":
        return Step(kind, who, crm, n=rng.choice((1, 1, 0)))
    if kind == "status":
        return Step(kind, who, SF, rng.choice(STATUSES))
    if kind == "merge":
        return Step(kind, who, crm, other=rng.choice(alive))
    if kind == "forget":
        return Step(kind, who, n=rng.choice((0, 1)))
    if kind == "edit":
        attribute = rng.choice(sorted(VALUES))
        n = rng.randrange(len(VALUES[attribute]))
        # A third of the edits land while a cycle runs (drawn without another random
        # number, so the lives of earlier seeds keep their shape).
        return Step("edit_during" if (who + n) % 3 == 0 else kind, who, crm, attribute, n)
    if kind == "reject":
        return Step(kind, who, crm, rng.choice(REJECTIONS), rng.choice((0, 1, 2, 3)))
    if kind == "rep":
        return Step(kind, n=rng.randrange(3))
    return Step(kind, who, SF if kind in ("campaign", "touch", "convert") else crm)
