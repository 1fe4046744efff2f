"""``leadsync preview`` counts what ``rescore`` then does, and writes nothing (issue 23 #5).

Each case is a seeded random org (attributes, forms, page views, unsubscribes, opt-outs) scored
and acted on with one config; the preview of another config must give the matrix, the cell
moves and the hand-offs that the real rescore with it then gives, without changing a row.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import tomli_w
from typer.testing import CliRunner

from leadsync.cli.app import app
from leadsync.config import settings_from_dict
from leadsync.engine import preview as previewing
from leadsync.engine.preview import UNSCORED, PreviewCounts, preview
from leadsync.engine.preview_routing import route_previewed
from leadsync.engine.request import CycleRequest
from leadsync.store import Store
from leadsync.store.lookup import matrix_counts
from leadsync.store.schema import handoffs, scores
from leadsync.wiring import build_engine, preview_work
from tests.engine.memory_crm import MemoryConnector, MemoryCRM
from tests.engine.test_act import MONDAY_10, Clock
from tests.engine.test_act import config as act_config
from tests.store.test_privacy import dump

INDUSTRIES = ("Manufacturing", "Retail", "Software", None, "Industrial Machinery")
COUNTRIES = ("United Kingdom", "France", "UK", None)
FORMS = ("Contact Us", "Request a demo", "Price sheet", "Ebook: lean", "Newsletter")


def model(good_fit_min: int, demo_points: int) -> dict[str, Any]:
    return {
        "icp": {
            "good_fit_min": good_fit_min,
            "criteria": [
                {"name": "Industry", "attribute": "industry", "operator": "one_of",
                 "values": ["Manufacturing", "Industrial Machinery"]},
                {"name": "Size", "attribute": "employees", "operator": "at_least", "min": 200},
                {"name": "Europe", "attribute": "country", "operator": "one_of",
                 "values": ["United Kingdom", "France"]},
            ],
        },
        "engagement": {
            "rules": [
                {"name": "Contact Us", "kind": "form_submission", "points": 100,
                 "interest": "hand_raiser", "name_pattern": "contact"},
                {"name": "Demo request", "kind": "form_submission", "points": demo_points,
                 "interest": "active", "name_pattern": "demo"},
                {"name": "Price sheet", "kind": "form_submission", "points": 40,
                 "interest": "active", "name_pattern": "pric"},
                {"name": "Blog view", "kind": "page_view", "points": 5,
                 "interest": "passive", "url_pattern": "/blog", "cap": 5},
                {"name": "Unsubscribe", "kind": "unsubscribe", "points": -25,
                 "interest": "not_interested"},
            ],
        },
    }  # fmt: skip


def settings(good_fit_min: int, demo_points: int) -> Any:
    # No [connectors] here (the tests hand the engine its connector): name the CRM sales
    # works in, as a config with connectors does by their order.
    data = {**act_config(), **model(good_fit_min, demo_points)}
    return settings_from_dict({**data, "identity": {"sales_crm": "salesforce"}}, "test")


def org(seed: int, people: int = 60, start: datetime | None = None) -> MemoryCRM:
    rng = random.Random(seed)
    crm = MemoryCRM()
    if start is not None:
        crm.set_clock(start)
    for rep in ("rep-a", "rep-b", "rep-c"):
        crm.add_user(rep, rep.upper())
    n = 0
    for i in range(people):
        attrs = {
            "industry": rng.choice(INDUSTRIES),
            "employees": rng.choice((50, 150, 250, 900, "1,200", None)),
            "country": rng.choice(COUNTRIES),
        }
        crm.add_person(f"L{i}", f"p{i}@firm{i}.com", **{k: v for k, v in attrs.items() if v})
        if rng.random() < 0.1:
            crm.touch(f"L{i}", opted_out=True)
        for _ in range(rng.randrange(4)):
            n += 1
            kind = rng.choice(("form_submission", "page_view", "page_view", "unsubscribe"))
            if kind == "form_submission":
                crm.add_activity(f"A{n}", f"L{i}", kind, rng.choice(FORMS))
            elif kind == "page_view":
                crm.add_activity(f"A{n}", f"L{i}", kind, url="https://x.io/blog/a")
            else:
                crm.add_activity(f"A{n}", f"L{i}", kind)
    return crm


@pytest.fixture
def store(migrated_store_url: str) -> Iterator[Store]:
    s = Store(migrated_store_url)
    yield s
    s.close()


def cells(store: Store) -> dict[int, str]:
    with store.reading() as conn:
        return dict(conn.execute(sa.select(scores.c.person_id, scores.c.cell)).all())


@pytest.mark.parametrize(
    ("seed", "first", "then", "hands_off"),
    [
        (1, (2, 75), (1, 75), False),
        (2, (2, 20), (2, 120), True),
        (3, (3, 75), (1, 100), True),
        (4, (1, 75), (3, 10), False),
    ],
)
def test_a_preview_counts_what_the_rescore_then_does_and_writes_nothing(
    store: Store, seed: int, first: tuple[int, int], then: tuple[int, int], hands_off: bool
) -> None:
    crm = org(seed, start=MONDAY_10 - timedelta(days=1))
    clock = Clock()
    connectors = {"salesforce": MemoryConnector(crm, "salesforce")}
    assert build_engine(settings(*first), store, connectors, clock=clock).run().status == "ok"
    clock.now = MONDAY_10.replace(hour=11)
    candidate = settings(*then)
    stored = dump(store)
    was = cells(store)

    work = preview_work(candidate, clock.now)
    counts = preview(work, store, workers=1)
    assert work.acting is not None
    routed = route_previewed(counts.would, work.acting, store, clock.now, timedelta(minutes=5))

    assert dump(store) == stored  # nothing written
    report = build_engine(candidate, store, connectors, clock=clock).run(
        CycleRequest(rescore=True, adopt_model=True)
    )
    assert report.status == "ok"
    now = cells(store)
    assert counts.people == len(now)
    assert counts.before == Counter(was.get(p, UNSCORED) for p in now)
    with store.reading() as conn:
        assert dict(counts.after) == matrix_counts(conn)
    assert counts.moves == Counter(
        (was.get(p, UNSCORED), now[p]) for p in now if was.get(p) != now[p]
    )
    assert sum(counts.handoffs.values()) == report.actions["handoffs_queued"]
    assert bool(report.actions["handoffs_queued"]) is hands_off
    assert counts.held == report.actions["handoffs_held"]
    # Under the cap all go in the rescore's cycle, routed in the same order to the same reps
    # (SLA escalations of earlier hand-offs come from time passing, not from the model).
    caused = handoffs.c.trigger.in_(["first_scoring", "entered_sales"])
    with store.reading() as conn:
        query = sa.select(handoffs.c.owner_id).where(handoffs.c.queued_at == clock.now, caused)
        got = Counter(conn.execute(query).scalars())
    assert sum(routed.values(), Counter()) == got


def test_workers_count_what_one_process_counts(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    crm = org(5, people=40)
    connectors = {"salesforce": MemoryConnector(crm, "salesforce")}
    clock = Clock()
    build_engine(settings(2, 75), store, connectors, clock=clock).run()
    work = preview_work(settings(1, 90), clock.now)
    here = preview(work, store, workers=1)
    monkeypatch.setattr(previewing, "WORKERS_FROM", 1)
    monkeypatch.setattr(previewing, "SLICE", 7)
    spread = preview(work, store, workers=2)
    assert spread == here
    assert spread.people == 40 and sum(spread.after.values()) == 40


def test_an_empty_store_previews_nobody_and_says_what_to_run(store: Store, tmp_path: Path) -> None:
    from leadsync.cli import preview_cmds  # noqa: F401  (registers the command)

    assert preview(preview_work(settings(2, 75), MONDAY_10), store, workers=2) == PreviewCounts()
    path = tmp_path / "leadsync.toml"
    path.write_text(tomli_w.dumps({"store": {"url": store.url}}), encoding="utf-8")
    path.chmod(0o600)
    shown = CliRunner().invoke(app, ["--config", str(path), "preview"])
    assert shown.exit_code == 0, shown.output
    assert "nobody to preview yet: run `leadsync backfill`" in shown.output


def test_the_command_shows_the_matrix_moves_and_hand_offs(store: Store, tmp_path: Path) -> None:
    from leadsync.cli import preview_cmds  # noqa: F401  (registers the command)

    # The command previews as of now: the org's activities are a day old then.
    clock = Clock()
    clock.now = datetime.now(UTC)
    crm = org(6, start=clock.now - timedelta(days=1))
    connectors = {"salesforce": MemoryConnector(crm, "salesforce")}
    build_engine(settings(3, 75), store, connectors, clock=clock).run()
    expected = preview(preview_work(settings(1, 75), clock.now), store, workers=1)
    path = tmp_path / "candidate.toml"
    data = {**act_config(), **model(1, 75), "store": {"url": store.url},
            "identity": {"sales_crm": "salesforce"}}  # fmt: skip
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    path.chmod(0o600)
    before = dump(store)

    shown = CliRunner().invoke(app, ["--config", str(path), "preview"], terminal_width=120)
    as_json = CliRunner().invoke(app, ["--config", str(path), "preview", "--json"])

    assert shown.exit_code == 0, shown.output
    assert as_json.exit_code == 0, as_json.output
    assert dump(store) == before
    document = json.loads(as_json.output)
    assert document["people"] == expected.people == 60
    assert {c: v["preview"] for c, v in document["matrix"].items() if v["preview"]} == dict(
        expected.after
    )
    total = sum(expected.handoffs.values())
    assert total and document["handoffs"]["total"] == total
    assert document["handoffs"]["per_day"] == [total]  # under 500 a cycle: all on day 1
    reps = document["handoffs"]["per_rep"]
    assert sum(r["total"] for r in reps.values()) == total and set(reps) <= {
        "rep-a",
        "rep-b",
        "rep-c",
        "00G-sales",
    }
    assert "Hand-offs per rep" in shown.output
    assert f"Hand-offs it would cause: {total:,}" in shown.output
    biggest = expected.moves.most_common(1)[0]
    assert re.search(rf"{re.escape(biggest[0][0])}\s.*{re.escape(biggest[0][1])}\s.*{biggest[1]}",
                     shown.output)  # fmt: skip
    assert "nothing written, no CRM called" in " ".join(shown.output.split())


def test_hand_offs_over_the_cap_spread_over_cycles_hand_raisers_first(store: Store) -> None:
    from dataclasses import replace

    from leadsync.engine.preview_routing import WouldHandOff
    from leadsync.handoff import person_facts

    work = preview_work(settings(2, 75), MONDAY_10)
    assert work.acting is not None
    acting = replace(work.acting, handoffs_per_cycle=2)
    uk, fr = person_facts({"country": "UK"}), person_facts({"country": "France"})
    would = [
        WouldHandOff(1, "sales_ready", 90, "salesforce", "a@x.io", uk),
        WouldHandOff(2, "sales_ready", 120, "salesforce", "b@x.io", uk),
        WouldHandOff(3, "hand_raiser", 100, "salesforce", "c@x.io", fr),
        WouldHandOff(4, "sales_ready", 95, "salesforce", "d@x.io", fr),
        WouldHandOff(5, "hand_raiser", 100, "salesforce", "e@x.io", uk),
    ]
    # Cycles at 10:00 and 22:00 on day 1, 10:00 on day 2: two, two, then one.
    routed = route_previewed(would, acting, store, MONDAY_10, timedelta(hours=12))
    assert {day: sum(c.values()) for day, c in routed.items()} == {0: 4, 1: 1}
    # Hand-raisers (France's rep-c, then the UK pool) first; the lowest sales-ready score last.
    assert routed[1] == Counter({"rep-a": 1}) or routed[1] == Counter({"rep-b": 1})
    assert routed[0]["rep-c"] == 2
