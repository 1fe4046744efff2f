"""``leadsync demo``: both sandboxes in-process, a generated org, real clients, real syncs.

The demo's model (ICP, points, matrix) is ``demo.toml`` beside this file, which mirrors
``config.example.toml`` (a test keeps them equal); only the connections and the store are
filled in at run time (``leadsync.sandboxes``), pointing at the sandboxes and a throwaway
SQLite file.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from leadsync.config import settings_from_dict
from leadsync.engine.cycle import CycleReport, Progress
from leadsync.engine.request import CycleRequest
from leadsync.sandboxes import running_sandboxes
from leadsync.store.lookup import matrix_counts
from leadsync.wiring import build_connectors, build_engine, open_store
from sandboxes.hubspot import HubSpotSandbox
from sandboxes.salesforce import SalesforceSandbox

log = structlog.get_logger(__name__)

SF_WRITE_BATCH = 200
HS_WRITE_BATCH = 100


@dataclass
class DemoReport:
    leads: int
    hubspot_contacts: int
    first: CycleReport
    second: CycleReport
    matrix: dict[str, int]
    moved: list[dict[str, Any]]
    api_calls: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "leads": self.leads,
            "hubspot_contacts": self.hubspot_contacts,
            "first_sync": self.first.to_dict(),
            "live_sync": self.second.to_dict(),
            "matrix": self.matrix,
            "moved_by_hubspot_engagement": self.moved,
            "api_calls": self.api_calls,
            "seconds": round(self.seconds, 2),
        }


def run_demo(
    leads: int = 2_000,
    seed: int = 7,
    progress: Progress | None = None,
    say: Callable[[str], None] = lambda _text: None,
) -> DemoReport:
    started = time.monotonic()
    say(f"Generating a Salesforce org with {leads:,} leads and a HubSpot portal sharing people...")
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="leadsync-demo-")))
        world = stack.enter_context(running_sandboxes(leads, seed))
        sf, hs, shared = world.salesforce, world.hubspot, list(world.shared_emails)
        say(f"Salesforce sandbox at {sf.url} (HTTPS), HubSpot sandbox at {hs.url}")
        data = world.config_data(f"sqlite:///{folder / 'leadsync-demo.db'}")
        settings = settings_from_dict(data, "leadsync demo (built-in demo.toml)")
        store = stack.enter_context(_closing(open_store(settings)))
        connectors = build_connectors(settings)
        engine = build_engine(settings, store, connectors, progress=progress)
        say(
            "First sync (a backfill, so --no-actions: existing leads keep their owners): pull "
            "everything, score, write Fit/Score/Readiness/Team/Reason back..."
        )
        sf_before, hs_before = sf.stats(), hs.stats()
        first = engine.run(CycleRequest(no_actions=True))
        sf_first, hs_first = sf.stats(), hs.stats()
        targets = _hand_raisers_to_be(sf, hs, shared, count=5)
        say(f"Live: {len(targets)} Salesforce leads submit HubSpot's 'Contact Us' form...")
        form_guid = _contact_us_form(hs)
        for email in targets:
            hs.portal.add_form_submission(
                form_guid, {"email": email}, page_url="https://example.com/contact"
            )
        second = engine.run()
        sf_second, hs_second = sf.stats(), hs.stats()
        moved = _moved_leads(sf, targets)
        contacts = len(hs.portal.contacts())
        with store.reading() as conn:
            matrix = matrix_counts(conn)
        for connector in connectors.values():
            connector.close()
        api = {
            "salesforce": _calls(
                sf_before, sf_first, sf_second, first, second, "salesforce", SF_WRITE_BATCH
            ),
            "hubspot": _calls(
                hs_before, hs_first, hs_second, first, second, "hubspot", HS_WRITE_BATCH
            ),
        }
    return DemoReport(
        leads=leads,
        hubspot_contacts=contacts,
        first=first,
        second=second,
        matrix=matrix,
        moved=moved,
        api_calls=api,
        seconds=time.monotonic() - started,
    )


class _closing:
    def __init__(self, store: Any) -> None:
        self.store = store

    def __enter__(self) -> Any:
        return self.store

    def __exit__(self, *exc: object) -> None:
        self.store.close()


def _hand_raisers_to_be(
    sf: SalesforceSandbox, hs: HubSpotSandbox, shared: list[str], count: int
) -> list[str]:
    """Shared people whose Salesforce lead the first sync wrote, not yet a hand-raiser.

    Opted-out leads are left out: an opt-out flag with no date stays do-not-contact.
    """
    by_email = {r["Email"]: r for r in sf.org.records("Lead") if r.get("Email")}
    picked = []
    for email in shared:
        lead = by_email.get(email)
        if lead is None or lead.get("IsConverted") or lead.get("HasOptedOutOfEmail"):
            continue
        if lead.get("LeadSync_Readiness__c") not in (None, "Hand-raiser"):
            picked.append(email)
        if len(picked) == count:
            break
    return picked


def _contact_us_form(hs: HubSpotSandbox) -> str:
    for guid, form in hs.portal.forms.items():
        if "contact" in form.name.lower():
            return guid
    raise RuntimeError("the generated HubSpot portal has no Contact Us form")


def _moved_leads(sf: SalesforceSandbox, emails: list[str]) -> list[dict[str, Any]]:
    """Each lead as Salesforce now has it: LeadSync's fields, its owner and its hand-off task."""
    by_email = {r["Email"]: r for r in sf.org.records("Lead") if r.get("Email")}
    names = {u["Id"]: u.get("Name") for u in sf.org.records("User")}
    names.update({g["Id"]: g.get("Name") for g in sf.org.records("Group")})
    tasks: dict[str, list[dict[str, Any]]] = {}
    for row in sf.org.records("Task"):
        if row.get("LeadSync_Key__c"):
            tasks.setdefault(row.get("WhoId") or "", []).append(row)
    moved = []
    for email in emails:
        lead = by_email.get(email)
        if lead is None:
            continue
        found = tasks.get(lead["Id"])
        task: dict[str, Any] | None = found[0] if found else None
        moved.append(
            {
                "email": email,
                "lead": lead["Id"],
                "readiness": lead.get("LeadSync_Readiness__c"),
                "team": lead.get("LeadSync_Team__c"),
                "score": lead.get("LeadSync_Score__c"),
                "owner": names.get(lead.get("OwnerId"), lead.get("OwnerId")),
                "status": lead.get("Status"),
                "task": task.get("Subject") if task else None,
                "task_priority": task.get("Priority") if task else None,
            }
        )
    return moved


def _calls(
    before: dict[str, Any],
    first: dict[str, Any],
    second: dict[str, Any],
    first_report: CycleReport,
    second_report: CycleReport,
    name: str,
    batch: int,
) -> dict[str, Any]:
    """API calls per cycle, and the minimum the writes alone need (ceil(records / batch))."""
    first_calls = first["total"] - before["total"]
    second_calls = second["total"] - first["total"]
    return {
        "first_sync_calls": first_calls,
        "first_sync_written": first_report.written.get(name, 0),
        "first_sync_rejected": first_report.rejected.get(name, 0),
        "first_sync_write_minimum": math.ceil(first_report.written.get(name, 0) / batch),
        "live_sync_calls": second_calls,
        "live_sync_written": second_report.written.get(name, 0),
        "live_sync_write_minimum": math.ceil(second_report.written.get(name, 0) / batch),
        "by_endpoint": dict(
            Counter(second.get("by_endpoint", {})) - Counter(before.get("by_endpoint", {}))
        ),
    }
