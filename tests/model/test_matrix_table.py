"""Hand-written persons covering every matrix cell and do-not-contact.

Expected scores are worked out by hand from the rules below, not computed by the code: with a
30-day half-life an activity 30 days old is worth half, 60 days a quarter; the window is 90
days; the default points are Contact Us 100, Demo 75, Price sheet 50, webinar registration 50,
ebook 10, blog view 5 (capped at 10), email open 0, unsubscribe -25; sales-ready at 100.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from leadsync.model import Activity, CriterionDef, Person, build_spec, score

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)

SPEC = build_spec(
    criteria=[
        CriterionDef("Manufacturing", "industry", "one_of", ("Manufacturing",), required=True),
        CriterionDef("Under 1,000 employees", "employees", "below", maximum=1000),
        CriterionDef("UK or France", "country", "one_of", ("United Kingdom", "France")),
        CriterionDef("Not publicly traded", "ownership", "one_of", ("Public",), negate=True),
    ],
    good_fit_min=3,
    half_life_days=30,
    window_days=90,
    sales_ready_threshold=100,
)

ICP = {"industry": "Manufacturing", "employees": 250, "country": "UK", "ownership": "Private"}


def act(n: int, kind: str, days: float, **fields: str) -> Activity:
    return Activity(f"act-{n}", kind, NOW - timedelta(days=days), **fields)


def contact(n: int, days: float) -> Activity:
    return act(n, "form_submission", days, name="Contact Us")


def demo(n: int, days: float) -> Activity:
    return act(n, "form_submission", days, name="Request a Demo")


def price(n: int, days: float) -> Activity:
    return act(n, "form_submission", days, name="Price sheet download")


def webinar(n: int, days: float) -> Activity:
    return act(n, "webinar_registered", days, name="Product webinar")


def blog(n: int, days: float) -> Activity:
    return act(n, "page_view", days, url=f"https://example.com/blog/post-{n}")


CASES = [
    # name, person, activities, expected score, expected cell, expected team
    ("good hand-raiser", Person("p1", ICP), [contact(1, 0)], 100, "good/hand_raiser", "sales"),
    (
        "good sales-ready, half-up rounding: 50 + 50 + 2.5",
        Person("p2", {**ICP, "employees": "1,200"}),
        [price(1, 0), webinar(2, 0), blog(3, 30)],
        103,
        "good/sales_ready",
        "sales",
    ),
    (
        "good unready: ebook 10, email open 0",
        Person("p3", {**ICP, "country": "France", "employees": "500"}),
        [act(1, "ebook_download", 0), act(2, "email_open", 0)],
        10,
        "good/unready",
        "marketing",
    ),
    (
        "poor hand-raiser: demo 30 days old is 37.5",
        Person("p4", {"industry": "Retail", "employees": 50, "country": "US",
                      "ownership": "Public"}),
        [demo(1, 30)],
        38,
        "poor/hand_raiser",
        "sales",
    ),
    (
        "poor sales-ready: required industry missing; contact 100 days old is out of window",
        Person("p5", {"employees": 10, "country": "France", "ownership": "Private"}),
        [contact(1, 100), price(2, 0), price(3, 0), webinar(4, 30)],
        125,
        "poor/sales_ready",
        "marketing",
    ),
    (
        "poor unready: only the industry box",
        Person("p6", {"industry": "Manufacturing", "employees": 5000, "country": "Germany",
                      "ownership": "Public"}),
        [],
        0,
        "poor/unready",
        "marketing",
    ),
    (
        "CRM opt-out flag with no dated unsubscribe: do not contact",
        Person("p7", ICP, opted_out=True),
        [price(1, 0), demo(2, 0)],
        125,
        "good/do_not_contact",
        "marketing",
    ),
    (
        "unsubscribe after a hand-raise: do not contact; 50 - 25",
        Person("p8", {"industry": "Manufacturing", "ownership": "Private"}),
        [contact(1, 30), act(2, "unsubscribe", 0)],
        25,
        "poor/do_not_contact",
        "marketing",
    ),
    (
        "hand-raise after an unsubscribe wins: 100 - 6.25",
        Person("p9", ICP, opted_out=True),
        [act(1, "unsubscribe", 60), contact(2, 0)],
        94,
        "good/hand_raiser",
        "sales",
    ),
    (
        "recycled 10 days ago: the older Contact Us no longer counts",
        Person("p10", ICP, recycled_at=NOW - timedelta(days=10)),
        [contact(1, 20), blog(2, 0)],
        5,
        "good/unready",
        "marketing",
    ),
    (
        "dirty data: unreadable employees, alias u.k., numeric ownership; blog capped at 10",
        Person("p11", {"industry": " MANUFACTURING ", "employees": "approx lots",
                       "country": "u.k.", "ownership": 42}),
        [blog(n, 0) for n in range(12)],
        50,
        "good/unready",
        "marketing",
    ),
    (
        "poor hand-raiser: a 60-day-old demo is in the window; 18.75 + 25 + 50 + 10",
        Person("p12", {"industry": "Manufacturing", "ownership": "Private"}),
        [demo(1, 60), price(2, 30), webinar(3, 0), act(4, "ebook_download", 0)],
        104,
        "poor/hand_raiser",
        "sales",
    ),
    (
        "good unready just under threshold: 25 + 2.5 = 27.5 rounds half up",
        Person("p13", ICP),
        [webinar(1, 30), blog(2, 30)],
        28,
        "good/unready",
        "marketing",
    ),
    (
        "duplicate activity ids count once: 50, not 100",
        Person("p14", ICP),
        [price(1, 0), price(1, 0)],
        50,
        "good/unready",
        "marketing",
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("person", "activities", "expected_score", "cell", "team"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_hand_written_person(
    person: Person, activities: list[Activity], expected_score: int, cell: str, team: str
) -> None:
    result = score(person, activities, SPEC, NOW)
    assert (result.score, result.cell, result.team) == (expected_score, cell, team)
    assert result.explain()
    assert len(str(result.outputs(NOW)["reason"])) <= 255


def test_table_covers_every_cell() -> None:
    cells = {case[4] for case in CASES}
    for fit in ("good", "poor"):
        for readiness in ("hand_raiser", "sales_ready", "unready"):
            assert f"{fit}/{readiness}" in cells
    assert any(cell.endswith("do_not_contact") for cell in cells)
