"""Both CRM sandboxes running together on one generated world, and a config that uses them.

A third of the Salesforce leads also live in HubSpot (same email), so HubSpot engagement can
move Salesforce leads: what a company running HubSpot for marketing and Salesforce for sales
sees. ``leadsync demo`` and ``leadsync sandbox`` both start from here.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from leadsync.config.loading import read_toml
from leadsync.errors import AddressInUse
from leadsync.ports import listening_socket
from sandboxes.hubspot import HubSpotSandbox, generate_portal
from sandboxes.salesforce import SalesforceSandbox, generate_org
from sandboxes.salesforce.generator_truth import converted_emails

#: The model the sandboxes are scored with: config.example.toml's (a test keeps them equal).
DEMO_CONFIG = Path(__file__).resolve().parent / "demo.toml"
#: What to do when a sandbox port is taken.
_REMEDY = (
    "stop that process, or pass --port with another port (HubSpot takes the next one; "
    "0 picks free ones)"
)


@dataclass(frozen=True)
class Sandboxes:
    salesforce: SalesforceSandbox
    hubspot: HubSpotSandbox
    shared_emails: tuple[str, ...]

    def config_data(self, store_url: str) -> dict[str, Any]:
        """A complete LeadSync config (as TOML data) pointing at these sandboxes."""
        sf, hs = self.salesforce, self.hubspot
        data = read_toml(DEMO_CONFIG)
        data["store"] = {"url": store_url}
        data["connectors"] = {
            "salesforce": {
                "instance_url": sf.url,
                "login_url": sf.url,
                "auth": "client_credentials",
                "client_id": sf.client_id,
                "client_secret": sf.client_secret,
                "ca_bundle": str(sf.ca_file),
            },
            "hubspot": {
                "base_url": hs.url,
                "access_token": hs.access_token,
                "client_secret": hs.client_secret,
            },
        }
        org = sf.org
        reps = sorted(
            u["Id"]
            for u in org.records("User")
            if u.get("IsActive") and u.get("Title") == "Account Executive"
        )
        # Owners and tasks live in Salesforce; HubSpot engagement moves its leads there.
        data["identity"] = {**data.get("identity", {}), "sales_crm": "salesforce"}
        data["handoff"] = {
            "enabled": True,
            "owner_status": "Working - Contacted",
            "pools": [{"name": "Account Executives", "members": reps}],
            "fallback_owner": org.assignment_queue_id,
        }
        data["recycle"] = {
            "enabled": True,
            "statuses": ["Recycled", "Unqualified"],
            "nurture_owner": org.nurture_queue_id,
            "nurture_status": "Nurture",
            "nurture_campaign": org.nurture_campaign_id,
            "nurture_list": hs.portal.nurture_list_id,
        }
        return {k: v for k, v in data.items() if v is not None}


@contextmanager
def running_sandboxes(
    leads: int,
    seed: int,
    host: str = "127.0.0.1",
    port: int = 0,
    engaged: float = 0.0,
    history_days: float = 400.0,
) -> Iterator[Sandboxes]:
    """Generate an org and a portal sharing a third of the people, and serve both.

    ``port`` 0 picks free ports; otherwise Salesforce gets ``port`` and HubSpot ``port + 1``;
    either taken raises ``AddressInUse`` (before the minutes a large org takes to generate).
    ``engaged``: the share of leads with a recent run of active engagement (``generate_org``);
    ``history_days``: how far back the org's leads entered it.
    """
    for claimed in (port, port + 1) if port else ():
        # Only a check: the sandbox servers bind for themselves once the world is generated.
        listening_socket(host, claimed, remedy=_REMEDY).close()
    now = datetime.now(UTC)
    org = generate_org(leads=leads, seed=seed, now=now, engaged=engaged, history_days=history_days)
    lead_emails = [r["Email"] for r in org.records("Lead") if r.get("Email")]
    shared = tuple(lead_emails[: len(lead_emails) // 3])
    portal = generate_portal(
        contacts=max(len(shared), leads // 2),
        seed=seed,
        now=now,
        shared_emails=shared,
        converted=converted_emails(org.records("Lead")),
    )
    with ExitStack() as stack:
        try:
            sf = stack.enter_context(SalesforceSandbox(org, host=host, port=port))
            hs = stack.enter_context(
                HubSpotSandbox(portal, host=host, port=port + 1 if port else 0)
            )
        except OSError as exc:
            # Taken in the meantime: the same one line as the check above.
            if exc.errno != errno.EADDRINUSE:
                raise
            raise _taken(host, port) from exc
        yield Sandboxes(sf, hs, shared)


def _taken(host: str, port: int) -> AddressInUse:
    return AddressInUse(
        f"cannot serve the sandboxes on {host}:{port} and {port + 1}: another process listens "
        f"on one of them; {_REMEDY}"
    )
