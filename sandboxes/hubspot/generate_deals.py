"""Deals of the generated portal, consistent with its hidden truth (see ``generate``).

Half the customers (contacts the truth converted, or whose Salesforce lead converted) are on
a deal of the default pipeline closed won at their conversion (``closedate`` = the date they
became customers); their lifecycle stage stays as drawn, so none of them converts earlier by
it. A tenth of the other contacts sit on an open or lost deal, so a pull has to tell won
stages apart. Drawn from a stream of its own, after everything else: the rest of the portal
is what the seed always gave.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sandboxes.hubspot.portal import PortalState
from sandboxes.hubspot.schema import iso_instant, lifecycle_date_prop, parse_instant

#: Share of customers whose conversion is a won deal.
CUSTOMERS_WITH_DEAL = 0.5
#: Share of the other contacts on an open or lost deal.
OTHER_DEALS = 0.1
_OPEN = ("appointmentscheduled", "qualifiedtobuy", "presentationscheduled", "contractsent")


def _deal(
    portal: PortalState, contact: int, name: str, stage: str, close: datetime, at: datetime
) -> None:
    values = {
        "dealname": name,
        "pipeline": "default",
        "dealstage": stage,
        "closedate": iso_instant(close),
        "createdate": iso_instant(at),
    }
    deal = portal.insert("deals", values, at=at)
    # Last changed when it closed (or now, for one still open).
    touched = max(at, min(close, portal.now()))
    deal.updated_at = touched
    deal.properties["hs_lastmodifieddate"] = iso_instant(touched)
    portal.associate("deals", deal.id, "contacts", contact)


def add_deals(portal: PortalState, seed: int, now: datetime, ids: list[int]) -> None:
    """Deals for customers and some other contacts (see the module)."""
    rng = random.Random(f"{seed}:deals")
    contacts = portal.objects["contacts"]
    for contact_id in ids:
        props = contacts[contact_id].properties
        name = f"{props.get('company') or props.get('lastname') or 'New'} - new business"
        became = props.get(lifecycle_date_prop("customer"))
        if props.get("lifecyclestage") == "customer" and became:
            if rng.random() < CUSTOMERS_WITH_DEAL:
                close = parse_instant(became)
                _deal(portal, contact_id, name, "closedwon", close, close - timedelta(days=30))
        elif rng.random() < OTHER_DEALS:
            close = now + timedelta(days=rng.uniform(-60, 60))
            stage = "closedlost" if close <= now else rng.choice(_OPEN)
            _deal(portal, contact_id, name, stage, close, min(close, now) - timedelta(days=20))
