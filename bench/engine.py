"""Benchmark the engine and the store: a full sync of a large org, then a 1% incremental one.

    python bench/engine.py                                    # 1,000,000 people x 10 activities
    python bench/engine.py --people 100000 --activities-per-person 10
    python bench/engine.py --people 20000 --backends sqlite

An in-memory CRM streams people and activities from generators (nothing is materialised), and
its ``write`` accepts everything and only counts, so what is measured is LeadSync's local work:
pull-ingest into the store, scoring with the real model (the ICP and rules of
``config.example.toml`` via ``leadsync/demo.toml``), and outbox/ledger bookkeeping. Each backend
runs in its own child process so peak RSS (VmHWM) is per backend: SQLite in a temp folder, and
a PostgreSQL database created for the run and dropped after it.

After the full cycle, 1% of people change (half an attribute, half a new activity) and one more
incremental cycle runs; its wall time and its ratio to the full cycle are reported.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import tomllib
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from connectors.base import Capabilities, write_each  # noqa: E402
from leadsync.config import settings_from_dict  # noqa: E402
from leadsync.engine.cycle import CycleReport, SyncEngine  # noqa: E402
from leadsync.records import (  # noqa: E402
    ActivityRecord,
    ApiUsage,
    CheckProblem,
    CrmUser,
    FieldInfo,
    OwnerChange,
    PersonRecord,
    RecordRef,
    RecordUpdate,
    TaskRequest,
    WriteOutcome,
)
from leadsync.store import Store  # noqa: E402
from leadsync.wiring import build_engine  # noqa: E402

CONNECTOR = "salesforce"  # the demo model's fit_source, so merged attributes follow it
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
#: Base records' modstamps spread over this span before the benchmark starts, as in an org
#: whose records were edited over time; the cursor's overlap then re-reads only a few of them.
HISTORY = timedelta(days=30)

INDUSTRIES = ["Manufacturing", "manufacturing ", "Mfg", "Retail", "Banking", "Software", None,
              "Industrial Machinery", "Healthcare", ""]  # fmt: skip
EMPLOYEES = [50, 250, 999, 1000, 5000, "1,200", "approx 500", "201-500", "10,000+", None, 12.0]
COUNTRIES = ["United Kingdom", "UK", "u.k.", "France", "FR", "Germany", "US", None, "Royaume-Uni"]
OWNERSHIP = ["Private", "Public", "public", None, "Subsidiary"]
TITLES = ["Chief Operating Officer", "VP Operations", "Director of IT", "Plant Manager",
          "Head of Procurement", "Senior Engineer", "Marketing Analyst", "Finance Manager",
          ""]  # fmt: skip
COMPANIES = ["Acme Engineering", "Globex", "Initech", "Umbrella plc", "Stark Industries"]
DOMAINS = ["acme.com", "globex.co.uk", "gmail.com", "initech.io", "umbrella.fr"]
FORMS = ["Contact Us", "Request a demo", "Price sheet download", "Ebook: Lean factories",
         "Newsletter signup"]  # fmt: skip
# (kind, name, campaign_type, member_status, url): a mix close to a real org's activity log.
ACTIVITY_SHAPES: list[tuple[str, str | None, str | None, str | None, str | None]] = [
    ("page_view", None, None, None, "https://example.com/blog/lean"),
    ("page_view", None, None, None, "https://example.com/pricing"),
    ("page_view", None, None, None, "https://example.com/blog/iot"),
    ("email_open", "Newsletter", None, None, None),
    ("email_click", "Newsletter", None, None, None),
    ("form_submission", FORMS[4], None, None, None),
    ("form_submission", FORMS[3], None, None, None),
    ("campaign_member", "Q2 webinar", "Webinar", "Registered", None),
    ("webinar_registered", "Q2 webinar", None, None, None),
    ("form_submission", FORMS[2], None, None, None),
    ("meeting", "Intro call", None, None, None),
    ("form_submission", FORMS[0], None, None, None),
    ("unsubscribe", None, None, None, None),
]


@dataclass
class Org:
    """A deterministic synthetic org: person ``i`` and their activities are computed from ``i``.

    Modstamps increase with the index, as a CRM returns records ordered by SystemModstamp,
    so a ``since`` query maps to an index range instead of a scan of the whole org.
    """

    people: int
    per_person: int
    origin: datetime  # the oldest base modstamp
    #: person index -> (changed attributes, modstamp): people edited after the full sync.
    edits: dict[int, tuple[dict[str, Any], datetime]] = field(default_factory=dict)
    #: new activities logged after the full sync, in modstamp order.
    new_activities: list[ActivityRecord] = field(default_factory=list)

    @property
    def person_step(self) -> timedelta:
        return HISTORY / max(self.people, 1)

    @property
    def activity_step(self) -> timedelta:
        return HISTORY / max(self.people * self.per_person, 1)

    def ref(self, i: int) -> RecordRef:
        return RecordRef(CONNECTOR, "Lead", f"00Q{i:012d}")

    def email(self, i: int) -> str:
        return f"person{i}@{DOMAINS[i % len(DOMAINS)]}"

    def attributes(self, i: int) -> dict[str, Any]:
        return {
            "industry": INDUSTRIES[i % len(INDUSTRIES)],
            "employees": EMPLOYEES[(i // 3) % len(EMPLOYEES)],
            "country": COUNTRIES[(i // 7) % len(COUNTRIES)],
            "ownership": OWNERSHIP[(i // 11) % len(OWNERSHIP)],
            "title": TITLES[(i // 13) % len(TITLES)],
            "company": COMPANIES[(i // 17) % len(COMPANIES)],
        }

    def person(self, i: int) -> PersonRecord:
        attributes = self.attributes(i)
        modified = self.origin + self.person_step * i
        if i in self.edits:
            changed, modified = self.edits[i]
            attributes = {**attributes, **changed}
        return PersonRecord(
            ref=self.ref(i),
            email=self.email(i),
            modified_at=modified,
            attributes=attributes,
            owner_id="005000000000001",
            status="Open",
            opted_out=i % 50 == 0,
        )

    def activity(self, n: int) -> ActivityRecord:
        i, j = divmod(n, self.per_person)
        kind, name, campaign_type, member_status, url = ACTIVITY_SHAPES[
            (i * 7 + j * 3) % len(ACTIVITY_SHAPES)
        ]
        modified = self.origin + self.activity_step * n
        # Email events carry only an address (as HubSpot's do); the rest name their record.
        by_email = kind in ("email_open", "email_click")
        return ActivityRecord(
            ref=RecordRef(CONNECTOR, "Task", f"00T{n:013d}"),
            kind=kind,
            occurred_at=modified - timedelta(days=(n * 37) % 120),
            modified_at=modified,
            person=None if by_email else self.ref(i),
            email=self.email(i) if by_email else None,
            name=name,
            campaign_type=campaign_type,
            member_status=member_status,
            url=url,
        )

    def change(self, fraction: float, at: datetime) -> tuple[int, int]:
        """Change ``fraction`` of people, spread over the org: alternately an attribute
        (a new title) and a new activity (a demo request). Returns (edited, new activities)."""
        count = max(1, round(self.people * fraction))
        stride = self.people / count
        edited = 0
        for k in range(count):
            i = int(k * stride)
            stamp = at + timedelta(microseconds=k)
            if k % 2 == 0:
                self.edits[i] = ({"title": f"VP Manufacturing {k}"}, stamp)
                edited += 1
            else:
                self.new_activities.append(
                    ActivityRecord(
                        ref=RecordRef(CONNECTOR, "Task", f"00Tnew{k:010d}"),
                        kind="form_submission",
                        occurred_at=stamp,
                        modified_at=stamp,
                        person=self.ref(i),
                        name=FORMS[1],
                    )
                )
        return edited, count - edited


class GeneratedConnector:
    """A ``connectors.base.Connector`` over an ``Org``: streams records, accepts every write."""

    name = CONNECTOR
    capabilities = Capabilities()

    def __init__(self, org: Org) -> None:
        self.org = org
        self.calls = 0
        self.written = 0

    def pull_people(self, since: datetime | None, **_: Any) -> Iterator[PersonRecord]:
        # Not resumable (no checkpoints): a resumed backfill here starts over.
        org = self.org
        self.calls += 1
        start = _first_index(since, org.origin, org.person_step, org.people)
        edited_late = sorted(org.edits, key=lambda i: org.edits[i][1])
        for i in range(start, org.people):
            if i not in org.edits:
                yield org.person(i)
        for i in edited_late:
            if since is None or org.edits[i][1] >= since:
                yield org.person(i)

    def read_people(self, refs: Sequence[RecordRef]) -> list[PersonRecord]:
        self.calls += 1
        wanted = {r.external_id for r in refs if r.source == self.name}
        return [p for p in self.pull_people(None) if p.ref.external_id in wanted]

    def pull_activities(self, since: datetime | None, **_: Any) -> Iterator[ActivityRecord]:
        org = self.org
        self.calls += 1
        total = org.people * org.per_person
        for n in range(_first_index(since, org.origin, org.activity_step, total), total):
            yield org.activity(n)
        for record in org.new_activities:
            if since is None or record.modified_at >= since:
                yield record

    def write(self, updates: Sequence[RecordUpdate]) -> list[WriteOutcome]:
        self.calls += 1
        self.written += len(updates)
        return [WriteOutcome(ref=u.ref, ok=True) for u in updates]

    def write_pages(self, pages: Iterable[Sequence[RecordUpdate]]) -> Iterator[list[WriteOutcome]]:
        return write_each(self, pages)

    def reassign(self, changes: Sequence[OwnerChange]) -> list[WriteOutcome]:
        self.calls += 1
        return [WriteOutcome(ref=c.ref, ok=True) for c in changes]

    def create_tasks(self, tasks: Sequence[TaskRequest]) -> list[WriteOutcome]:
        self.calls += 1
        return [WriteOutcome(ref=t.person, ok=True) for t in tasks]

    def describe(self) -> dict[str, dict[str, FieldInfo]]:
        return {}

    def check(self) -> list[CheckProblem]:
        return []

    def create_fields(self) -> list[str]:
        return []

    def users(self) -> list[CrmUser]:
        return [CrmUser(id="005000000000001", name="Bench Rep")]

    def usage(self) -> ApiUsage:
        return ApiUsage(calls=self.calls)

    def close(self) -> None:
        return None


def _first_index(since: datetime | None, origin: datetime, step: timedelta, count: int) -> int:
    """Lowest index whose modstamp ``origin + step * index`` is at or after ``since``."""
    if since is None or since <= origin:
        return 0
    index = int((since - origin) / step)
    while index > 0 and origin + step * (index - 1) >= since:
        index -= 1
    while index < count and origin + step * index < since:
        index += 1
    return min(index, count)


class PhaseTimer:
    """The engine's ``Progress``: wall time and item count of each phase of a cycle."""

    def __init__(self) -> None:
        self.phases: dict[str, list[float]] = {}  # name -> [seconds, items]
        self._current: str | None = None
        self._began = 0.0
        self._said = 0.0

    def phase(self, name: str, total: int | None = None) -> None:
        self.close()
        self._current, self._began = name, time.perf_counter()
        self._said = self._began
        self.phases.setdefault(name, [0.0, 0.0])

    def advance(self, n: int) -> None:
        if self._current is not None:
            self.phases[self._current][1] += n
            if time.perf_counter() - self._said >= 60:
                self._said = time.perf_counter()
                done = int(self.phases[self._current][1])
                print(f"  ... {self._current}: {done:,}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._current is not None:
            seconds = time.perf_counter() - self._began
            self.phases[self._current][0] += seconds
            # On stderr as it happens, so a long run left in the background shows its progress.
            items = int(self.phases[self._current][1])
            print(f"  {self._current}: {items:,} in {seconds:,.1f} s", file=sys.stderr, flush=True)
            self._current = None


def peak_rss_mib() -> float:
    """The process's peak resident set (VmHWM), in MiB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_settings() -> Any:
    with (ROOT / "leadsync" / "demo.toml").open("rb") as fh:
        data = tomllib.load(fh)
    return settings_from_dict(data, "bench/engine.py (leadsync/demo.toml)")


def timed_cycle(engine: SyncEngine, timer: PhaseTimer) -> dict[str, Any]:
    timer.phases.clear()
    began = time.perf_counter()
    report: CycleReport = engine.run()
    wall = time.perf_counter() - began
    timer.close()
    if report.errors:
        raise SystemExit(f"cycle failed: {report.errors}")
    phases = {name: {"seconds": s, "items": int(n)} for name, (s, n) in timer.phases.items()}
    return {
        "wall": wall,
        "phases": phases,
        "pulled": report.pulled,
        "scored": report.scored,
        "changed": report.changed,
        "queued": report.queued,
        "written": report.written,
        "rss_mib": peak_rss_mib(),
    }


def run_backend(url: str, args: argparse.Namespace) -> dict[str, Any]:
    """One backend's full and incremental cycles, in this process."""
    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
    settings = bench_settings()
    now = datetime.now(UTC)
    org = Org(args.people, args.activities_per_person, origin=now - HISTORY - timedelta(minutes=5))
    connector = GeneratedConnector(org)
    store = Store(url)
    timer = PhaseTimer()
    engine = build_engine(settings, store, {CONNECTOR: connector}, progress=timer)
    try:
        full = timed_cycle(engine, timer)
        edited, added = org.change(args.changed, datetime.now(UTC))
        incremental = timed_cycle(engine, timer)
        size = _store_size(store)
    finally:
        store.close()
    return {
        "people": args.people,
        "activities": args.people * args.activities_per_person,
        "full": full,
        "incremental": incremental,
        "edited": edited,
        "new_activities": added,
        "written_total": connector.written,
        "store_mib": size / 2**20,
        "peak_rss_mib": peak_rss_mib(),
    }


def _store_size(store: Store) -> int:
    with store.reading() as conn:
        if store.dialect == "postgresql":
            query = sa.text("SELECT pg_database_size(current_database())")
            return int(conn.execute(query).scalar_one())
    database = sa.engine.make_url(store.url).database or ""
    return sum(p.stat().st_size for p in Path(database).parent.glob(Path(database).name + "*"))


def child(args: argparse.Namespace) -> None:
    """Run one backend and print its numbers as one JSON line."""
    if args.child == "sqlite":
        with tempfile.TemporaryDirectory(prefix="leadsync-bench-") as folder:
            result = run_backend(f"sqlite:///{folder}/bench.db", args)
    else:
        name = f"leadsync_bench_{uuid.uuid4().hex[:10]}"
        admin = sa.create_engine(args.pg_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        url = sa.engine.make_url(args.pg_url).set(database=name)
        try:
            result = run_backend(url.render_as_string(hide_password=False), args)
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    print(json.dumps(result))


def _rate(items: float, seconds: float) -> str:
    return f"{items / seconds:,.0f}/s" if seconds > 0 else "-"


def summary(backend: str, r: dict[str, Any]) -> list[str]:
    full, inc = r["full"], r["incremental"]
    phase = {n.split()[0] + (" " + n.split()[-1] if n.startswith("pull") else ""): v
             for n, v in full["phases"].items()}  # fmt: skip
    people, acts = phase.get("pull people", {}), phase.get("pull activities", {})
    score, write = phase.get("score", {}), phase.get("write", {})
    ratio = inc["wall"] / full["wall"]
    return [
        f"## {backend}: {r['people']:,} people, {r['activities']:,} activities",
        f"- full cycle: {full['wall']:,.1f} s wall",
        f"  - ingest people: {people.get('items', 0):,} in {people.get('seconds', 0):,.1f} s = "
        f"{_rate(people.get('items', 0), people.get('seconds', 0))}",
        f"  - ingest activities: {acts.get('items', 0):,} in {acts.get('seconds', 0):,.1f} s = "
        f"{_rate(acts.get('items', 0), acts.get('seconds', 0))}",
        f"  - scoring: {score.get('items', 0):,} people in {score.get('seconds', 0):,.1f} s = "
        f"{_rate(score.get('items', 0), score.get('seconds', 0))}",
        f"  - write bookkeeping: {write.get('items', 0):,} records in "
        f"{write.get('seconds', 0):,.1f} s = "
        f"{_rate(write.get('items', 0), write.get('seconds', 0))}",
        f"- incremental cycle ({r['edited']:,} people edited, {r['new_activities']:,} new "
        f"activities; {inc['scored']:,} re-scored, {sum(inc['written'].values()):,} written): "
        f"{inc['wall']:,.2f} s wall = {ratio:.2%} of the full cycle",
        "  - phases: "
        + ", ".join(f"{n} {v['seconds']:.2f} s ({v['items']:,})" for n, v in inc["phases"].items()),
        f"- peak RSS: {full['rss_mib']:,.0f} MiB after the full cycle, "
        f"{r['peak_rss_mib']:,.0f} MiB overall; store size {r['store_mib']:,.0f} MiB",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--activities-per-person", type=int, default=10)
    parser.add_argument("--changed", type=float, default=0.01, help="fraction changed")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--pg-url", default=DEFAULT_PG, help="server to create the database on")
    parser.add_argument("--json", action="store_true", help="print raw results as JSON too")
    parser.add_argument("--child", choices=["sqlite", "postgresql"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    print("python bench/engine.py " + " ".join(sys.argv[1:]))
    for backend in args.backends.split(","):
        command = [sys.executable, __file__, "--child", backend, "--people", str(args.people),
                   "--activities-per-person", str(args.activities_per_person),
                   "--changed", str(args.changed), "--pg-url", args.pg_url]  # fmt: skip
        # The child's progress goes straight to our stderr; its result is its last stdout line.
        done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
        if done.returncode != 0:
            print(f"## {backend}: failed with exit code {done.returncode} (see stderr)")
            continue
        result = json.loads(done.stdout.strip().splitlines()[-1])
        print("\n".join(summary(backend, result)), flush=True)
        if args.json:
            print(json.dumps(result))


if __name__ == "__main__":
    main()
