"""Benchmark: API calls and wall time of a write-back cycle against the Salesforce sandbox.

A cycle changes N of ``--leads`` leads (default N = 1, 1,000, 100,000 of 100,000). For each N
it reports the calls the connector made against the minimum possible (``ceil(N/200)``
Collections calls, or the calls of one Bulk 2.0 ingest job above ``bulk_write_threshold``),
the wall time, and a naive script that calls ``sf.Lead.update`` once per record (run for at
most ``--naive-max`` records and extrapolated linearly beyond). It also measures an idle
cycle (nothing changed: at most one call per pulled object type) and a full pull.

Then a cycle with hand-offs through the whole engine, on its own org of ``--handoff-leads``
leads: a new engagement half-life re-scores Leads and Contacts, ``--handoffs`` Contact Us
forms hand leads to reps. It reports the calls that change the org against the minimum:
ceil(records / 200) (field writes and owner changes, any object) + ceil((tasks + campaign
memberships) / 200) (the cycle's hand-off tasks and recycles, inserted together).

    python bench/salesforce.py                      # the full run (several minutes)
    python bench/salesforce.py --leads 5000 --sizes 1,1000,5000 --naive-max 200
    python bench/salesforce.py --only-handoffs      # just the hand-off cycle
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from simple_salesforce import Salesforce

from connectors.salesforce.connector import SalesforceConnector
from connectors.salesforce.mapping import load_mapping
from connectors.salesforce.settings import SalesforceSettings
from leadsync.config import settings_from_dict
from leadsync.engine.request import CycleRequest
from leadsync.errors import FatalSyncError
from leadsync.records import RecordRef, RecordUpdate
from leadsync.store import Store
from leadsync.wiring import build_connectors, build_engine
from sandboxes.salesforce import SalesforceSandbox, generate_org

#: create job, upload data, close (UploadComplete), one status poll. When the status counters
#: show every record processed and none failed, the result files carry no information.
BULK_JOB_MIN_CALLS = 4


@dataclass(frozen=True)
class Row:
    n: int
    api: str
    calls: int
    minimum: int
    seconds: float
    naive_calls: int
    naive_seconds: float
    naive_measured: int


def _settings(sb: SalesforceSandbox, threshold: int) -> SalesforceSettings:
    return SalesforceSettings(
        login_url=sb.url,
        auth="client_credentials",
        client_id=sb.client_id,
        client_secret=sb.client_secret,
        ca_bundle=sb.ca_file,
        bulk_write_threshold=threshold,
        api_reserve=0,
    )


def _write_calls(by_endpoint: Mapping[str, int]) -> int:
    return sum(n for name, n in by_endpoint.items() if "oauth2" not in name)


def _diff(after: Mapping[str, int], before: Mapping[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


def run_cycle(sb: SalesforceSandbox, lead_ids: list[str], n: int, threshold: int) -> Row:
    conn = SalesforceConnector("salesforce", _settings(sb, threshold), load_mapping())
    try:
        conn.users()  # log in outside the measured window
        before = dict(conn.usage().calls_by_endpoint)
        updates = [
            RecordUpdate(RecordRef("salesforce", "Lead", lid), {"score": 40 + n % 7, "fit": "good"})
            for lid in lead_ids[:n]
        ]
        start = time.perf_counter()
        outcomes = conn.write(updates)
        seconds = time.perf_counter() - start
        failed = [o for o in outcomes if not o.ok]
        if failed:
            raise SystemExit(f"{len(failed)} writes failed, first: {failed[0].error}")
        calls = _write_calls(_diff(conn.usage().calls_by_endpoint, before))
    finally:
        conn.close()
    # Converted and legal-hold leads are left out, so an org may have fewer than n to change.
    n = len(updates)
    bulk = n > threshold
    minimum = BULK_JOB_MIN_CALLS if bulk else math.ceil(n / 200)
    return Row(n, "bulk" if bulk else "collections", calls, minimum, seconds, 0, 0.0, 0)


def naive(sb: SalesforceSandbox, lead_ids: list[str], n: int, naive_max: int) -> tuple[float, int]:
    """Seconds for ``n`` per-record ``sf.Lead.update`` calls (measured up to ``naive_max``)."""
    session = requests.Session()
    session.verify = sb.ca_file
    session.trust_env = False  # else REQUESTS_CA_BUNDLE overrides verify
    sf = Salesforce(instance_url=sb.url, session_id=sb.access_token(), session=session)
    measured = min(n, naive_max)
    start = time.perf_counter()
    for lid in lead_ids[:measured]:
        sf.Lead.update(lid, {"LeadSync_Score__c": 12}, headers={"Sforce-Auto-Assign": "FALSE"})
    elapsed = time.perf_counter() - start
    session.close()
    return elapsed * n / measured, measured


def idle_and_full(sb: SalesforceSandbox) -> tuple[dict[str, int], int, dict[str, int], float]:
    conn = SalesforceConnector("salesforce", _settings(sb, 10_000), load_mapping())
    try:
        conn.users()
        before = dict(conn.usage().calls_by_endpoint)
        since = datetime.now(UTC) + timedelta(seconds=1)
        list(conn.pull_people(since))
        try:
            list(conn.pull_activities(since))
        except FatalSyncError as exc:
            # Reported sandbox gap (Task.CompletedDateTime); the people half is still measured.
            print(f"activities idle pull failed: {str(exc).splitlines()[0]}")
        idle = _diff(conn.usage().calls_by_endpoint, before)
        before = dict(conn.usage().calls_by_endpoint)
        start = time.perf_counter()
        people = sum(1 for _ in conn.pull_people(None))
        full_seconds = time.perf_counter() - start
        full = _diff(conn.usage().calls_by_endpoint, before)
    finally:
        conn.close()
    return idle, people, full, full_seconds


@dataclass
class HandoffCycle:
    """What one engine cycle with hand-offs handed the connector, and the calls it made."""

    records: set[tuple[str, str]]
    owner_changes: int = 0
    tasks: int = 0
    enrolments: int = 0
    calls: int = 0
    seconds: float = 0.0

    @property
    def minimum(self) -> int:
        inserts = self.tasks + self.enrolments  # Tasks and CampaignMembers share calls
        return math.ceil(len(self.records) / 200) + math.ceil(inserts / 200)


def _engine_settings(sb: SalesforceSandbox, db: Path, extra: Mapping[str, Any]) -> Any:
    org = sb.org
    reps = sorted(
        u["Id"]
        for u in org.records("User")
        if u.get("IsActive") and u.get("Title") == "Account Executive"
    )
    data: dict[str, Any] = {
        "store": {"url": f"sqlite:///{db}"},
        "connectors": {
            "salesforce": {
                "instance_url": sb.url,
                "login_url": sb.url,
                "auth": "client_credentials",
                "client_id": sb.client_id,
                "client_secret": sb.client_secret,
                "ca_bundle": str(sb.ca_file),
            }
        },
        "identity": {"sales_crm": "salesforce"},
        "handoff": {
            "enabled": True,
            "owner_status": "Working - Contacted",
            "keep_active_owner": False,
            "match_accounts": False,
            "pools": [{"name": "AEs", "members": reps}],
            "fallback_owner": org.assignment_queue_id,
        },
        "recycle": {
            "statuses": ["Recycled"],
            "nurture_owner": org.nurture_queue_id,
            "nurture_status": "Nurture",
            "nurture_campaign": org.nurture_campaign_id,
        },
        **extra,
    }
    return settings_from_dict(data, "bench")


def _tally(connector: Any, seen: HandoffCycle) -> None:
    """Count what the connector is handed: records (by any write call), tasks, enrolments."""
    write_pages, reassign = connector.write_pages, connector.reassign
    inserts = connector.enrol_and_create_tasks

    def pages(stream: Any) -> Iterator[list[Any]]:
        for page in stream:
            for update in page:
                seen.records.add((update.ref.object_type, update.ref.external_id))
                seen.owner_changes += getattr(update, "owner", None) is not None
            yield page

    def owners(changes: Sequence[Any]) -> Any:
        seen.records.update((c.ref.object_type, c.ref.external_id) for c in changes)
        seen.owner_changes += len(changes)
        return reassign(changes)

    def tasks_and_members(enrolments: Sequence[Any], tasks: Sequence[Any]) -> Any:
        seen.enrolments += len(enrolments)
        seen.tasks += len(tasks)
        return inserts(enrolments, tasks)

    connector.write_pages = lambda stream: write_pages(pages(stream))
    connector.reassign, connector.enrol_and_create_tasks = owners, tasks_and_members


def handoff_cycle(leads: int, handoffs: int, seed: int) -> HandoffCycle:
    """A cycle that re-scores Leads and Contacts and hands ``handoffs`` leads to reps."""
    with SalesforceSandbox(generate_org(leads=leads, seed=seed), port=0) as sb:
        db = Path(tempfile.mkdtemp()) / "state.db"
        settings = _engine_settings(sb, db, {})
        store = Store(settings.store.url)
        build_engine(settings, store, build_connectors(settings)).run(
            CycleRequest(full=True, no_actions=True)
        )
        store.close()
        settings = _engine_settings(sb, db, {"engagement": {"half_life_days": 90}})
        store = Store(settings.store.url)
        engine = build_engine(settings, store, build_connectors(settings))
        marketing = [
            r
            for r in sb.org.records("Lead")
            if r.get("Email")
            and not r.get("IsConverted")
            and not r.get("Legal_Hold__c")
            and r.get("LeadSync_Team__c") == "Marketing"
            and r.get("Status") not in ("Recycled", "Nurture")
        ]
        for lead in marketing[:handoffs]:
            sb.org.insert(
                "Form_Submission__c",
                {
                    "Lead__c": lead["Id"],
                    "Email__c": lead["Email"],
                    "Form_Name__c": "Contact Us",
                    "Submitted_At__c": datetime.now(UTC),
                },
            )
        connector: Any = engine.connectors["salesforce"]
        seen = HandoffCycle(set())
        _tally(connector, seen)
        connector.users()
        before = dict(connector.usage().calls_by_endpoint)
        start = time.perf_counter()
        report = engine.run(CycleRequest(adopt_model=True))
        seen.seconds = time.perf_counter() - start
        if report.status != "ok":
            raise SystemExit(f"hand-off cycle failed: {report.errors}")
        spent = _diff(connector.usage().calls_by_endpoint, before)
        seen.calls = sum(n for name, n in spent.items() if not name.startswith("GET"))
        print(f"hand-off cycle calls: {spent}; actions: {report.actions}")
        store.close()
    return seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--sizes", default="1,1000,100000")
    parser.add_argument("--naive-max", type=int, default=1000)
    parser.add_argument("--threshold", type=int, default=10_000, help="bulk_write_threshold")
    parser.add_argument("--handoff-leads", type=int, default=2000)
    parser.add_argument("--handoffs", type=int, default=40)
    parser.add_argument("--only-handoffs", action="store_true")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.only_handoffs:
        _print_handoffs(handoff_cycle(args.handoff_leads, args.handoffs, seed=7))
        return

    t0 = time.perf_counter()
    org = generate_org(leads=args.leads, seed=7)
    print(f"generated org with {args.leads} leads in {time.perf_counter() - t0:.1f}s")
    with SalesforceSandbox(org, port=0) as sb:
        # Converted and legal-hold leads refuse edits by design; a cycle never targets them.
        lead_ids = [
            str(r["Id"])
            for r in sb.org.records("Lead")
            if not r.get("IsConverted") and not r.get("Legal_Hold__c")
        ]
        rows = []
        for n in sizes:
            row = run_cycle(sb, lead_ids, n, args.threshold)
            naive_seconds, measured = naive(sb, lead_ids, n, args.naive_max)
            rows.append(
                Row(
                    **{
                        **row.__dict__,
                        "naive_calls": n,
                        "naive_seconds": naive_seconds,
                        "naive_measured": measured,
                    }
                )
            )
        idle, people, full, full_seconds = idle_and_full(sb)

    print()
    print("| N | API | calls | minimum | over min | wall s | naive calls | naive wall s |")
    print("|---|-----|-------|---------|----------|--------|-------------|--------------|")
    for r in rows:
        over = (r.calls - r.minimum) / r.minimum * 100
        extrapolated = "" if r.naive_measured == r.n else f" (extrapolated from {r.naive_measured})"
        print(
            f"| {r.n:,} | {r.api} | {r.calls} | {r.minimum} | {over:+.1f}% | {r.seconds:.2f} "
            f"| {r.naive_calls:,} | {r.naive_seconds:.1f}{extrapolated} |"
        )
    print()
    print(f"idle cycle: {sum(idle.values())} calls {idle}")
    print(f"full pull: {people:,} people in {full_seconds:.1f}s, {sum(full.values())} calls {full}")
    _print_handoffs(handoff_cycle(args.handoff_leads, args.handoffs, seed=7))


def _print_handoffs(seen: HandoffCycle) -> None:
    objects = sorted({kind for kind, _ in seen.records})
    print(
        f"hand-off cycle: {seen.calls} calls that change the org against a minimum of "
        f"{seen.minimum} ({len(seen.records)} records of {'+'.join(objects)}, "
        f"{seen.owner_changes} owner changes, {seen.tasks} tasks, {seen.enrolments} "
        f"campaign memberships), {seen.seconds:.2f} s"
    )


if __name__ == "__main__":
    main()
