"""Creation and conversion times against the HubSpot sandbox: every contact comes with its
``createdate``, and converted when it first entered one of the mapping's converted stages
(HubSpot's ``hs_lifecyclestage_<stage>_date``), whichever stage it is in now."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from connectors.hubspot.connector import HubSpotConnector
from connectors.hubspot.mapping import HubSpotMapping, load_mapping, read_time
from connectors.hubspot.settings import HubSpotSettings
from leadsync.records import PersonRecord
from mappings import default_mapping_path
from sandboxes.hubspot import HubSpotSandbox, generate_portal

NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)
#: A contact's walk through the stages: (stage, days after it was created).
WALKS = (
    (("lead", 0), ("opportunity", 10), ("customer", 40)),
    (("lead", 0), ("customer", 25), ("evangelist", 50)),
    (("lead", 0), ("opportunity", 5), ("lead", 20)),
)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[HubSpotSandbox]:
    portal = generate_portal(contacts=150, seed=29, now=NOW)
    rng = random.Random(29)
    # Walk some contacts through the stages, so a stage date is not their creation time.
    for contact in rng.sample(portal.live("contacts"), 60):
        created = read_time(contact.properties["createdate"])
        assert created is not None
        portal.update("contacts", contact.id, {"lifecyclestage": ""}, at=created)
        for stage, days in rng.choice(WALKS):
            moment = created + timedelta(days=days, minutes=rng.randrange(1440))
            portal.update("contacts", contact.id, {"lifecyclestage": stage}, at=moment)
    with HubSpotSandbox(portal, port=0, rate_limit_per_10s=1_000_000) as sb:
        yield sb


def _pull(sandbox: HubSpotSandbox, mapping: HubSpotMapping) -> dict[str, PersonRecord]:
    settings = HubSpotSettings(
        base_url=sandbox.url, access_token=sandbox.access_token, api_reserve=0, max_retries=2
    )
    conn = HubSpotConnector("hubspot", settings, mapping, sleep=lambda _s: None)
    try:
        return {p.ref.external_id: p for p in conn.pull_people(None) if not p.deleted}
    finally:
        conn.close()


def _entered(props: dict[str, str], stages: list[str]) -> datetime | None:
    """When the portal says the contact first entered any of ``stages``."""
    dates = [read_time(props.get(f"hs_lifecyclestage_{s}_date")) for s in stages]
    return min((d for d in dates if d is not None), default=None)


@pytest.mark.parametrize("stages", [["customer"], ["opportunity", "customer"]])
def test_contacts_carry_their_creation_and_first_conversion(
    sandbox: HubSpotSandbox, stages: list[str]
) -> None:
    mapping = load_mapping(default_mapping_path("hubspot")).model_copy(
        update={"converted_stages": stages}
    )
    pulled = _pull(sandbox, mapping)
    portal = {str(c.id): c.properties for c in sandbox.portal.live("contacts")}
    assert set(pulled) == set(portal)
    assert {i: p.created_at for i, p in pulled.items()} == {
        i: read_time(props["createdate"]) for i, props in portal.items()
    }
    expected = {i: _entered(props, stages) for i, props in portal.items()}
    converted = {i: p.converted_at for i, p in pulled.items() if expected[i] is not None}
    assert converted == {i: when for i, when in expected.items() if when is not None}
    walked_past = [i for i, p in portal.items() if expected[i] and p["lifecyclestage"] == "lead"]
    assert ("opportunity" not in stages) or walked_past  # a contact that left a converted stage
