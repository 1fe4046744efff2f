"""Won deals as conversions (``[conversion] won_deal_stages = ["closedwon"]``).

A contact converted when it entered a converted lifecycle stage or, with the option on, when
the first deal it is associated with that is in a won stage closed (``closedate``), whichever
came first. Deals reach contacts through the v4 associations (default type 4 contact -> deal,
3 deal -> contact).

What it costs:

==================================  ====================================================
contacts read by id or address,     v4 association batch read contact -> deal (1,000
or pulled in an incremental cycle   contacts a call), then the deals by batch read (100
                                    a call; only contacts that have deals)
incremental pull, also              one deal search a cycle (every deal modified since
                                    the cursor, any stage; 200 a page, the search rate
                                    limit), the deals' contacts (1,000 deals a call), and
                                    those the pull did not bring read by id
full pull (backfill)                one pass: the won deals by search (200 a page), and
                                    their contacts (1,000 deals a call)
==================================  ====================================================

A deal moved out of a won stage after it was read (reopened, lost) reaches the next incremental
pull the same way: its contacts are read again, and those on no other won deal are no longer
converted by it. A deal deleted is not seen until its contacts change or a backfill reads
everyone: the CRM search returns no archived deal (seeing it at once needs webhooks).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import structlog

from connectors.hubspot.client import HubSpotClient
from connectors.hubspot.history import associated
from connectors.hubspot.mapping import parse_time
from connectors.hubspot.pull import BATCH_READ, search_modified_since
from leadsync.records import PersonRecord

log = structlog.get_logger(__name__)

_MODIFIED = "hs_lastmodifieddate"
_DEAL_PROPERTIES = ("dealstage", "closedate", _MODIFIED)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class WonDeals:
    """Reads which contacts are on won deals, and when the first one closed
    (``connectors.won_sales.WonSales``: when a pull reads them is shared by every CRM)."""

    batch = BATCH_READ

    def __init__(self, client: HubSpotClient, stages: Sequence[str]) -> None:
        self.client = client
        self.stages = [s.casefold() for s in stages]

    def can_close(self, person: PersonRecord) -> bool:
        """A live contact (archived ones carry no associations)."""
        return not person.deleted and bool(person.ref.external_id)

    def of_people(self, people: Sequence[PersonRecord]) -> dict[str, datetime]:
        return self.of_contacts([p.ref.external_id for p in people if self.can_close(p)])

    def all_people(self) -> dict[str, datetime]:
        return self.all_contacts()

    def _close(self, deal: Mapping[str, Any]) -> datetime | None:
        props = deal.get("properties") or {}
        if str(props.get("dealstage") or "").casefold() not in self.stages:
            return None
        return parse_time(props.get("closedate"))

    def _search(self, since: datetime, *, won_only: bool) -> list[Mapping[str, Any]]:
        """Deals modified at or after ``since``, in a won stage when ``won_only``."""
        filters = (
            [{"propertyName": "dealstage", "operator": "IN", "values": self.stages}]
            if won_only
            else []
        )
        return list(
            search_modified_since(
                self.client,
                api_path="crm.deals.search_api",
                endpoint="deals.search",
                modified_property=_MODIFIED,
                since=since,
                properties=_DEAL_PROPERTIES,
                filters=filters,
            )
        )

    def _won(self, deals: Sequence[Mapping[str, Any]]) -> dict[str, datetime]:
        """Deal id -> close, of the ``deals`` in a won stage."""
        closes = {str(deal["id"]): self._close(deal) for deal in deals}
        return {deal: close for deal, close in closes.items() if close is not None}

    def _contacts_of(self, deals: Sequence[str]) -> dict[str, list[str]]:
        """Contact id -> which of ``deals`` it is on."""
        # ``associated`` keys by the target object: here the contact, with its deals.
        return associated(self.client, "contacts", list(deals), "deals")

    def all_contacts(self) -> dict[str, datetime]:
        """Every contact on a won deal: one pass (a full pull's)."""
        found: dict[str, datetime] = {}
        if self.stages:
            closes = self._won(self._search(_EPOCH, won_only=True))
            for contact, deals in self._contacts_of(list(closes)).items():
                found[contact] = min(closes[deal] for deal in deals)
        log.info("hubspot.won.read", contacts=len(found), scope="all")
        return found

    def changed_since(self, since: datetime) -> list[str]:
        """Contacts on a deal modified at or after ``since``, in any stage: a deal won since
        the last cycle, and one moved out of a won stage, whose contacts must be read again
        to lose the conversion it gave them."""
        found: list[str] = []
        if self.stages:
            deals = [str(deal["id"]) for deal in self._search(since, won_only=False)]
            found = list(self._contacts_of(deals))
        log.info("hubspot.won.read", contacts=len(found), scope="changed")
        return found

    def of_contacts(self, contact_ids: Sequence[str]) -> dict[str, datetime]:
        """These contacts' first won close dates (those on none are left out)."""
        if not contact_ids or not self.stages:
            return {}
        deals = associated(self.client, "deals", contact_ids)
        ids = list(deals)
        found: dict[str, datetime] = {}
        for start in range(0, len(ids), BATCH_READ):
            answer = self.client.call(
                "deals.batch_read",
                "crm.deals.batch_api",
                "read",
                {
                    "inputs": [{"id": i} for i in ids[start : start + BATCH_READ]],
                    "properties": list(_DEAL_PROPERTIES),
                },
            )
            for deal in answer.get("results") or []:
                close = self._close(deal)
                if close is None:
                    continue
                for contact in deals.get(str(deal["id"]), []):
                    found[contact] = min(close, found.get(contact, close))
        return found
