"""``leadsync demo``: both sandboxes in-process, a generated org, real clients, real syncs.

The demo's model (ICP, points, matrix) is ``demo.toml`` beside this file, which mirrors
``config.example.toml`` (a test keeps them equal); only the connections and the store are
filled in at run time (``leadsync.sandboxes``), pointing at the sandboxes and a SQLite store in
the demo's folder. The config and the store stay there when the demo ends, so ``leadsync
status``, ``explain`` and ``report`` look at what the demo did (the sandboxes are gone: those
commands read the store only).
"""

from __future__ import annotations

import math
import shlex
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import requests
import structlog
import tomli_w
from simple_salesforce import Salesforce

from leadsync.config import Settings, settings_from_dict
from leadsync.engine.cycle import CycleReport, Progress
from leadsync.engine.request import CycleRequest
from leadsync.errors import LeadSyncError
from leadsync.sandboxes import Sandboxes, running_sandboxes
from leadsync.store.lookup import matrix_counts
from leadsync.wiring import build_connectors, build_engine, open_store
from sandboxes.hubspot import HubSpotSandbox
from sandboxes.salesforce import SalesforceSandbox

log = structlog.get_logger(__name__)

SF_WRITE_BATCH = 200
HS_WRITE_BATCH = 100

#: The demo org's share of manufacturing leads with a recent run of webinar registrations and
#: a price-sheet download (a quarter of that elsewhere): without it no good-fit lead in the
#: generated org was ever sales-ready without a hand-raise, and a matrix cell sat empty.
DEMO_ENGAGED = 0.3
#: The sales cycle the demo's conversion per cell counts in (``report``'s default).
CYCLE_DAYS = 90.0

#: The first line of a config the demo writes; a leadsync.toml without it is never replaced.
MARKER = "# Written by `leadsync demo`: the sandboxes it names stopped when the demo ended."
CONFIG_NAME = "leadsync.toml"
STORE_NAME = "leadsync.db"

#: LeadSync's fields as a Salesforce list view shows them, beside the lead's own columns.
LIST_VIEW = (
    ("Name", "Name"),
    ("Company", "Company"),
    ("Fit", "LeadSync_Fit__c"),
    ("Score", "LeadSync_Score__c"),
    ("Readiness", "LeadSync_Readiness__c"),
    ("Team", "LeadSync_Team__c"),
    ("Reason", "LeadSync_Reason__c"),
    ("Owner", "Owner.Name"),
    ("Status", "Status"),
)


#: The list view the demo opens after the syncs (one of those ``leadsync install`` makes).
SALES_VIEW = "LeadSync: sales-ready"


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
    config: Path | None = None
    #: cell -> {"leads": decided leads, "converted": of them}, as ``report`` reads the store.
    conversion: dict[str, dict[str, int]] = field(default_factory=dict)
    #: The list view install made, as its results resource gives it: label, size, columns,
    #: first rows.
    sales_view: dict[str, Any] = field(default_factory=dict)

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
            "config": str(self.config) if self.config else None,
            "conversion_per_cell": self.conversion,
            "sales_list_view": self.sales_view,
            "next_commands": self.next_commands(),
        }

    def next_commands(self) -> list[str]:
        """Commands that look at what the demo did, from the store it left behind."""
        if self.config is None:
            return []
        base = f"leadsync --config {shlex.quote(str(self.config))}"
        person = next((m["email"] for m in self.moved if m.get("email")), None)
        explain = [f"{base} explain {shlex.quote(person)}"] if person else []
        return [f"{base} status", *explain, f"{base} report"]


def prepare_folder(folder: Path) -> Path:
    """The demo's folder, emptied of an earlier demo's config and store; its config path.

    A config the demo did not write is left alone: the admin's own is never replaced.
    """
    config = folder / CONFIG_NAME
    if config.exists() and not config.read_text(encoding="utf-8").startswith(MARKER):
        raise LeadSyncError(
            f"{config} was not written by `leadsync demo`; it is left alone: pass --dir with "
            "another folder for the demo's config and store"
        )
    folder.mkdir(parents=True, exist_ok=True)
    for name in (STORE_NAME, f"{STORE_NAME}-wal", f"{STORE_NAME}-shm", CONFIG_NAME):
        (folder / name).unlink(missing_ok=True)
    return config


def write_config(config: Path, data: dict[str, Any]) -> None:
    # The sandboxes' throwaway credentials go to a file only its owner can read.
    config.touch(mode=0o600, exist_ok=True)
    config.chmod(0o600)
    config.write_text(f"{MARKER}\n{tomli_w.dumps(data)}", encoding="utf-8")


def run_demo(
    leads: int = 2_000,
    seed: int = 7,
    folder: Path = Path("leadsync-demo"),
    progress: Progress | None = None,
    say: Callable[[str], None] = lambda _text: None,
) -> DemoReport:
    started = time.monotonic()
    config = prepare_folder(folder)
    say(f"Generating a Salesforce org with {leads:,} leads and a HubSpot portal sharing people...")
    with ExitStack() as stack:
        world = stack.enter_context(running_sandboxes(leads, seed, engaged=DEMO_ENGAGED))
        sf, hs, shared = world.salesforce, world.hubspot, list(world.shared_emails)
        say(f"Salesforce sandbox at {sf.url} (HTTPS), HubSpot sandbox at {hs.url}")
        data = world.config_data(f"sqlite:///{(folder / STORE_NAME).resolve()}")
        write_config(config, data)
        settings = settings_from_dict(data, str(config))
        store = stack.enter_context(_closing(open_store(settings)))
        connectors = build_connectors(settings)
        say("leadsync install: permission sets for LeadSync and sales, Lead list views...")
        for step in connectors["salesforce"].plan_install([]):
            if step.run is not None:
                step.run()
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
        contacts = len(hs.portal.contacts())
        with store.reading() as conn:
            matrix = matrix_counts(conn)
        conversion = conversion_per_cell(store, settings)
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
        # Read back the way an admin would, after counting LeadSync's own calls.
        salesforce = _salesforce_api(sf, stack)
        moved = _list_view(salesforce, sf, targets)
        sales_view = _sales_view(salesforce, SALES_VIEW)
        api["salesforce"]["daily_limit"] = salesforce.limits()["DailyApiRequests"]["Max"]
        api["hubspot"]["daily_limit"] = _hubspot_daily_limit(world)
    return DemoReport(
        leads=leads,
        hubspot_contacts=contacts,
        first=first,
        second=second,
        matrix=matrix,
        moved=moved,
        api_calls=api,
        seconds=time.monotonic() - started,
        config=config,
        conversion=conversion,
        sales_view=sales_view,
    )


def conversion_per_cell(store: Any, settings: Settings) -> dict[str, dict[str, int]]:
    """Per matrix cell, the leads whose sales cycle has told and how many converted: each lead
    read as ``leadsync report`` reads it (fit and score at its last activity before the
    outcome), so the cells show the sandbox's hidden truth the report finds."""
    from leadsync.report import leads_from_store

    spec = settings.model_spec()
    with store.reading() as conn:
        ds = leads_from_store(
            conn,
            spec,
            fit_source=settings.identity.fit_source,
            cycle_days=CYCLE_DAYS,
            now=datetime.now(UTC),
        )
    raising = [i for i, rule in enumerate(spec.rules) if rule.interest == "hand_raiser"]
    cells: dict[str, dict[str, int]] = {}
    for lead in ds.decided:
        if any(lead.fired[i] for i in raising):
            readiness = "hand_raiser"
        elif ds.engagement(lead) >= spec.sales_ready_threshold:
            readiness = "sales_ready"
        else:
            readiness = "unready"
        cell = f"{'good' if ds.is_good_fit(lead) else 'poor'}/{readiness}"
        counts = cells.setdefault(cell, {"leads": 0, "converted": 0})
        counts["leads"] += 1
        counts["converted"] += bool(lead.converted)
    return cells


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


def _salesforce_api(sf: SalesforceSandbox, stack: ExitStack) -> Salesforce:
    session = stack.enter_context(requests.Session())
    # The sandbox's own CA; REQUESTS_CA_BUNDLE from the environment would replace it.
    session.trust_env = False
    session.verify = sf.ca_file
    return Salesforce(instance_url=sf.url, session_id=sf.access_token(), session=session)


def _list_view(api: Salesforce, sf: SalesforceSandbox, emails: list[str]) -> list[dict[str, Any]]:
    """The leads the forms moved, as a Salesforce list view shows them, with each hand-off task;
    read through the REST API (SOQL), as any Salesforce user would see them."""
    by_email = {r["Email"]: r["Id"] for r in sf.org.records("Lead") if r.get("Email")}
    ids = [by_email[e] for e in emails if e in by_email]
    if not ids:
        return []
    quoted = ", ".join(f"'{i}'" for i in ids)
    columns = ", ".join(column for _, column in LIST_VIEW)
    rows = api.query_all(f"SELECT Id, Email, {columns} FROM Lead WHERE Id IN ({quoted})")
    tasks = api.query_all(
        "SELECT WhoId, Subject, Priority FROM Task "
        f"WHERE WhoId IN ({quoted}) AND LeadSync_Key__c != null"
    )
    task_of = {t["WhoId"]: t for t in tasks["records"]}
    order = {lead: i for i, lead in enumerate(ids)}
    moved = []
    for row in sorted(rows["records"], key=lambda r: order[r["Id"]]):
        task = task_of.get(row["Id"])
        moved.append(
            {
                "email": row["Email"],
                "lead": row["Id"],
                "name": row["Name"],
                "company": row["Company"],
                "fit": row["LeadSync_Fit__c"],
                "score": row["LeadSync_Score__c"],
                "readiness": row["LeadSync_Readiness__c"],
                "team": row["LeadSync_Team__c"],
                "reason": row["LeadSync_Reason__c"],
                "owner": (row.get("Owner") or {}).get("Name"),
                "status": row["Status"],
                "task": task["Subject"] if task else None,
                "task_priority": task["Priority"] if task else None,
            }
        )
    return moved


def _sales_view(api: Salesforce, label: str, rows: int = 5) -> dict[str, Any]:
    """A list view ``leadsync install`` made, as sales opens it: its columns and first rows,
    read through the list view results resource (``/sobjects/Lead/listviews/{id}/results``),
    which runs the view's own filters and columns."""
    views = api.restful("sobjects/Lead/listviews") or {}
    view = next(v for v in views["listviews"] if v["label"] == label)
    result = api.restful(f"sobjects/Lead/listviews/{view['id']}/results", params={"limit": rows})
    assert result is not None
    shown = [i for i, c in enumerate(result["columns"]) if not c["hidden"]]
    return {
        "label": result["label"],
        "size": result["size"],
        "columns": [result["columns"][i]["label"] for i in shown],
        "rows": [[r["columns"][i]["value"] for i in shown] for r in result["records"]],
    }


def _hubspot_daily_limit(world: Sandboxes) -> int:
    """The daily allowance HubSpot reports on every response (X-HubSpot-RateLimit-Daily)."""
    answer = httpx.get(
        f"{world.hubspot.url}/crm/v3/objects/contacts",
        params={"limit": 1},
        headers={"Authorization": f"Bearer {world.hubspot.access_token}"},
    )
    answer.raise_for_status()
    return int(answer.headers["X-HubSpot-RateLimit-Daily"])


def _is_write(endpoint: str) -> bool:
    """A call that changes the CRM; reads, queries and searches (POST .../search) are pulls."""
    method, _, path = endpoint.partition(" ")
    return method != "GET" and not path.endswith("/search")


def _calls(
    before: dict[str, Any],
    first: dict[str, Any],
    second: dict[str, Any],
    first_report: CycleReport,
    second_report: CycleReport,
    name: str,
    batch: int,
) -> dict[str, Any]:
    """API calls per cycle, pulls and writes apart, and the minimum the writes alone need
    (ceil(records / batch)). OAuth token requests do not count against an org's API limit."""
    by_endpoint = dict(
        Counter(second.get("by_endpoint", {})) - Counter(before.get("by_endpoint", {}))
    )
    counted = {e: n for e, n in by_endpoint.items() if "/oauth2/" not in e}
    writes = sum(n for e, n in counted.items() if _is_write(e))
    return {
        "first_sync_calls": first["total"] - before["total"],
        "first_sync_written": first_report.written.get(name, 0),
        "first_sync_rejected": first_report.rejected.get(name, 0),
        "first_sync_write_minimum": math.ceil(first_report.written.get(name, 0) / batch),
        "live_sync_calls": second["total"] - first["total"],
        "live_sync_written": second_report.written.get(name, 0),
        "live_sync_write_minimum": math.ceil(second_report.written.get(name, 0) / batch),
        "pulls": sum(counted.values()) - writes,
        "writes": writes,
        "by_endpoint": by_endpoint,
    }
