"""Won opportunities as conversions (``[conversion] won_opportunities``) against the HTTPS
sandbox: a Contact on a won Opportunity converted at its first CloseDate, a Lead at the
earlier of its ConvertedDate and its converted opportunity's close; by REST, Bulk, id and
address; a close won later reaches the next incremental pull; and what it costs in calls."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta

import pytest

from connectors.salesforce.connector import SalesforceConnector
from connectors.salesforce.mapping import load_mapping
from leadsync.records import PersonRecord, RecordRef
from sandboxes.salesforce import SalesforceSandbox, generate_org

from .e2e_support import settings_for


@pytest.fixture(scope="module")
def sb() -> Iterator[SalesforceSandbox]:
    with SalesforceSandbox(generate_org(leads=240, seed=43), port=0) as sandbox:
        yield sandbox


def _connector(sb: SalesforceSandbox, won: bool = True, **overrides: object) -> SalesforceConnector:
    mapping = load_mapping()
    mapping = mapping.model_copy(
        update={"conversion": mapping.conversion.model_copy(update={"won_opportunities": won})}
    )
    return SalesforceConnector(
        "salesforce", settings_for(sb, **overrides), mapping, sleep=lambda _s: None
    )


def _midnight(day: object) -> datetime:
    assert isinstance(day, date)
    return datetime.combine(day, time(), UTC)


def _expected(sb: SalesforceSandbox) -> dict[str, datetime | None]:
    """What the org says each live Lead and Contact converted at, won opportunities counted."""
    org = sb.org
    won = {
        str(o["Id"]): _midnight(o["CloseDate"]) for o in org.records("Opportunity") if o["IsWon"]
    }
    closes: dict[str, datetime] = {}
    for role in org.records("OpportunityContactRole"):
        close = won.get(str(role["OpportunityId"]))
        contact = str(role["ContactId"])
        if close is not None:
            closes[contact] = min(close, closes.get(contact, close))
    expected: dict[str, datetime | None] = {}
    for lead in org.records("Lead"):
        moments = []
        if lead["IsConverted"]:
            moments.append(_midnight(lead["ConvertedDate"]))
            if lead["ConvertedOpportunityId"] in won:
                moments.append(won[lead["ConvertedOpportunityId"]])
        expected[str(lead["Id"])] = min(moments, default=None)
    for contact in org.records("Contact"):
        expected[str(contact["Id"])] = closes.get(str(contact["Id"]))
    return expected


def _converted(people: list[PersonRecord]) -> dict[str, datetime | None]:
    return {p.ref.external_id: p.converted_at for p in people if not p.deleted}


@pytest.mark.parametrize("bulk_query_threshold", [10_000, 1], ids=["rest", "bulk"])
def test_a_full_pull_dates_people_by_their_first_won_close(
    sb: SalesforceSandbox, bulk_query_threshold: int
) -> None:
    expected = _expected(sb)
    contacts = {str(c["Id"]) for c in sb.org.records("Contact")}
    only_won = [i for i in contacts if expected[i] is not None]
    assert only_won, "the generated org has contacts converted by a won opportunity alone"
    on_other = {
        str(r["ContactId"])
        for r in sb.org.records("OpportunityContactRole")
        if not (sb.org.get("Opportunity", str(r["OpportunityId"])) or {}).get("IsWon")
    }
    assert on_other - set(only_won), "some contacts sit on open or lost opportunities only"
    # A converted lead whose opportunity was won later still converted when it converted.
    assert any(
        lead["ConvertedOpportunityId"]
        and expected[str(lead["Id"])] == _midnight(lead["ConvertedDate"])
        for lead in sb.org.records("Lead")
    )

    connector = _connector(sb, bulk_query_threshold=bulk_query_threshold)
    assert _converted(list(connector.pull_people(None))) == expected

    without = _connector(sb, won=False, bulk_query_threshold=bulk_query_threshold)
    plain = _converted(list(without.pull_people(None)))
    assert all(plain[i] is None for i in contacts)


def test_reads_by_id_and_address_agree_with_the_pull(sb: SalesforceSandbox) -> None:
    """A webhook's read or an address lookup must not undo what the pull found."""
    expected = _expected(sb)
    connector = _connector(sb)
    contacts = [c for c in sb.org.records("Contact") if c["Email"]]
    refs = [RecordRef("salesforce", "Contact", str(c["Id"])) for c in contacts]
    assert _converted(connector.read_people(refs)) == {
        r.external_id: expected[r.external_id] for r in refs
    }
    found = connector.find_people([str(c["Email"]) for c in contacts])
    for person in found:
        assert person.converted_at == expected[person.ref.external_id]


def test_a_won_close_reaches_the_next_incremental_pull(sb: SalesforceSandbox) -> None:
    """An opportunity won after the last cycle moves its stamp, not its contact's: the next
    pull still brings the contact, converted at the close."""
    org = sb.org
    contact = next(
        c
        for c in org.records("Contact")
        if _expected(sb)[str(c["Id"])] is None and c["Email"] and c["AccountId"]
    )
    close = date.today() - timedelta(days=3)
    opportunity = org.insert(
        "Opportunity",
        {"Name": "Renewal", "StageName": "Negotiation/Review", "CloseDate": close + timedelta(20)},
    )
    org.insert("OpportunityContactRole", {"OpportunityId": opportunity, "ContactId": contact["Id"]})
    since = datetime.now(UTC) + timedelta(milliseconds=5)
    connector = _connector(sb)
    # SOQL compares whole seconds, so a role made this second may be read again: unconverted.
    before = [p for p in connector.pull_people(since) if p.ref.external_id == contact["Id"]]
    assert [p.converted_at for p in before] in ([], [None])

    org.update("Opportunity", opportunity, {"StageName": "Closed Won", "CloseDate": close})
    assert org.raw("Contact", str(contact["Id"]))["SystemModstamp"] < since  # type: ignore[index]
    pulled = [p for p in connector.pull_people(since) if p.ref.external_id == contact["Id"]]
    assert [p.converted_at for p in pulled] == [_midnight(close)]


def _unwin(org: object, how: str, opportunity: str, role: str) -> None:
    if how == "lost":
        org.update("Opportunity", opportunity, {"StageName": "Closed Lost"})  # type: ignore[attr-defined]
    elif how == "reopened":
        org.update("Opportunity", opportunity, {"StageName": "Negotiation/Review"})  # type: ignore[attr-defined]
    elif how == "deleted":
        org.delete("Opportunity", opportunity)  # type: ignore[attr-defined]
    else:
        org.delete("OpportunityContactRole", role)  # type: ignore[attr-defined]


@pytest.mark.parametrize("how", ["lost", "reopened", "deleted", "role removed"])
def test_a_sale_un_won_reaches_the_next_incremental_pull(sb: SalesforceSandbox, how: str) -> None:
    """A won opportunity reopened, lost, deleted, or its contact taken off it, moves the
    opportunity's or the role's stamp, not the contact's: the next pull reads the contact
    again and it is no longer converted (it was until its own record changed)."""
    org = sb.org
    contact = next(
        c
        for c in org.records("Contact")
        if _expected(sb)[str(c["Id"])] is None
        and c["Email"]
        and not any(r["ContactId"] == c["Id"] for r in org.records("OpportunityContactRole"))
    )
    close = date.today() - timedelta(days=5)
    opportunity = org.insert(
        "Opportunity", {"Name": f"Deal {how}", "StageName": "Closed Won", "CloseDate": close}
    )
    role = org.insert(
        "OpportunityContactRole", {"OpportunityId": opportunity, "ContactId": contact["Id"]}
    )
    connector = _connector(sb)
    [won] = connector.read_people([RecordRef("salesforce", "Contact", str(contact["Id"]))])
    assert won.converted_at == _midnight(close)
    since = datetime.now(UTC) + timedelta(milliseconds=5)
    before = [p for p in connector.pull_people(since) if p.ref.external_id == contact["Id"]]
    assert [p.converted_at for p in before] in ([], [_midnight(close)])

    _unwin(org, how, opportunity, role)
    assert org.raw("Contact", str(contact["Id"]))["SystemModstamp"] < since  # type: ignore[index]
    pulled = [p for p in connector.pull_people(since) if p.ref.external_id == contact["Id"]]
    assert [p.converted_at for p in pulled] == [None]
    assert _expected(sb)[str(contact["Id"])] is None


def _calls(connector: SalesforceConnector) -> int:
    return sum(
        n for endpoint, n in connector.usage().calls_by_endpoint.items() if "oauth2" not in endpoint
    )


def test_what_the_option_costs_in_calls(sb: SalesforceSandbox) -> None:
    """Full pull: one pass over the won opportunities' roles (2,000 a page). Incremental:
    one query per 200 Contacts pulled, one for the won opportunities changed since, and a
    read by id (and its roles) of the Contacts those reach that the pull did not bring."""
    people = len(sb.org.records("Lead")) + len(sb.org.records("Contact"))
    since = datetime.now(UTC) - timedelta(days=30)
    costs = {}
    for won in (False, True):
        full = _connector(sb, won=won)
        list(full.pull_people(None))
        quiet = _connector(sb, won=won)
        assert list(quiet.pull_people(datetime.now(UTC) + timedelta(seconds=1))) == []
        busy = _connector(sb, won=won)
        pulled = list(busy.pull_people(since))
        costs[won] = (_calls(full), _calls(quiet), _calls(busy), pulled)
    (full_off, quiet_off, busy_off, pulled_off) = costs[False]
    (full_on, quiet_on, busy_on, pulled_on) = costs[True]
    contacts = sum(1 for p in pulled_off if p.ref.object_type == "Contact" and not p.deleted)
    missed = len(pulled_on) - len(pulled_off)
    print(
        f"\n{people} people; full pull {full_off} -> {full_on} calls; quiet cycle {quiet_off} "
        f"-> {quiet_on}; cycle pulling {contacts} contacts {busy_off} -> {busy_on} "
        f"({missed} more contacts read for their won opportunities)"
    )
    assert full_on - full_off == 1
    assert quiet_on - quiet_off == 1
    assert busy_on - busy_off == -(-contacts // 200) + 1 + (2 if missed else 0)


def test_contacts_merged_carry_their_won_sale_to_the_survivor(sb: SalesforceSandbox) -> None:
    """Merging contacts moves the loser's contact roles to the survivor (Salesforce reparents
    related records): the next pull reads the survivor, converted at the loser's close, and
    the loser as deleted."""
    org = sb.org
    plain = [
        c for c in org.records("Contact")
        if _expected(sb)[str(c["Id"])] is None and c["Email"]
        and not any(r["ContactId"] == c["Id"] for r in org.records("OpportunityContactRole"))
    ]  # fmt: skip
    survivor, loser = str(plain[0]["Id"]), str(plain[1]["Id"])
    close = date.today() - timedelta(days=6)
    opportunity = org.insert(
        "Opportunity", {"Name": "Merged deal", "StageName": "Closed Won", "CloseDate": close}
    )
    org.insert("OpportunityContactRole", {"OpportunityId": opportunity, "ContactId": loser})
    since = datetime.now(UTC) + timedelta(milliseconds=5)
    connector = _connector(sb)
    list(connector.pull_people(since))
    org.merge("Contact", survivor, loser)
    pulled = {p.ref.external_id: p for p in connector.pull_people(since)}
    assert pulled[survivor].converted_at == _midnight(close) and not pulled[survivor].deleted
    assert pulled[loser].deleted
