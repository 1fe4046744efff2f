"""A generated lead history whose conversion drivers are known, written into a store.

Conversion is driven by the industry (Manufacturing) and by the "Demo request" form, a little
by the price sheet, and by nothing else: country, size, seniority, blog views, ebooks and
email opens are noise. The report should find exactly that, and ``tune`` should learn it.
Used by the tests and ``bench/tune.py``; rows are written the way the engine writes them
(people, a Salesforce lead record, activities, score history from the real model, hand-offs
with first touches, recycles).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from leadsync.model import Activity, ModelSpec, Person, score
from leadsync.records import RecordRef
from leadsync.store import Connection, Store
from leadsync.store.handoffs import insert_handoff, insert_recycle
from leadsync.store.past import PastLead, Scored, insert_lead, insert_score_change
from leadsync.store.scoring import StoredActivity

INDUSTRIES = ("Manufacturing", "Retail", "Software", "Healthcare")
COUNTRIES = ("United Kingdom", "France", "Germany", "United States")
TITLES = ("CEO", "VP Operations", "Plant Director", "Operations Manager", "Engineer", "Analyst")
SOURCES = ("Web", "Trade Show", "Purchased List", "Partner")
CAMPAIGNS = ("Spring Webinar", "Trade Fair 2024", "Newsletter")
RECYCLE_REASONS = ("Not ready", "No budget", "Unresponsive")
#: The true model: log-odds of converting.
BASE_LOGIT = -3.2
MANUFACTURING_LOGIT = 1.8
DEMO_LOGIT = 2.2
PRICE_LOGIT = 0.7


@dataclass(frozen=True, slots=True)
class GeneratedLead:
    email: str
    entered_at: datetime
    attributes: dict[str, Any]
    activities: tuple[Activity, ...]
    converted_at: datetime | None


def generate(n: int, seed: int, now: datetime, months: int = 15) -> list[GeneratedLead]:
    """``n`` leads entering over ``months`` months that ended 100 days before ``now``, so every
    lead's 90-day sales cycle is over; a purchased list brings mostly poor-fit leads."""
    rng = random.Random(seed)
    end = now - timedelta(days=100)
    span = months * 30.4 * 86_400
    out = []
    for i in range(n):
        entered = end - timedelta(seconds=rng.random() * span)
        source = rng.choice(SOURCES)
        manufacturing = rng.random() < (0.1 if source == "Purchased List" else 0.4)
        industry = "Manufacturing" if manufacturing else rng.choice(INDUSTRIES[1:])
        attributes = {
            "industry": industry if rng.random() > 0.05 else industry.upper(),
            "country": rng.choice(COUNTRIES),
            "employees": rng.choice((25, 120, 480, 900, 2500, 12000)),
            "title": rng.choice(TITLES),
            "lead_source": source,
        }
        acts: list[Activity] = []
        add = _Adder(acts, f"a{i}", entered)
        if rng.random() < 0.5:
            add("campaign_member", 0.0, name=rng.choice(CAMPAIGNS), campaign_type="Event")
        for _ in range(_poisson(rng, 3.0)):
            add("page_view", rng.uniform(0, 30), url="https://example.com/blog/post")
        for _ in range(_poisson(rng, 2.0)):
            add("email_open", rng.uniform(0, 30), name="Newsletter")
        if rng.random() < 0.3:
            add("ebook_download", rng.uniform(0, 30), name="Guide")
        demo = rng.random() < 0.25
        if demo:
            add("form_submission", rng.uniform(1, 25), name="Request a demo")
        price = rng.random() < 0.25
        if price:
            add("form_submission", rng.uniform(1, 25), name="Pricing sheet")
        logit = BASE_LOGIT + MANUFACTURING_LOGIT * manufacturing
        logit += DEMO_LOGIT * demo + PRICE_LOGIT * price
        converted = rng.random() < 1 / (1 + math.exp(-logit))
        converted_at = entered + timedelta(days=rng.uniform(31, 80)) if converted else None
        acts.sort(key=lambda a: a.occurred_at)
        out.append(
            GeneratedLead(f"lead{i}@example.com", entered, attributes, tuple(acts), converted_at)
        )
    return out


@dataclass(frozen=True, slots=True)
class _Adder:
    acts: list[Activity]
    prefix: str
    entered: datetime

    def __call__(self, kind: str, day: float, **fields: Any) -> None:
        at = self.entered + timedelta(days=day)
        ident = f"{self.prefix}-{len(self.acts)}"
        self.acts.append(Activity(id=ident, kind=kind, occurred_at=at, **fields))


def _poisson(rng: random.Random, mean: float) -> int:
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _sales(cell: str, spec: ModelSpec) -> bool:
    fit, readiness = cell.split("/", 1)
    return spec.team(fit, readiness) == "sales"


def write_history(store: Store, leads: list[GeneratedLead], spec: ModelSpec, seed: int) -> None:
    """Store ``leads`` as the engine would have: records, activities, the model's cell after
    every activity as score history, a hand-off on each move into a sales cell (with a first
    touch), and recycles of some handed-off leads that did not convert."""
    rng = random.Random(seed)
    with store.transaction() as conn:
        for pid, lead in enumerate(leads, start=1):
            acts = [_stored(a) for a in lead.activities]
            record = RecordRef("salesforce", "Lead", str(pid))
            insert_lead(
                conn,
                PastLead(pid, record, lead.email, lead.attributes, lead.entered_at,
                         lead.converted_at, acts),
            )  # fmt: skip
            _history(conn, pid, lead, spec, rng)


def _stored(activity: Activity) -> StoredActivity:
    return StoredActivity(
        uid=f"salesforce:Activity:{activity.id}",
        kind=activity.kind,
        occurred_at=activity.occurred_at,
        name=activity.name,
        campaign_type=activity.campaign_type,
        member_status=activity.member_status,
        url=activity.url,
        actor_id=None,
        early_s=activity.early_s,
        late_s=activity.late_s,
    )


def _history(
    conn: Connection, pid: int, lead: GeneratedLead, spec: ModelSpec, rng: random.Random
) -> None:
    person = Person(key=str(pid), attributes=lead.attributes, email=lead.email)
    moments = [lead.entered_at] + [a.occurred_at for a in lead.activities]
    old: Scored | None = None
    seq = 0
    for moment in moments:
        if lead.converted_at is not None and moment >= lead.converted_at:
            break
        seen = [a for a in lead.activities if a.occurred_at <= moment]
        result = score(person, seen, spec, moment)
        if old is not None and result.cell == old.cell:
            continue
        new = Scored(result.score, result.cell)
        insert_score_change(conn, pid, moment, old, new)
        if _sales(result.cell, spec) and (old is None or not _sales(old.cell, spec)):
            seq += 1
            _handoff(conn, pid, seq, result.cell, result.readiness, result.score, moment, lead, rng)
        old = new


def _handoff(
    conn: Connection,
    pid: int,
    seq: int,
    cell: str,
    readiness: str,
    points: int,
    at: datetime,
    lead: GeneratedLead,
    rng: random.Random,
) -> None:
    mean_hours = 2.0 if readiness == "hand_raiser" else 20.0
    touched = None if rng.random() < 0.1 else at + timedelta(hours=rng.expovariate(1 / mean_hours))
    uid = f"salesforce:Lead:{pid}"
    insert_handoff(
        conn,
        {"person_id": pid, "seq": seq, "record_uid": uid, "source": "salesforce",
         "state": "done", "trigger": "cell", "to_cell": cell, "readiness": readiness,
         "score": points, "reason": f"entered {cell}", "queued_at": at, "handed_off_at": at,
         "done_at": at, "touched_at": touched, "last_touch_at": touched},
    )  # fmt: skip
    if lead.converted_at is None and rng.random() < 0.4:
        recycled = at + timedelta(days=rng.uniform(10, 40))
        back = recycled + timedelta(days=20) if rng.random() < 0.3 else None
        insert_recycle(
            conn,
            {"person_id": pid, "seq": seq, "record_uid": uid, "source": "salesforce",
             "state": "done", "trigger": "status", "from_cell": cell,
             "reason": rng.choice(RECYCLE_REASONS), "recycled_at": recycled, "done_at": recycled,
             "requalified_at": back},
        )  # fmt: skip
