"""Speed-to-lead under chaos: hand-raisers chosen when they submit, tasks matched by person.

The earlier soak picked its 20 leads before the run and watched the Salesforce ids known then.
Over minutes of traffic a picked lead could be converted by sales (its hand-off then lands on
the conversion's new Contact, an id nobody watched) or become a hand-raiser or sales lead on
its own (a Contact Us now is no new hand-off). So here each lead is chosen at the moment of
its submission among leads eligible then, a task counts when its WhoId is any Salesforce
record with the person's email, and every submission without a task is explained from the
org's state and the store's hand-off and action rows.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from bench.speed_to_lead import WATCH_EVERY_S, Sample
from leadsync.sandboxes import Sandboxes


def ineligible(row: Mapping[str, Any] | None) -> str | None:
    """Why a Contact Us from this lead would start no new hand-off on it; None if it would."""
    if row is None or not row.get("Email"):
        return "no lead or no email"
    if row.get("IsConverted"):
        return "converted by sales"
    if row.get("HasOptedOutOfEmail"):
        return "opted out"
    if row.get("Legal_Hold__c"):
        return "legal hold"
    if row.get("LeadSync_Readiness__c") in (None, "Hand-raiser"):
        return "not scored or already a hand-raiser"
    if str(row.get("LeadSync_Team__c") or "").lower() == "sales":
        return "already in sales"
    return None


def pick_now(world: Sandboxes, source: str, used: set[str], rng: random.Random) -> Sample | None:
    """A lead that a Contact Us turns into a new hand-off right now, or None."""
    org, portal = world.salesforce.org, world.hubspot.portal
    pool = []
    for row in org.records("Lead"):
        email = str(row.get("Email") or "").lower()
        if not email or email in used or ineligible(row) is not None:
            continue
        if source == "hubspot" and portal.find_unique("contacts", "email", email) is None:
            continue
        pool.append(row)
    if not pool:
        return None
    row = rng.choice(sorted(pool, key=lambda r: r["Id"]))
    used.add(str(row["Email"]).lower())
    return Sample(source, row["Email"], row["Id"], frozenset({row["Id"]}))


class PersonTaskWatcher:
    """Every 50 ms: new LeadSync tasks whose WhoId has a submitted person's email."""

    def __init__(self, world: Sandboxes) -> None:
        self.org = world.salesforce.org
        self.samples: dict[str, Sample] = {}
        self.seen = len(self.org.rows("Task"))
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, name="soak-task-watcher", daemon=True)

    def watch(self, sample: Sample) -> None:
        with self.lock:
            self.samples[sample.email.lower()] = sample

    def run(self) -> None:
        while not self.stop.wait(WATCH_EVERY_S):
            rows = self.org.rows("Task")
            now_mono, now_wall = time.monotonic(), time.time()
            for row in rows[self.seen :]:
                if not row.get("LeadSync_Key__c") or not row.get("WhoId"):
                    continue
                who = self.org.lookup(str(row["WhoId"])) or {}
                with self.lock:
                    sample = self.samples.get(str(who.get("Email") or "").lower())
                if sample is None or sample.task_mono is not None or not sample.submitted_mono:
                    continue
                sample.task_mono, sample.task_wall = now_mono, now_wall
            self.seen = len(rows)


def explain_missing(
    world: Sandboxes, samples: list[Sample], store_url: str
) -> list[dict[str, Any]]:
    """For each submission without a task: the lead now, and what the store did about it."""
    org = world.salesforce.org
    missing = [s for s in samples if s.task_mono is None]
    if not missing:
        return []
    engine = sa.create_engine(store_url)
    out = []
    try:
        with engine.connect() as conn:
            for sample in missing:
                lead = org.raw("Lead", sample.lead_id) or {}
                handoffs = [
                    dict(r._mapping)
                    for r in conn.execute(
                        sa.text(
                            "SELECT h.id, h.state, h.queued_at, h.note FROM handoffs h "
                            "JOIN people p ON p.id = h.person_id WHERE p.email_norm = :e "
                            "ORDER BY h.id"
                        ),
                        {"e": sample.email.lower()},
                    )
                ]
                actions = [
                    dict(r._mapping)
                    for r in conn.execute(
                        sa.text(
                            "SELECT key, kind, state, attempts, error_code, error_message "
                            "FROM actions WHERE handoff_id = ANY(:ids) ORDER BY id"
                        ),
                        {"ids": [h["id"] for h in handoffs]},
                    )
                ]
                out.append(
                    {
                        "source": sample.source,
                        "lead": sample.lead_id,
                        "submitted_wall": round(sample.submitted_wall, 1),
                        "lead_now": {
                            k: lead.get(k)
                            for k in (
                                "IsConverted",
                                "ConvertedDate",
                                "ConvertedContactId",
                                "Status",
                                "LeadSync_Team__c",
                                "LeadSync_Readiness__c",
                                "LeadSync_Scored_At__c",
                            )
                        },
                        "handoffs": handoffs,
                        "actions": actions,
                    }
                )
    finally:
        engine.dispose()
    return out
