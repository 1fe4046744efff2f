"""Pulling past HubSpot search's 10,000-result cap, through hubspot-api-client, against the
sandbox (which refuses to page past 10,000 as HubSpot does): every changed contact exactly once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from leadsync.config import settings_from_dict
from leadsync.wiring import build_connectors
from sandboxes.hubspot import HubSpotSandbox, generate_portal

CONTACTS = 10_400


@pytest.mark.slow
def test_incremental_pull_of_more_than_10k_changed_contacts(tmp_path: Path) -> None:
    portal = generate_portal(contacts=CONTACTS, seed=5, now=datetime.now(UTC))
    with HubSpotSandbox(portal, port=0) as sandbox:
        settings = settings_from_dict(
            {
                "store": {"url": f"sqlite:///{tmp_path / 's.db'}"},
                "connectors": {
                    "hubspot": {"base_url": sandbox.url, "access_token": sandbox.access_token}
                },
            },
            "test",
        )
        connector = build_connectors(settings)["hubspot"]
        since = datetime.now(UTC) - timedelta(seconds=1)
        changed = [c.id for c in portal.live("contacts")]
        for contact_id in changed:  # every contact changes after `since`
            portal.update("contacts", contact_id, {"jobtitle": "Head of Operations"})
        pulled = [p.ref.external_id for p in connector.pull_people(since)]
        usage = connector.usage()
        connector.close()
    assert len(changed) > 10_000
    assert sorted(pulled) == sorted(str(i) for i in changed)  # all, none twice
    searches = sum(n for name, n in usage.calls_by_endpoint.items() if "search" in name)
    # 200 a page: the minimum is 53 pages; a narrowed window re-reads at most a page or two
    assert 53 <= searches <= 56, usage.calls_by_endpoint
