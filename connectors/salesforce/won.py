"""Won opportunities as conversions (``[conversion] won_opportunities = true``).

A person converted when their Lead converted (``ConvertedDate``) or, with the option on, when
the first won Opportunity (``IsWon``) they are on closed (``CloseDate``, a date: midnight UTC,
as ``ConvertedDate`` reads), whichever came first. An Opportunity reaches a person two ways:

* an ``OpportunityContactRole`` names their Contact (``ContactId``): read here;
* their Lead was converted into it (``Lead.ConvertedOpportunityId``): read with the Lead
  itself (``ConvertedOpportunity.IsWon``/``CloseDate``, see ``pull.person_plan``), no call.

What it costs, in REST queries (each answers up to 2,000 rows):

=====================================  ==================================================
people read by id or address            one contact-role query per 200 Contacts
incremental pull                        the same, per 200 Contacts pulled; plus one
                                        ``queryAll`` of the roles on opportunities changed
                                        since the cursor (won, lost, reopened or deleted), and
                                        a read by id of those Contacts the pull did not bring
full pull (backfill)                    one pass over every won opportunity's contact roles
=====================================  ==================================================

An opportunity un-won after it was read (reopened, set to lost, deleted, or the contact's role
removed) reaches the next incremental pull the same way: its people are read again, and those on
no other won opportunity are no longer converted by it. A role *moved* to another contact
(``ContactId`` edited) reaches the new contact only: the one it left stays converted until its
own record changes or a backfill reads it (the role keeps no trace of whom it named before).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

import structlog

from connectors.salesforce import soql
from connectors.salesforce.client import SalesforceClient
from connectors.salesforce.pull import earliest, flatten, parse_datetime
from leadsync.records import PersonRecord

log = structlog.get_logger(__name__)

#: Contacts per ``ContactId IN (...)`` query (the same bound as every ``Id IN`` query).
CONTACTS_PER_QUERY = 200

_ROLE_FIELDS = ("ContactId", "Opportunity.CloseDate")
_WON = soql.eq("Opportunity.IsWon", True)


def _closes(rows: Iterable[Mapping[str, object]], into: dict[str, datetime]) -> None:
    """Fold contact-role rows into contact id -> the earliest close date."""
    for record in rows:
        row = flatten(record)
        contact, day = row.get("ContactId"), row.get("Opportunity.CloseDate")
        if not isinstance(contact, str) or not isinstance(day, str):
            continue
        try:
            when = parse_datetime(day)
        except (ValueError, OverflowError):
            log.warning("salesforce.won.unreadable_close_date", contact=contact, value=day)
            continue
        if when is not None:
            into[contact] = earliest(into.get(contact), when) or when


class WonOpportunities:
    """Reads which Contacts are on won opportunities, and when the first one closed
    (``connectors.won_sales.WonSales``: when a pull reads them is shared by every CRM)."""

    batch = CONTACTS_PER_QUERY

    def __init__(self, client: SalesforceClient) -> None:
        self.client = client

    def can_close(self, person: PersonRecord) -> bool:
        """A live Contact: what a contact role names (a Lead's own sale is read with it)."""
        ref = person.ref
        return ref.object_type == "Contact" and not person.deleted and bool(ref.external_id)

    def of_people(self, people: Sequence[PersonRecord]) -> dict[str, datetime]:
        return self.of_contacts([p.ref.external_id for p in people if self.can_close(p)])

    def all_people(self) -> dict[str, datetime]:
        return self.all_contacts()

    def _query(self, where: Sequence[soql.Condition], into: dict[str, datetime]) -> None:
        query = soql.select(_ROLE_FIELDS, "OpportunityContactRole", [_WON, *where])
        for _, records in self.client.query_pages(query):
            _closes(records, into)

    def all_contacts(self) -> dict[str, datetime]:
        """Every Contact on a won opportunity: one pass (a full pull's)."""
        found: dict[str, datetime] = {}
        self._query([], found)
        log.info("salesforce.won.read", contacts=len(found), scope="all")
        return found

    def of_contacts(self, contact_ids: Sequence[str]) -> dict[str, datetime]:
        """These Contacts' first won close dates (those on none are left out)."""
        ids = list(dict.fromkeys(contact_ids))
        found: dict[str, datetime] = {}
        for start in range(0, len(ids), CONTACTS_PER_QUERY):
            chunk = ids[start : start + CONTACTS_PER_QUERY]
            self._query([soql.is_in("ContactId", chunk)], found)
        return found

    def changed_since(self, since: datetime) -> list[str]:
        """Contacts on an opportunity whose role or opportunity changed at or after ``since``,
        won or not, deleted or not (``queryAll``): a close won since the last cycle moves the
        opportunity's stamp, and so does a sale reopened, lost or deleted, whose people must be
        read again to lose the conversion it gave them."""
        changed = soql.any_of(
            soql.ge("SystemModstamp", since), soql.ge("Opportunity.SystemModstamp", since)
        )
        query = soql.select(("ContactId",), "OpportunityContactRole", [changed])
        found: dict[str, None] = {}
        for _, records in self.client.query_pages(query, include_deleted=True):
            for record in records:
                contact = record.get("ContactId")
                if isinstance(contact, str) and contact:
                    found[contact] = None
        log.info("salesforce.won.read", contacts=len(found), scope="changed")
        return list(found)
