"""Benchmark ``leadsync preview`` and ``leadsync rescore`` on a large store (issue 23 #5).

    python bench/preview.py --people 1000000          # builds the store once, then measures
    python bench/preview.py --people 200000 --store /tmp/p200k.db
    python bench/preview.py --url postgresql+psycopg://postgres@127.0.0.1:5432/bench

The store is made the way production makes it: one full cycle of the engine over
``bench/engine.py``'s generated org (``--activities-per-person`` activities each), scored with
``leadsync/demo.toml``'s model; it is kept at ``--store`` and reused by later runs. Then, with a
candidate model (good_fit_min 4 -> 3, Demo request 75 -> 100 points):

1. ``preview`` (what ``leadsync preview`` runs): wall time, peak RSS of the process and of its
   largest worker; it builds no connector, so it makes no API call.
2. The naive way to see the same thing, ``rescore --dry-run``: everyone re-scored and saved in
   a transaction that is rolled back. Same store, same model: the ratio of the two.
3. ``rescore`` itself through the generated connector: records written against the records
   whose written fields changed (the minimum). Its calls follow from the records: the
   Salesforce connector sends 200 records a call (sObject Collections; ``bench/salesforce.md``),
   so calls at the minimum means records at the minimum.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import sqlalchemy as sa  # noqa: E402
import structlog  # noqa: E402
from engine import (  # noqa: E402
    CONNECTOR,
    HISTORY,
    GeneratedConnector,
    Org,
    PhaseTimer,
    timed_cycle,
)

from leadsync.config import settings_from_dict  # noqa: E402
from leadsync.engine.preview import preview  # noqa: E402
from leadsync.engine.request import CycleRequest  # noqa: E402
from leadsync.store import Store  # noqa: E402
from leadsync.store.schema import scores  # noqa: E402
from leadsync.wiring import build_engine, preview_work  # noqa: E402


def model(candidate: bool) -> dict[str, Any]:
    with (ROOT / "leadsync" / "demo.toml").open("rb") as fh:
        data = tomllib.load(fh)
    if candidate:
        data["icp"]["good_fit_min"] = 3
        for rule in data["engagement"]["rules"]:
            if rule["name"] == "Demo request":
                rule["points"] = 100
    return data


def settings(candidate: bool) -> Any:
    return settings_from_dict(model(candidate), f"bench/preview.py (candidate={candidate})")


def build(url: str, people: int, per_person: int) -> dict[str, Any]:
    org = Org(people, per_person, origin=datetime.now(UTC) - HISTORY - timedelta(minutes=5))
    store = Store(url)
    timer = PhaseTimer()
    connectors: dict[str, Any] = {CONNECTOR: GeneratedConnector(org)}
    engine = build_engine(settings(False), store, connectors, progress=timer)
    try:
        return timed_cycle(engine, timer)
    finally:
        store.close()


def outputs(store: Store) -> dict[int, Any]:
    with store.reading() as conn:
        return dict(conn.execute(sa.select(scores.c.person_id, scores.c.outputs)).all())


def populated(url: str) -> bool:
    """Whether the store at ``url`` holds anyone (a fresh database is built first)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("people"):
                return False
            return bool(conn.execute(sa.text("select exists (select 1 from people)")).scalar())
    finally:
        engine.dispose()


def peak_mib(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--activities-per-person", type=int, default=10)
    parser.add_argument("--store", type=Path, help="SQLite file (kept; built when missing)")
    parser.add_argument(
        "--url",
        help="a PostgreSQL store's URL instead (kept; built when it holds nobody), e.g. "
        "postgresql+psycopg://postgres@127.0.0.1:5432/bench",
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-dry-run", action="store_true", help="skip the naive baseline")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
    path = args.store or Path(f"/tmp/leadsync-preview-{args.people}.db")
    url = args.url or f"sqlite:///{path}"
    result: dict[str, Any] = {"people": args.people, "store": args.url or str(path)}
    if (args.url and not populated(args.url)) or (not args.url and not path.exists()):
        began = time.perf_counter()
        built = build(url, args.people, args.activities_per_person)
        result["build_seconds"] = round(time.perf_counter() - began, 1)
        result["built_scored"] = built["scored"]
    store = Store(url, migrate=False)
    now = datetime.now(UTC)
    candidate = settings(True)

    began = time.perf_counter()
    counts = preview(preview_work(candidate, now), store, args.workers)
    result["preview"] = {
        "seconds": round(time.perf_counter() - began, 2),
        "people": counts.people,
        "moves": sum(counts.moves.values()),
        "api_calls": 0,  # no connector is built: preview_work takes none
        "peak_rss_mib_process": round(peak_mib(resource.RUSAGE_SELF)),
        "peak_rss_mib_largest_worker": round(peak_mib(resource.RUSAGE_CHILDREN)),
    }
    connector = GeneratedConnector(Org(0, 0, origin=now))
    if not args.skip_dry_run:
        engine = build_engine(candidate, store, {CONNECTOR: connector})
        began = time.perf_counter()
        report = engine.run(CycleRequest(dry_run=True, rescore=True, adopt_model=True))
        result["dry_run"] = {
            "seconds": round(time.perf_counter() - began, 2),
            "scored": report.scored,
            "api_calls": connector.calls,
        }
        result["preview_vs_dry_run"] = round(
            result["dry_run"]["seconds"] / result["preview"]["seconds"], 1
        )
    before = outputs(store)
    connector.calls = connector.written = 0
    engine = build_engine(candidate, store, {CONNECTOR: connector})
    began = time.perf_counter()
    report = engine.run(CycleRequest(rescore=True, adopt_model=True))
    after = outputs(store)
    changed = sum(1 for pid, values in after.items() if before.get(pid) != values)
    page = 200  # records a Salesforce write call takes (sObject Collections)
    result["rescore"] = {
        "seconds": round(time.perf_counter() - began, 2),
        "status": report.status,
        "records_written": connector.written,
        "records_changed": changed,
        "salesforce_calls": -(-connector.written // page),
        "minimum_calls": -(-changed // page),
    }
    store.close()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
