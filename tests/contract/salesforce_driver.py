"""The contract suite's driver for the Salesforce sandbox: its in-process ``OrgState``."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from connectors.salesforce.connector import SalesforceConnector
from connectors.salesforce.mapping import load_mapping
from connectors.salesforce.settings import SalesforceSettings
from leadsync.records import NurtureKind, RecordRef
from mappings import default_mapping_path
from sandboxes.salesforce import SalesforceSandbox, generate_org
from sandboxes.salesforce.org import OrgState
from tests.contract.drivers import MissingField, Owners, PersonState, Refusal, TaskState

PEOPLE = ("Lead", "Contact")
KEY_FIELD = "LeadSync_Key__c"
OUTPUT_FIELDS = {"score": "LeadSync_Score__c", "reason": "LeadSync_Reason__c"}


class SalesforceDriver:
    label = "salesforce-sandbox"
    nurture_kind: NurtureKind = "campaign"
    #: A restricted picklist refuses a value it does not list.
    cursor_precision = timedelta(seconds=1)
    refusal = Refusal("fit", "excellent", "LeadSync_Fit__c")

    def __init__(self, sandbox: SalesforceSandbox, tmp: Path) -> None:
        self.sandbox = sandbox
        self.org: OrgState = sandbox.org
        self.tmp = tmp
        self.connect()
        self.nurture_target = str(self.org.nurture_campaign_id)
        users = [
            u
            for u in self.org.records("User")
            if u.get("UserType") == "Standard" and u["Id"] != self.org.integration_user_id
        ]
        active = next(str(u["Id"]) for u in users if u.get("IsActive"))
        inactive = next(str(u["Id"]) for u in users if not u.get("IsActive"))
        # A well-formed User id the org never issued.
        unknown = self.org.ids.new("005")
        self.owners = Owners(active, (inactive, unknown), "OwnerId", "Working - Contacted")
        self.absent = RecordRef("salesforce", "Lead", self.org.ids.new("00Q"))
        self._names = itertools.count()

    def connect(self) -> None:
        self.connector = self._connect(load_mapping())

    def _connect(self, mapping: Any) -> SalesforceConnector:
        settings = SalesforceSettings(
            login_url=self.sandbox.url,
            auth="client_credentials",
            client_id=self.sandbox.client_id,
            client_secret=SecretStr(self.sandbox.client_secret),
            ca_bundle=Path(self.sandbox.ca_file),
            api_reserve=0,
            # A full pull of this small org goes through Bulk API 2.0 in several result
            # pages, as a large org's backfill does; a pull since a cursor stays on REST.
            bulk_query_threshold=20,
            bulk_page_size=800,
        )
        return SalesforceConnector("salesforce", settings, mapping, sleep=lambda _s: None)

    def new_person(self, email: str) -> RecordRef:
        lead = self.org.insert(
            "Lead",
            {"LastName": f"Person {next(self._names)}", "Company": "Contract Co", "Email": email},
        )
        return RecordRef("salesforce", "Lead", lead)

    def _row(self, ref: RecordRef) -> dict[str, Any]:
        row = self.org.raw(ref.object_type, ref.external_id)
        assert row is not None, f"the org has no {ref}"
        return dict(row)

    def change(self, ref: RecordRef) -> datetime:
        self.org.update(ref.object_type, ref.external_id, {"Title": f"Title {next(self._names)}"})
        stamp: datetime = self._row(ref)["SystemModstamp"]
        return stamp

    def delete(self, ref: RecordRef) -> None:
        self.org.delete(ref.object_type, ref.external_id)

    def people(self) -> dict[RecordRef, PersonState]:
        return {
            RecordRef("salesforce", sobject, str(row["Id"])): PersonState(
                bool(row.get("IsDeleted")), row["SystemModstamp"]
            )
            for sobject in PEOPLE
            for row in self.org.rows(sobject)
        }

    def address_activity(self, email: str) -> None:
        self.org.insert(
            "Form_Submission__c",
            {"Email__c": email, "Form_Name__c": "Contact Us", "Submitted_At__c": self.org.stamp()},
        )

    def log_meeting(self, ref: RecordRef, title: str) -> datetime:
        start = self.org.stamp()
        event = self.org.insert(
            "Event",
            {
                "WhoId": ref.external_id,
                "OwnerId": self.owners.active,
                "Subject": title,
                "Type": "Meeting",
                "StartDateTime": start,
                "EndDateTime": start + timedelta(minutes=30),
                "ActivityDateTime": start,
            },
        )
        stamp: datetime = self._row(RecordRef("salesforce", "Event", event))["SystemModstamp"]
        return stamp

    def output(self, ref: RecordRef, output: str) -> Any:
        value = self._row(ref).get(OUTPUT_FIELDS[output])
        return float(value) if output == "score" and value is not None else value

    def owner_of(self, ref: RecordRef) -> str | None:
        owner = self._row(ref).get("OwnerId")
        return str(owner) if owner else None

    def status_of(self, ref: RecordRef) -> str | None:
        status = self._row(ref).get("Status")
        return str(status) if status else None

    def task(self, key: str) -> list[TaskState]:
        return [
            TaskState(str(t["WhoId"]), str(t["OwnerId"]), bool(t.get("IsClosed")))
            for t in self.org.records("Task")
            if t.get(KEY_FIELD) == key
        ]

    def complete_task(self, key: str) -> None:
        (task,) = [t for t in self.org.records("Task") if t.get(KEY_FIELD) == key]
        self.org.update("Task", str(task["Id"]), {"Status": "Completed"})

    def members(self, target: str) -> set[str]:
        return {
            str(m.get("LeadId") or m.get("ContactId"))
            for m in self.org.records("CampaignMember")
            if str(m.get("CampaignId"))[:15] == target[:15]
        }

    def missing_field(self) -> MissingField:
        text = default_mapping_path("salesforce").read_text()
        path = self.tmp / "salesforce-missing.toml"
        path.write_text(text.replace('title = "Title"', 'title = "No_Such_Title__c"', 1))
        return MissingField(self._connect(load_mapping(path)), "Lead", "No_Such_Title__c")


@contextmanager
def salesforce_driver(tmp: Path) -> Iterator[SalesforceDriver]:
    """A small generated org behind the HTTPS sandbox, and its driver."""
    with SalesforceSandbox(generate_org(leads=2100, seed=26, activities=1000), port=0) as sandbox:
        driver = SalesforceDriver(sandbox, tmp)
        try:
            yield driver
        finally:
            driver.connector.close()
