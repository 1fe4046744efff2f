"""Benchmark the HubSpot connector against the sandbox, through the real client library.

Two measurements (results and how to read them: ``bench/hubspot.md``):

1. Write-back economy: N changed contacts (default 100,000) written with ``write``; the API
   calls made are compared with the minimum HubSpot allows, ceil(N / 100) batch updates.
   Target: within 5 % of the minimum. The sandbox's burst limit is raised for this part so it
   measures calls, not waiting.
2. Backfill at the rate limit: a full ``pull_people(None)`` of M contacts with the sandbox
   enforcing its burst limit (default 190 per 10 s); wall time is compared with the physical
   bound that limit implies, calls / limit * 10 s.
3. Webhook to task: ``leadsync run`` as a subprocess with both sandboxes; HubSpot delivers
   v3-signed events for hand-raising form submissions and the time from submission to the
   hand-off task existing in Salesforce is measured (``bench/speed_to_lead.py``'s webhook
   mode, right after the backfill). Target: p95 under 2 s.

Run: ``python -m bench.hubspot [--write-n 100000] [--backfill-n 20000] [--rate 190]
[--webhook-samples 20]``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if not __package__:
    # Run as a file, this folder would come first on sys.path and this module would shadow the
    # `hubspot` client library it benchmarks; drop it and put the repository root there.
    _here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _here]
    sys.path.insert(0, str(_here.parent))

from connectors.hubspot.connector import HubSpotConnector
from connectors.hubspot.mapping import load_mapping
from connectors.hubspot.settings import HubSpotSettings
from leadsync.logs import configure as configure_logs
from leadsync.records import RecordRef, RecordUpdate
from mappings import default_mapping_path


def _connector(sandbox: Any, *, reserve: int = 0) -> HubSpotConnector:
    settings = HubSpotSettings(
        base_url=sandbox.url, access_token=sandbox.access_token, api_reserve=reserve
    )
    return HubSpotConnector("hubspot", settings, load_mapping(default_mapping_path("hubspot")))


def bench_writes(n: int, seed: int) -> dict[str, Any]:
    """Calls used to write ``n`` changed contacts, against ceil(n / 100)."""
    from sandboxes.hubspot import HubSpotSandbox, generate_portal

    portal = generate_portal(contacts=n, seed=seed)
    with HubSpotSandbox(portal, port=0, tls=False, rate_limit_per_10s=1_000_000) as sandbox:
        connector = _connector(sandbox)
        try:
            connector.create_fields()
            ids = [str(o.id) for o in sandbox.portal.live("contacts")][:n]
            now = datetime.now(UTC)
            updates = [
                RecordUpdate(
                    RecordRef("hubspot", "contact", oid),
                    {"fit": "good" if i % 3 else "poor", "score": i % 100, "scored_at": now},
                )
                for i, oid in enumerate(ids)
            ]
            before = connector.usage().calls_by_endpoint.get("contacts.batch_update", 0)
            started = time.perf_counter()
            outcomes = connector.write(updates)
            elapsed = time.perf_counter() - started
            calls = connector.usage().calls_by_endpoint["contacts.batch_update"] - before
        finally:
            connector.close()
    minimum = math.ceil(len(updates) / 100)
    return {
        "changed_contacts": len(updates),
        "batch_update_calls": calls,
        "minimum_calls": minimum,
        "overhead_pct": round(100 * (calls - minimum) / minimum, 2),
        "ok": sum(o.ok for o in outcomes),
        "seconds": round(elapsed, 2),
    }


def bench_backfill(n: int, rate: int, seed: int) -> dict[str, Any]:
    """Wall time of a full pull at ``rate`` calls per 10 s, against calls / rate * 10 s."""
    from sandboxes.hubspot import HubSpotSandbox, generate_portal

    portal = generate_portal(contacts=n, seed=seed)
    with HubSpotSandbox(portal, port=0, tls=False, rate_limit_per_10s=rate) as sandbox:
        connector = _connector(sandbox)
        try:
            started = time.perf_counter()
            people = sum(1 for _ in connector.pull_people(None))
            elapsed = time.perf_counter() - started
            usage = connector.usage()
        finally:
            connector.close()
        stats = sandbox.stats()
    # The first `rate` calls fit in the opening window; each further `rate` costs 10 s.
    bound = max(0.0, (usage.calls - rate) / rate * 10.0)
    return {
        "contacts": people,
        "calls": usage.calls,
        "rate_per_10s": rate,
        "seconds": round(elapsed, 2),
        "physical_bound_seconds": round(bound, 2),
        "ratio_to_bound": round(elapsed / bound, 3) if bound else None,
        "throttled_429": _count_429(stats),
    }


def bench_webhook(samples: int, seed: int) -> dict[str, Any]:
    from bench.speed_to_lead import MODES, run_mode

    outcome = run_mode(
        MODES["webhook"],
        per_source=samples,
        spread=1,
        webhook_window=60.0,
        leads=2_000,
        seed=seed,
        say=lambda text: print(text, file=sys.stderr, flush=True),
    )
    summary: dict[str, Any] = outcome.summary()
    return summary


def _count_429(stats: Any) -> int | None:
    if isinstance(stats, dict):
        by_status = stats.get("by_status") or stats.get("status") or {}
        if isinstance(by_status, dict):
            return int(by_status.get("429", 0) or 0)
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write-n", type=int, default=100_000)
    parser.add_argument("--backfill-n", type=int, default=20_000)
    parser.add_argument("--rate", type=int, default=190)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--webhook-samples", type=int, default=20, help="0 skips part 3")
    args = parser.parse_args(argv)
    # The in-process sandbox logs every call; keep stdout for the JSON result.
    configure_logs(json_lines=False, level="warning")
    try:
        import sandboxes.hubspot  # noqa: F401
    except ImportError as exc:
        print(f"the HubSpot sandbox is not available ({exc})", file=sys.stderr)
        return 2
    result = {
        "writes": bench_writes(args.write_n, args.seed),
        "backfill": bench_backfill(args.backfill_n, args.rate, args.seed),
    }
    if args.webhook_samples:
        result["webhook_to_task"] = bench_webhook(args.webhook_samples, args.seed)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
