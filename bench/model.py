"""Benchmark the qualification model: a full re-score of synthetic people.

    python bench/model.py                       # 1,000,000 people x 10 activities, 2 workers
    python bench/model.py --people 100000 --workers 1

Scores people built from ``config.example.toml`` (six ICP boxes, the default rules), reports
people/s for one process and for the worker pool, and peak RSS. A naive implementation,
written the obvious way (re-normalise and re-parse every value, try every rule on every
activity, build results with ordinary constructors), scores a sample for comparison and its
agreement with the model is reported.

People and activities are drawn from pools (50,000 people, 200,000 activities) with dirty
values ("1,200", "approx lots", "u.k.", numbers in picklists): building ten million frozen
objects would measure the generator, not the model. The model's caches key on values, never
on objects, so the pools do not help it beyond the repetition real CRM data has.
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import re
import resource
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from leadsync.config import load_settings  # noqa: E402
from leadsync.config.model_settings import EngagementSettings, IcpSettings  # noqa: E402
from leadsync.model import Activity, ModelSpec, Person, score  # noqa: E402

NOW = datetime(2024, 6, 1, tzinfo=UTC)
PERSON_POOL = 50_000
ACTIVITY_POOL = 200_000
#: The example config's secrets (the model reads none; the service token must be 32 characters).
ENV = {
    "SF_CLIENT_ID": "x",
    "SF_CLIENT_SECRET": "x",
    "HUBSPOT_TOKEN": "x",
    "LEADSYNC_TOKEN": "x" * 32,
}

INDUSTRIES = [
    "Manufacturing",
    "manufacturing ",
    "Mfg",
    "Retail",
    "Banking",
    "Software",
    42,
    None,
    "Industrial Machinery",
    "Healthcare",
    "",
]
EMPLOYEES = [
    50,
    250,
    999,
    1000,
    5000,
    "1,200",
    "approx 500",
    "201-500",
    "10,000+",
    "approx lots",
    None,
    12.0,
    "  ",
    "500-5000",
]
COUNTRIES = [
    "United Kingdom",
    "UK",
    "u.k.",
    "France",
    "FR",
    "Germany",
    "US",
    "USA",
    None,
    "Royaume-Uni",
    "Espa\u00f1a",
    "U\u200bK",
]
OWNERSHIP = ["Private", "Public", "public", None, "Subsidiary", 1]
SENIORITY = ["Chief", "VP", "Vice President", "Director", "Head of", "Senior", "", "Lead"]
DEPARTMENT = [
    "Operations",
    "IT",
    "Marketing",
    "Sales",
    "Finance",
    "Legal",
    "Engineering",
    "Procurement",
    "Plant",
]
ROLE = ["Manager", "Officer", "Analyst", "Engineer", "Specialist", "Coordinator", ""]
COMPANIES = ["Acme Engineering Ltd", "Globex", "Initech", "Umbrella plc", "Stark Industries"]
FORMS = [
    "Contact Us",
    "Request a demo",
    "Price sheet download",
    "Ebook: Lean factories",
    "Newsletter signup",
]
PAGES = ["https://example.com/blog/{n}", "https://example.com/pricing", "https://example.com/"]
KINDS = [
    "form_submission",
    "page_view",
    "email_open",
    "email_click",
    "webinar_registered",
    "ebook_download",
    "unsubscribe",
    "campaign_member",
    "meeting",
]
KIND_WEIGHTS = [15, 35, 25, 8, 4, 4, 1, 5, 3]


def make_people(rng: random.Random) -> list[Person]:
    people = []
    for i in range(PERSON_POOL):
        title = " ".join(
            p for p in (rng.choice(SENIORITY), rng.choice(DEPARTMENT), rng.choice(ROLE)) if p
        )
        attributes = {
            "industry": rng.choice(INDUSTRIES),
            "employees": rng.choice(EMPLOYEES),
            "country": rng.choice(COUNTRIES),
            "ownership": rng.choice(OWNERSHIP),
            "title": title + (f" {i % 97}" if i % 5 == 0 else ""),
            "company": rng.choice(COMPANIES),
        }
        domain = rng.choice(["acme.com", "globex.co.uk", "gmail.com", f"c{i % 5000}.io"])
        people.append(
            Person(f"p{i}", attributes, email=f"u{i}@{domain}", opted_out=rng.random() < 0.02)
        )
    return people


def make_activities(rng: random.Random) -> list[Activity]:
    acts = []
    for i in range(ACTIVITY_POOL):
        kind = rng.choices(KINDS, KIND_WEIGHTS)[0]
        at = NOW - timedelta(seconds=rng.randrange(0, 150 * 86_400))
        if kind == "form_submission":
            acts.append(Activity(f"a{i}", kind, at, name=rng.choice(FORMS)))
        elif kind == "page_view":
            url = rng.choice(PAGES).format(n=rng.randrange(300))
            acts.append(Activity(f"a{i}", kind, at, url=url))
        elif kind == "campaign_member":
            acts.append(
                Activity(
                    f"a{i}",
                    kind,
                    at,
                    name="Q2 webinar",
                    campaign_type="Webinar",
                    member_status=rng.choice(["Registered", "Sent", "Attended"]),
                )
            )
        else:
            acts.append(Activity(f"a{i}", kind, at))
    return acts


class Workload:
    """Deterministic stream of (person, activities) drawn from the pools."""

    def __init__(self, seed: int, per_person: int) -> None:
        rng = random.Random(seed)
        self.people = make_people(rng)
        self.activities = make_activities(rng)
        self.per_person = per_person

    def item(self, n: int) -> tuple[Person, list[Activity]]:
        person = self.people[(n * 7919) % PERSON_POOL]
        start = (n * 104_729) % (ACTIVITY_POOL - self.per_person)
        return person, self.activities[start : start + self.per_person]


def run_model(spec: ModelSpec, work: Workload, start: int, stop: int) -> Counter[str]:
    cells: Counter[str] = Counter()
    for n in range(start, stop):
        person, acts = work.item(n)
        cells[score(person, acts, spec, NOW).cell] += 1
    return cells


# --- the naive implementation ----------------------------------------------------------------


def naive_score(
    person: Person,
    acts: list[Activity],
    settings_icp: IcpSettings,
    settings_eng: EngagementSettings,
) -> tuple[str, int]:
    """Fit and score computed the obvious way, straight from the settings objects."""
    checked, required_ok = 0, True
    attrs = dict(person.attributes)
    title = str(attrs.get("title") or "")
    for pattern_label, pattern in (
        ("C-Suite", r"\bchief\b"),
        ("VP", r"\bvp\b|vice president"),
        ("Director", r"director|head of"),
    ):
        if re.search(pattern, title, re.IGNORECASE):
            attrs.setdefault("seniority", pattern_label)
            break
    aliases = {
        "uk": "united kingdom",
        "u.k.": "united kingdom",
        "fr": "france",
        "royaume-uni": "united kingdom",
        "mfg": "manufacturing",
    }
    for c in settings_icp.criteria:
        value = attrs.get(c.attribute)
        ok = False
        if c.operator in ("one_of", "none_of") and value is not None:
            text = aliases.get(str(value).strip().lower(), str(value).strip().lower())
            listed = [aliases.get(str(v).lower(), str(v).lower()) for v in c.values]
            ok = (text in listed) != (c.operator == "none_of") != c.negate
        elif c.operator == "below" and value is not None:
            match = re.fullmatch(r"\s*(\d[\d,]*)\s*", str(value))
            ok = match is not None and float(match.group(1).replace(",", "")) < (c.max or 0)
        elif c.operator == "in_list" and value is not None:
            ok = any(str(v).lower() in str(value).lower() for v in c.values)
        if ok:
            checked += 1
        elif c.required:
            required_ok = False
    total = 0.0
    counts: dict[str, int] = {}
    for a in sorted(acts, key=lambda a: a.occurred_at, reverse=True):
        for r in settings_eng.rules or ():
            if a.kind not in r.kind:
                continue
            fields = [
                (r.name_pattern, a.name),
                (r.campaign_type_pattern, a.campaign_type),
                (r.member_status_pattern, a.member_status),
                (r.url_pattern, a.url),
            ]
            if all(p is None or (v and re.search(p, v, re.IGNORECASE)) for p, v in fields):
                age = (NOW - a.occurred_at).total_seconds() / 86_400
                if age <= settings_eng.window_days and counts.get(r.name, 0) < (r.cap or 10**9):
                    counts[r.name] = counts.get(r.name, 0) + 1
                    total += r.points * 0.5 ** (age / settings_eng.half_life_days)
                break
    good = required_ok and checked >= settings_icp.good_fit_min
    return ("good" if good else "poor"), int(total + 0.5) if total >= 0 else -int(-total + 0.5)


# --- driver ---------------------------------------------------------------------------------

_SPEC: ModelSpec | None = None
_WORK: Workload | None = None


def _worker(bounds: tuple[int, int]) -> tuple[Counter[str], float, int]:
    assert _SPEC is not None and _WORK is not None
    began = time.perf_counter()
    cells = run_model(_SPEC, _WORK, *bounds)
    return cells, time.perf_counter() - began, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main() -> None:
    global _SPEC, _WORK
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--activities", type=int, default=10, help="activities per person")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--single", type=int, default=100_000, help="people for the 1-process run")
    parser.add_argument("--naive", type=int, default=20_000, help="people for the naive run")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    settings = load_settings(ROOT / "config.example.toml", environ=ENV)
    began = time.perf_counter()
    _SPEC = settings.model_spec()
    _WORK = Workload(args.seed, args.activities)
    print(
        f"setup (spec + pools of {PERSON_POOL:,} people, {ACTIVITY_POOL:,} activities): "
        f"{time.perf_counter() - began:.1f} s"
    )

    began, cpu = time.perf_counter(), time.process_time()
    run_model(_SPEC, _WORK, 0, args.single)
    single, cpu = time.perf_counter() - began, time.process_time() - cpu
    print(
        f"model, 1 process: {args.single:,} people in {single:.2f} s = "
        f"{args.single / single:,.0f} people/s ({cpu / args.single * 1e6:.1f} us CPU/person)"
    )

    began = time.perf_counter()
    agree_fit = agree_score = 0
    for n in range(args.naive):
        person, acts = _WORK.item(n)
        naive_score(person, acts, settings.icp, settings.engagement)
    naive = time.perf_counter() - began
    for n in range(min(args.naive, 5_000)):
        person, acts = _WORK.item(n)
        fit, points = naive_score(person, acts, settings.icp, settings.engagement)
        result = score(person, acts, _SPEC, NOW)
        agree_fit += fit == result.fit
        agree_score += points == result.score
    sample = min(args.naive, 5_000)
    speedup = (naive / args.naive) / (single / args.single)
    print(
        f"naive, 1 process: {args.naive:,} people in {naive:.2f} s = "
        f"{args.naive / naive:,.0f} people/s; model/naive speed {speedup:.2f}x; agreement on "
        f"{sample:,}: score {agree_score / sample:.1%}, fit {agree_fit / sample:.1%} "
        f"(the naive one misreads dirty values and most aliases)"
    )

    chunk = 25_000
    bounds = [(s, min(s + chunk, args.people)) for s in range(0, args.people, chunk)]
    began = time.perf_counter()
    cells: Counter[str] = Counter()
    child_rss = 0
    with multiprocessing.get_context("fork").Pool(args.workers) as pool:
        for got, _, rss in pool.imap_unordered(_worker, bounds):
            cells.update(got)
            child_rss = max(child_rss, rss)
    full = time.perf_counter() - began
    parent_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scored = sum(cells.values())
    print(
        f"model, {args.workers} workers: {scored:,} people / {scored * args.activities:,} "
        f"activities in {full:.1f} s = {scored / full:,.0f} people/s"
    )
    worker_cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_total = worker_cpu.ru_utime + worker_cpu.ru_stime
    print(
        f"workers' CPU: {cpu_total:.1f} s = {cpu_total / scored * 1e6:.1f} us/person; on "
        f"{args.workers} idle cores that is {cpu_total / args.workers:.1f} s wall"
    )
    total_rss = (parent_rss + args.workers * child_rss) / 1024
    print(
        f"peak RSS: parent {parent_rss / 1024:.0f} MiB, largest worker "
        f"{child_rss / 1024:.0f} MiB, all processes at most {total_rss:.0f} MiB"
    )
    print("cells: " + ", ".join(f"{cell} {count:,}" for cell, count in sorted(cells.items())))


if __name__ == "__main__":
    main()
