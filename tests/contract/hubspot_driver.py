"""The contract suite's driver for the HubSpot sandbox: its in-process ``PortalState``."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from connectors.hubspot.connector import HubSpotConnector
from connectors.hubspot.mapping import load_mapping
from connectors.hubspot.settings import HubSpotSettings
from leadsync.records import NurtureKind, RecordRef
from mappings import default_mapping_path
from sandboxes.hubspot import HubSpotSandbox, PortalState, generate_portal
from sandboxes.hubspot.schema import iso_instant, parse_instant
from tests.contract.drivers import MissingField, Owners, PersonState, Refusal, TaskState

KEY_PROPERTY = "leadsync_key"
OUTPUT_PROPERTIES = {"score": "leadsync_score", "reason": "leadsync_reason"}


class HubSpotDriver:
    label = "hubspot-sandbox"
    nurture_kind: NurtureKind = "list"
    #: An enumeration property refuses a value that is not one of its options.
    cursor_precision = timedelta(milliseconds=1)
    refusal = Refusal("fit", "excellent", "leadsync_fit")

    def __init__(self, sandbox: HubSpotSandbox, tmp: Path) -> None:
        self.sandbox = sandbox
        self.portal: PortalState = sandbox.portal
        self.tmp = tmp
        self.connect()
        self.nurture_target = str(self.portal.nurture_list_id)
        owners = sorted(self.portal.owners.values(), key=lambda o: o.id)
        active = next(o.id for o in owners if not o.archived)
        archived = next(o.id for o in owners if o.archived)
        self.owners = Owners(active, (archived, "999999999"), "hubspot_owner_id", "IN_PROGRESS")
        self.absent = RecordRef("hubspot", "contact", "999999999")
        self._names = itertools.count()

    def connect(self) -> None:
        self.connector = self._connect(load_mapping(default_mapping_path("hubspot")))

    def _connect(self, mapping: Any) -> HubSpotConnector:
        settings = HubSpotSettings(
            base_url=self.sandbox.url,
            access_token=SecretStr(self.sandbox.access_token),
            ca_bundle=Path(self.sandbox.ca_file) if self.sandbox.ca_file else None,
            api_reserve=0,
        )
        # The connector paces itself on real time; the sandbox's limits are raised, so it
        # never has to wait.
        return HubSpotConnector(
            "hubspot", settings, mapping, clock=time.monotonic, sleep=lambda _s: None
        )

    def new_person(self, email: str) -> RecordRef:
        contact = self.portal.insert(
            "contacts", {"email": email, "firstname": "Person", "lastname": str(next(self._names))}
        )
        return RecordRef("hubspot", "contact", str(contact.id))

    def change(self, ref: RecordRef) -> datetime:
        contact = self.portal.update(
            "contacts", int(ref.external_id), {"jobtitle": f"Title {next(self._names)}"}
        )
        return parse_instant(contact.properties["lastmodifieddate"])

    def delete(self, ref: RecordRef) -> None:
        self.portal.archive("contacts", int(ref.external_id))

    def people(self) -> dict[RecordRef, PersonState]:
        with self.portal.lock:
            contacts = list(self.portal.objects["contacts"].values())
        return {
            RecordRef("hubspot", "contact", str(c.id)): PersonState(
                c.archived,
                c.archived_at
                if c.archived and c.archived_at
                else parse_instant(c.properties["lastmodifieddate"]),
            )
            for c in contacts
        }

    def address_activity(self, email: str) -> None:
        created = int(self.portal.now().timestamp() * 1000)
        self.portal.add_email_event(
            {"recipient": email, "type": "OPEN", "created": created, "emailCampaignId": 1}
        )

    def log_meeting(self, ref: RecordRef, title: str) -> datetime:
        meeting = self.portal.add_engagement(
            "meetings",
            int(ref.external_id),
            {
                "hs_meeting_title": title,
                "hs_meeting_start_time": iso_instant(self.portal.now()),
                "hubspot_owner_id": self.owners.active,
            },
        )
        return parse_instant(meeting.properties["hs_lastmodifieddate"])

    def output(self, ref: RecordRef, output: str) -> Any:
        contact = self.portal.get("contacts", ref.external_id)
        assert contact is not None, f"the portal has no live {ref}"
        value = contact.properties.get(OUTPUT_PROPERTIES[output]) or None
        return float(value) if output == "score" and value is not None else value

    def owner_of(self, ref: RecordRef) -> str | None:
        contact = self.portal.get("contacts", ref.external_id)
        assert contact is not None, f"the portal has no live {ref}"
        return contact.properties.get("hubspot_owner_id") or None

    def status_of(self, ref: RecordRef) -> str | None:
        contact = self.portal.get("contacts", ref.external_id)
        assert contact is not None, f"the portal has no live {ref}"
        return contact.properties.get("hs_lead_status") or None

    def _tasks(self, key: str) -> list[Any]:
        return [t for t in self.portal.live("tasks") if t.properties.get(KEY_PROPERTY) == key]

    def task(self, key: str) -> list[TaskState]:
        return [
            TaskState(
                ",".join(str(c) for c in self.portal.associated("tasks", t.id, "contacts")),
                t.properties.get("hubspot_owner_id", ""),
                t.properties.get("hs_task_status") == "COMPLETED",
            )
            for t in self._tasks(key)
        ]

    def complete_task(self, key: str) -> None:
        (task,) = self._tasks(key)
        self.portal.update("tasks", task.id, {"hs_task_status": "COMPLETED"})

    def members(self, target: str) -> set[str]:
        with self.portal.lock:
            return {str(member) for member in self.portal.lists[target].members}

    def missing_field(self) -> MissingField:
        text = default_mapping_path("hubspot").read_text()
        path = self.tmp / "hubspot-missing.toml"
        path.write_text(text.replace('title = "jobtitle"', 'title = "no_such_jobtitle"', 1))
        return MissingField(self._connect(load_mapping(path)), "contacts", "no_such_jobtitle")


@contextmanager
def hubspot_driver(tmp: Path) -> Iterator[HubSpotDriver]:
    """A small generated portal (more than one list page of contacts) and its driver."""
    portal = generate_portal(contacts=150, seed=26)
    sandbox = HubSpotSandbox(
        portal, port=0, tls=True, rate_limit_per_10s=100_000, search_rate_per_s=1_000
    )
    with sandbox:
        driver = HubSpotDriver(sandbox, tmp)
        try:
            yield driver
        finally:
            driver.connector.close()
