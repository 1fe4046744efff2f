"""Shared helpers for the end-to-end tests against the HTTPS Salesforce sandbox."""

from __future__ import annotations

from typing import Any

from connectors.salesforce.connector import SalesforceConnector
from connectors.salesforce.mapping import load_mapping
from connectors.salesforce.settings import SalesforceSettings
from leadsync.errors import BudgetExhausted, RetriableSyncError
from leadsync.records import RecordRef, RecordUpdate, WriteOutcome
from sandboxes.salesforce import SalesforceSandbox


def settings_for(sb: SalesforceSandbox, **overrides: Any) -> SalesforceSettings:
    values: dict[str, Any] = {
        "login_url": sb.url,
        "auth": "client_credentials",
        "client_id": sb.client_id,
        "client_secret": sb.client_secret,
        "ca_bundle": sb.ca_file,
        "max_retries": 4,
        "api_reserve": 0,
    }
    values.update(overrides)
    return SalesforceSettings(**values)


def connector_for(sb: SalesforceSandbox, **overrides: Any) -> SalesforceConnector:
    return SalesforceConnector(
        "salesforce", settings_for(sb, **overrides), load_mapping(), sleep=lambda _s: None
    )


def lead_ids(sb: SalesforceSandbox) -> list[str]:
    """Leads LeadSync may write: not converted, not under the org's legal-hold validation rule."""
    return sorted(
        str(r["Id"])
        for r in sb.org.records("Lead")
        if not r.get("IsConverted") and not r.get("Legal_Hold__c")
    )


def updates_for(ids: list[str], seed: int = 0) -> list[RecordUpdate]:
    fits = ("good", "poor")
    readiness = ("hand_raiser", "sales_ready", "unready", "do_not_contact")
    return [
        RecordUpdate(
            RecordRef("salesforce", "Lead", lid),
            {
                "fit": fits[(i + seed) % 2],
                "readiness": readiness[(i + seed) % 4],
                "team": "sales" if (i + seed) % 3 == 0 else "marketing",
                "score": float((i * 7 + seed) % 100),
                "reason": f"checked: industry, size; points {i}",
            },
        )
        for i, lid in enumerate(ids)
    ]


def write_until_done(
    conn: SalesforceConnector, updates: list[RecordUpdate], max_cycles: int = 20
) -> int:
    """What the engine does: keep what failed (or was never sent) and retry next cycle."""
    pending = list(updates)
    cycles = 0
    while pending and cycles < max_cycles:
        cycles += 1
        try:
            outcomes: list[WriteOutcome] = conn.write(pending)
        except (BudgetExhausted, RetriableSyncError):
            continue
        pending = [u for u, o in zip(pending, outcomes, strict=True) if not o.ok]
    assert not pending, f"{len(pending)} updates still pending after {cycles} cycles"
    return cycles


OUTPUT_FIELDS = (
    "LeadSync_Fit__c",
    "LeadSync_Readiness__c",
    "LeadSync_Team__c",
    "LeadSync_Score__c",
    "LeadSync_Reason__c",
)


def lead_outputs(sb: SalesforceSandbox) -> dict[str, tuple[Any, ...]]:
    return {
        str(r["Id"]): tuple(r.get(f) for f in (*OUTPUT_FIELDS, "OwnerId"))
        for r in sb.org.records("Lead")
    }
