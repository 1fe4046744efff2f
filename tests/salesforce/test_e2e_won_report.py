"""``leadsync report`` counts a lead converted only by a won opportunity, dated by its close:
a backfill against the HTTPS sandbox with ``[conversion] won_opportunities = true``, then the
report's dataset read from the store (as ``leadsync report`` reads it)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from leadsync.config import settings_from_dict
from leadsync.engine.request import CycleRequest
from leadsync.report import leads_from_store
from leadsync.store import Store
from leadsync.store.schema import crm_records
from leadsync.wiring import build_connectors, build_engine
from mappings import default_mapping_path
from sandboxes.salesforce import SalesforceSandbox, generate_org


@pytest.fixture(scope="module")
def sb() -> Iterator[SalesforceSandbox]:
    with SalesforceSandbox(generate_org(leads=60, seed=44), port=0) as sandbox:
        yield sandbox


def _won_by_contact(sb: SalesforceSandbox) -> tuple[dict[str, Any], date]:
    """An open lead whose person (the same address, as a Contact) is on an opportunity won
    ten days after the lead entered: converted by nothing else."""
    org = sb.org
    now = datetime.now(UTC)
    lead = next(
        row
        for row in org.records("Lead")
        if row["Email"]
        and not row["IsConverted"]
        and now - row["CreatedDate"] > timedelta(days=30)
        and sum(1 for other in org.records("Lead") if other["Email"] == row["Email"]) == 1
    )
    contact = org.insert("Contact", {"LastName": lead["LastName"], "Email": lead["Email"]})
    close = (lead["CreatedDate"] + timedelta(days=10)).date()
    opportunity = org.insert(
        "Opportunity", {"Name": "First order", "StageName": "Closed Won", "CloseDate": close}
    )
    org.insert("OpportunityContactRole", {"OpportunityId": opportunity, "ContactId": contact})
    return lead, close


def _report_leads(sb: SalesforceSandbox, folder: Path, won: bool) -> tuple[Any, Store]:
    text = default_mapping_path("salesforce").read_text(encoding="utf-8")
    mapping = folder / "salesforce.toml"
    mapping.write_text(
        text.replace("won_opportunities = false", f"won_opportunities = {str(won).lower()}"),
        encoding="utf-8",
    )
    data: dict[str, Any] = {
        "store": {"url": f"sqlite:///{folder / 'state.db'}"},
        "connectors": {
            "salesforce": {
                "instance_url": sb.url,
                "login_url": sb.url,
                "auth": "client_credentials",
                "client_id": sb.client_id,
                "client_secret": sb.client_secret,
                "ca_bundle": str(sb.ca_file),
                "mapping": str(mapping),
            }
        },
    }
    settings = settings_from_dict(data, "test")
    store = Store(settings.store.url)
    engine = build_engine(settings, store, build_connectors(settings))
    report = engine.run(CycleRequest(full=True, no_actions=True))
    assert report.status == "ok", report.errors
    with store.reading() as conn:
        ds = leads_from_store(
            conn,
            settings.model_spec(),
            fit_source=settings.identity.fit_source,
            cycle_days=90,
            now=datetime.now(UTC),
        )
    return ds, store


def _person_of(store: Store, external_id: str) -> str:
    with store.reading() as conn:
        query = sa.select(crm_records.c.person_id).where(crm_records.c.external_id == external_id)
        return str(conn.execute(query).scalar_one())


def test_a_lead_converted_only_by_a_won_opportunity_counts_dated_by_its_close(
    sb: SalesforceSandbox, tmp_path: Path
) -> None:
    lead, close = _won_by_contact(sb)
    closed_at = datetime.combine(close, time(), UTC)
    converted: dict[bool, tuple[bool | None, datetime | None]] = {}
    counted: dict[bool, int] = {}
    for won in (False, True):
        folder = tmp_path / f"won-{won}"
        folder.mkdir()
        ds, store = _report_leads(sb, folder, won)
        try:
            key = _person_of(store, str(lead["Id"]))
        finally:
            store.close()
        [row] = [item for item in ds.leads if item.key == key]
        assert row.entered_at == lead["CreatedDate"]
        converted[won] = (row.converted, row.converted_at)
        # Contacts the generated org converts by a won opportunity alone count only with it.
        counted[won] = sum(1 for item in ds.leads if item.converted_at is not None)
    assert converted[False] == (False, None)
    assert converted[True] == (True, closed_at)
    assert counted[True] > counted[False] + 1
