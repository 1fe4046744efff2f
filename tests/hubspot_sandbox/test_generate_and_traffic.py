"""The generated portal is deterministic and messy in the right ways; traffic and TLS work."""

from __future__ import annotations

from hubspot import HubSpot

from sandboxes.hubspot import HubSpotSandbox, generate_portal
from sandboxes.hubspot.schema import EMPLOYEE_RANGES
from sandboxes.hubspot.traffic import TrafficGenerator
from tests.hubspot_sandbox.conftest import NOW, SHARED


def _emails(portal: object) -> list[str]:
    return [c["properties"]["email"] for c in portal.contacts()]  # type: ignore[attr-defined]


def test_same_seed_same_portal_and_shared_people(portal: object) -> None:
    again = generate_portal(contacts=400, seed=11, now=NOW, shared_emails=SHARED)
    assert _emails(again) == _emails(portal)
    assert set(SHARED) <= set(_emails(portal))


def test_values_are_realistically_messy(portal: object) -> None:
    contacts = [c["properties"] for c in portal.contacts()]  # type: ignore[attr-defined]
    sizes = {c.get("numemployees", "") for c in contacts}
    assert "" in sizes and sizes - {""} <= set(EMPLOYEE_RANGES)
    countries = {c.get("country", "") for c in contacts}
    assert {"USA", "United States"} <= countries and "" in countries
    stages = {c["lifecyclestage"] for c in contacts}
    assert {"subscriber", "lead", "marketingqualifiedlead", "customer"} <= stages
    assert any(c["hs_email_optout"] == "true" for c in contacts)


def test_traffic_changes_the_portal() -> None:
    portal = generate_portal(contacts=30, seed=5, now=NOW)
    before = (len(portal.contacts()), len(portal.email_events))
    traffic = TrafficGenerator(portal, seed=5)
    actions = [traffic.step() for _ in range(60)]
    assert len(set(actions)) >= 5
    assert (len(portal.contacts()), len(portal.email_events)) > before
    assert sum(traffic.counts.values()) == 60


def test_tls_with_the_generated_ca() -> None:
    with HubSpotSandbox(generate_portal(5, seed=1, now=NOW), tls=True) as sb:
        assert sb.url.startswith("https://") and sb.ca_file
        client = HubSpot(access_token=sb.access_token, host=sb.url, ssl_ca_cert=sb.ca_file)
        assert len(client.crm.contacts.basic_api.get_page(limit=5).results) == 5
