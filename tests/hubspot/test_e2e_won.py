"""Won deals as conversions (``[conversion] won_deal_stages``) against the HubSpot sandbox,
through hubspot-api-client: a contact on a deal in a won stage converted at its first
``closedate`` when that came before its lifecycle stage; by list, search, id and address; a
deal won later reaches the next incremental pull; and what it costs in calls."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors.hubspot.connector import HubSpotConnector
from connectors.hubspot.mapping import HubSpotMapping, load_mapping, read_time
from connectors.hubspot.settings import HubSpotSettings
from leadsync.errors import ConfigError
from leadsync.records import PersonRecord, RecordRef
from mappings import default_mapping_path
from sandboxes.hubspot import HubSpotSandbox, generate_portal


@pytest.fixture(scope="module")
def sb() -> Iterator[HubSpotSandbox]:
    with HubSpotSandbox(
        generate_portal(contacts=400, seed=31),
        port=0,
        rate_limit_per_10s=1_000_000,
        search_rate_per_s=1_000_000,  # the call counts below hold no 429 retries
    ) as sandbox:
        yield sandbox


def _mapping(stages: list[str]) -> HubSpotMapping:
    mapping = load_mapping(default_mapping_path("hubspot"))
    conversion = mapping.conversion.model_copy(update={"won_deal_stages": stages})
    return mapping.model_copy(update={"conversion": conversion})


def _connector(sb: HubSpotSandbox, stages: list[str] | None = None) -> HubSpotConnector:
    settings = HubSpotSettings(
        base_url=sb.url, access_token=sb.access_token, api_reserve=0, max_retries=2
    )
    mapping = _mapping(["closedwon"] if stages is None else stages)
    return HubSpotConnector("hubspot", settings, mapping, sleep=lambda _s: None)


def _expected(sb: HubSpotSandbox) -> dict[str, datetime | None]:
    portal = sb.portal
    expected: dict[str, datetime | None] = {}
    for contact in portal.live("contacts"):
        props = contact.properties
        moments = [read_time(props.get("hs_lifecyclestage_customer_date"))]
        for deal_id in portal.associated("contacts", contact.id, "deals"):
            deal = portal.objects["deals"][deal_id]
            if not deal.archived and deal.properties.get("dealstage") == "closedwon":
                moments.append(read_time(deal.properties.get("closedate")))
        expected[str(contact.id)] = min((m for m in moments if m is not None), default=None)
    return expected


def _converted(people: list[PersonRecord]) -> dict[str, datetime | None]:
    return {p.ref.external_id: p.converted_at for p in people if not p.deleted}


def _won_deal(sb: HubSpotSandbox, contact: int, stage: str, close: datetime) -> int:
    portal = sb.portal
    deal = portal.insert(
        "deals",
        {"dealname": "Order", "pipeline": "default", "dealstage": stage, "closedate": close},
    )
    portal.associate("deals", deal.id, "contacts", contact)
    return deal.id


def _plain_contact(sb: HubSpotSandbox) -> int:
    """A contact on no deal, not a customer."""
    portal = sb.portal
    return next(
        c.id
        for c in portal.live("contacts")
        if not portal.associated("contacts", c.id, "deals")
        and c.properties.get("lifecyclestage") != "customer"
    )


def test_a_full_pull_dates_contacts_by_their_first_won_close(sb: HubSpotSandbox) -> None:
    # A deal won before the contact became a customer, and one on a contact that never did.
    early = _plain_contact(sb)
    _won_deal(sb, early, "closedwon", datetime(2024, 3, 1, tzinfo=UTC))
    _won_deal(sb, early, "closedlost", datetime(2023, 3, 1, tzinfo=UTC))
    expected = _expected(sb)
    assert expected[str(early)] == datetime(2024, 3, 1, tzinfo=UTC)
    assert any(sb.portal.objects["deals"]), "the generated portal has deals"

    pulled = _converted(list(_connector(sb).pull_people(None)))
    assert pulled == expected
    plain = _converted(list(_connector(sb, []).pull_people(None)))
    assert plain[str(early)] is None


def test_reads_by_id_and_address_agree_with_the_pull(sb: HubSpotSandbox) -> None:
    expected = _expected(sb)
    connector = _connector(sb)
    refs = [RecordRef("hubspot", "contact", i) for i in expected]
    assert _converted(connector.read_people(refs)) == expected
    emails = [
        c.properties["email"] for c in sb.portal.live("contacts") if c.properties.get("email")
    ]
    for person in connector.find_people(emails):
        assert person.converted_at == expected[person.ref.external_id]


def test_a_deal_won_later_reaches_the_next_incremental_pull(sb: HubSpotSandbox) -> None:
    contact = _plain_contact(sb)
    close = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    deal = _won_deal(sb, contact, "contractsent", close + timedelta(days=30))
    since = datetime.now(UTC) + timedelta(milliseconds=5)
    connector = _connector(sb)
    assert [p for p in connector.pull_people(since) if p.ref.external_id == str(contact)] == []

    sb.portal.update("deals", deal, {"dealstage": "closedwon", "closedate": close})
    pulled = [p for p in connector.pull_people(since) if p.ref.external_id == str(contact)]
    assert [p.converted_at for p in pulled] == [close]


@pytest.mark.parametrize("stage", ["closedlost", "contractsent"], ids=["lost", "reopened"])
def test_a_deal_un_won_reaches_the_next_incremental_pull(sb: HubSpotSandbox, stage: str) -> None:
    """A won deal moved to another stage stamps the deal, not its contact: the next pull reads
    the contact again and it is no longer converted (it was until its own record changed)."""
    contact = _plain_contact(sb)
    close = datetime.now(UTC).replace(microsecond=0) - timedelta(days=4)
    deal = _won_deal(sb, contact, "closedwon", close)
    connector = _connector(sb)
    [won] = connector.read_people([RecordRef("hubspot", "contact", str(contact))])
    assert won.converted_at == close
    since = datetime.now(UTC) + timedelta(milliseconds=5)
    before = [p for p in connector.pull_people(since) if p.ref.external_id == str(contact)]
    assert [p.converted_at for p in before] in ([], [close])

    sb.portal.update("deals", deal, {"dealstage": stage})
    pulled = [p for p in connector.pull_people(since) if p.ref.external_id == str(contact)]
    assert [p.converted_at for p in pulled] == [None]
    assert _expected(sb)[str(contact)] is None


def _calls(connector: HubSpotConnector) -> int:
    return connector.usage().calls


def test_what_the_option_costs_in_calls(sb: HubSpotSandbox) -> None:
    """Full pull: the won deals by search and their contacts' associations. Quiet cycle: one
    deal search. Per 100 contacts pulled: an association read and a deal batch read."""
    people = len(sb.portal.live("contacts"))
    costs = {}
    for stages in ([], ["closedwon"]):
        full = _connector(sb, stages)
        list(full.pull_people(None))
        quiet = _connector(sb, stages)
        # (generated contacts may be stamped up to three days ahead)
        assert list(quiet.pull_people(datetime.now(UTC) + timedelta(days=4))) == []
        costs[bool(stages)] = (_calls(full), _calls(quiet))
    (full_off, quiet_off), (full_on, quiet_on) = costs[False], costs[True]
    print(
        f"\n{people} contacts; full pull {full_off} -> {full_on} calls; quiet cycle "
        f"{quiet_off} -> {quiet_on}"
    )
    assert full_on - full_off == 2  # one search page of won deals, one association read
    assert quiet_on - quiet_off == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'won_deal_stages = "closedwon"',
            "conversion.won_deal_stages: Input should be a valid list",
        ),
        (
            'won_deal_stages = ["closed won"]',
            "conversion.won_deal_stages: 'closed won' is not a deal stage's internal value; "
            "allowed: letters, digits and _ . : -",
        ),
        ("won_deals = []", "conversion.won_deals: unknown key (did you mean 'won_deal_stages'?)"),
    ],
)
def test_a_wrong_conversion_setting_names_file_key_and_allowed_values(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "hubspot.toml"
    path.write_text(f"[conversion]\n{text}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_mapping(path)
    assert f"{path}: {message}" in str(err.value)
