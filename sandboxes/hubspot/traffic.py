"""Seeded live traffic for a running portal: what marketing and sales do during a day.

Each :meth:`TrafficGenerator.step` performs one action — a new contact, a form submission,
an email open, click or unsubscribe, a webinar registration or attendance, a meeting — so a
soak test can drive a known number of changes, and :meth:`start` runs steps in a thread.
"""

from __future__ import annotations

import random
import threading
from datetime import timedelta

import structlog

from sandboxes.hubspot.generate import COMPANIES, FIRST, LAST, TITLES
from sandboxes.hubspot.portal import PortalState
from sandboxes.hubspot.schema import iso_instant

log = structlog.get_logger(__name__)

ACTIONS = (
    ("new_contact", 15),
    ("form_submission", 20),
    ("email_open", 30),
    ("email_click", 12),
    ("unsubscribe", 3),
    ("webinar", 10),
    ("meeting", 10),
)


class TrafficGenerator:
    """Applies seeded, realistic changes to ``portal`` (always through its thread-safe helpers)."""

    def __init__(self, portal: PortalState, seed: int = 7, interval_s: float = 0.5) -> None:
        self.portal = portal
        self.rng = random.Random(seed * 7919 + 1)
        self.interval_s = interval_s
        self.counts: dict[str, int] = {name: 0 for name, _ in ACTIONS}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._serial = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="hubspot-traffic", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.step()

    def step(self) -> str:
        """Perform one random action; returns its name."""
        names = [n for n, _ in ACTIONS]
        action = self.rng.choices(names, [w for _, w in ACTIONS])[0]
        with self.portal.lock:
            done = getattr(self, f"_{action}")()
        if done:
            self.counts[action] += 1
            log.debug("hubspot_sandbox.traffic", action=action)
        return action

    def _contact(self) -> int | None:
        live = self.portal.live("contacts")
        return self.rng.choice(live).id if live else None

    def _email_of(self, contact_id: int) -> str:
        return self.portal.objects["contacts"][contact_id].properties.get("email", "")

    def _new_contact(self) -> bool:
        self._serial += 1
        first, last = self.rng.choice(FIRST), self.rng.choice(LAST)
        company = self.rng.choice(COMPANIES)
        domain = company.lower().replace(" ", "") + ".example"
        self.portal.insert(
            "contacts",
            {
                "email": f"{first.lower()}.{last.lower()}.live{self._serial}@{domain}",
                "firstname": first,
                "lastname": last,
                "company": company,
                "jobtitle": self.rng.choice(TITLES),
                "lifecyclestage": "lead",
            },
        )
        return True

    def _form_submission(self) -> bool:
        contact_id = self._contact()
        if contact_id is None or not self.portal.forms:
            return False
        form = self.rng.choice(sorted(self.portal.forms.values(), key=lambda f: f.guid))
        props = self.portal.objects["contacts"][contact_id].properties
        self.portal.add_form_submission(
            form.guid,
            {
                "email": props.get("email", ""),
                "firstname": props.get("firstname", ""),
                "lastname": props.get("lastname", ""),
            },
            page_url="https://www.leadsync-demo.example/live",
        )
        return True

    def _email_event(self, kind: str, **extra: object) -> bool:
        contact_id = self._contact()
        if contact_id is None or not self.portal.email_campaigns:
            return False
        campaign = self.rng.choice(sorted(self.portal.email_campaigns))
        self.portal.add_email_event(
            {
                "type": kind,
                "recipient": self._email_of(contact_id),
                "emailCampaignId": campaign,
                "created": int(self.portal.now().timestamp() * 1000),
                **extra,
            }
        )
        return True

    def _email_open(self) -> bool:
        return self._email_event("OPEN")

    def _email_click(self) -> bool:
        return self._email_event("CLICK", url="https://www.leadsync-demo.example/pricing")

    def _unsubscribe(self) -> bool:
        return self._email_event(
            "STATUSCHANGE",
            source="SOURCE_RECIPIENT",
            portalSubscriptionStatus="UNSUBSCRIBED",
            subscriptions=[{"id": 4_000_001, "status": "UNSUBSCRIBED"}],
        )

    def _webinar(self) -> bool:
        contact_id = self._contact()
        if contact_id is None or not self.portal.marketing_events:
            return False
        event_id = self.rng.choice(sorted(self.portal.marketing_events))
        state = self.rng.choice(("REGISTERED", "REGISTERED", "ATTENDED"))
        self.portal.add_participation(event_id, contact_id, state)
        return True

    def _meeting(self) -> bool:
        contact_id = self._contact()
        owners = [o for o in self.portal.owners.values() if not o.archived]
        if contact_id is None or not owners:
            return False
        at = self.portal.now()
        self.portal.add_engagement(
            "meetings",
            contact_id,
            {
                "hs_timestamp": iso_instant(at),
                "hs_meeting_title": "Follow-up",
                "hs_meeting_start_time": iso_instant(at),
                "hs_meeting_end_time": iso_instant(at + timedelta(minutes=30)),
                "hs_meeting_outcome": "SCHEDULED",
                "hubspot_owner_id": self.rng.choice(owners).id,
            },
        )
        return True
