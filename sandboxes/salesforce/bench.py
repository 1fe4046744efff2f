"""Measure the sandbox: ``python -m sandboxes.salesforce.bench [--leads N]``.

Reports generate_org time and traced peak memory, and sObject Collections update throughput
(200-record PATCH calls over HTTPS through one keep-alive session).
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from collections import Counter
from typing import Any

import requests

from sandboxes.salesforce.generator import generate_org
from sandboxes.salesforce.server import SalesforceSandbox


def measure_generation(leads: int) -> dict[str, Any]:
    """Seconds, and growth of the process's peak RSS in MiB, to generate ``leads`` leads.

    Run it first in a fresh process: peak RSS only grows, so later runs under-report.
    """
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    org = generate_org(leads=leads, seed=7)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    records = sum(len(org.rows(name)) for name in org.schema)
    return {
        "leads": leads,
        "records": records,
        "seconds": round(seconds, 2),
        "peak_rss_growth_mib": round((after - before) / 1024, 1),
    }


def measure_collections(leads: int = 5000, calls: int = 50) -> dict[str, Any]:
    """Records per second updated through ``PATCH /composite/sobjects`` (200 per call)."""
    org = generate_org(leads=leads, seed=7)
    ids = [
        r["Id"]
        for r in org.rows("Lead")
        if not r.get("IsDeleted") and not r.get("IsConverted") and not r.get("Legal_Hold__c")
    ]
    with SalesforceSandbox(org) as sandbox:
        session = requests.Session()
        session.verify = sandbox.ca_file
        session.trust_env = False
        headers = {
            "Authorization": f"Bearer {sandbox.access_token()}",
            "Sforce-Auto-Assign": "FALSE",
        }
        url = f"{sandbox.url}/services/data/v62.0/composite/sobjects"
        started = time.perf_counter()
        written = 0
        failures: Counter[str] = Counter()
        for call in range(calls):
            chunk = ids[(call * 200) % len(ids) :][:200]
            records = [
                {
                    "attributes": {"type": "Lead"},
                    "Id": i,
                    "LeadSync_Score__c": call,
                    "LeadSync_Fit__c": "Good",
                    "LeadSync_Reason__c": "bench",
                }
                for i in chunk
            ]
            response = session.patch(
                url, json={"allOrNone": False, "records": records}, headers=headers
            )
            response.raise_for_status()
            results = response.json()
            written += sum(1 for r in results if r["success"])
            failures.update(e["statusCode"] for r in results for e in r.get("errors", []))
        seconds = time.perf_counter() - started
    return {
        "calls": calls,
        "records": written,
        "seconds": round(seconds, 2),
        "calls_per_s": round(calls / seconds, 1),
        "records_per_s": round(written / seconds),
        "rejected": dict(failures),
    }


def main(argv: list[str] | None = None) -> None:
    """Print both measurements as JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leads", type=int, default=100_000)
    args = parser.parse_args(argv)
    print(
        json.dumps(
            {
                "generate_org": measure_generation(args.leads),
                "collections_update": measure_collections(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
