"""``HubSpotConnector``: the ``connectors.base.Connector`` contract for one HubSpot portal."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from connectors.base import Checkpoint, InstallStep, enrol_then_create_tasks, write_each
from connectors.hubspot import (
    access,
    activities,
    enrol,
    history,
    install,
    properties,
    pull,
    write,
)
from connectors.hubspot import tasks as tasks_api
from connectors.hubspot.client import HubSpotClient
from connectors.hubspot.mapping import HubSpotMapping, load_mapping
from connectors.hubspot.pacing import Clock, Sleep
from connectors.hubspot.plugin import CONNECTOR
from connectors.hubspot.settings import HubSpotSettings
from connectors.hubspot.won import WonDeals
from connectors.won_sales import with_won_sales, with_won_sales_now
from leadsync.errors import BudgetExhausted, FatalSyncError
from leadsync.records import (
    ActivityRecord,
    ApiUsage,
    CheckProblem,
    CrmUser,
    Enrolment,
    FieldInfo,
    OwnerChange,
    PersonRecord,
    RecordRef,
    RecordUpdate,
    TaskRequest,
    WriteOutcome,
)
from mappings import default_mapping_path


class HubSpotConnector:
    """One configured HubSpot portal, reached through the official client library."""

    capabilities = CONNECTOR.capabilities

    def __init__(
        self,
        name: str,
        settings: HubSpotSettings,
        mapping: HubSpotMapping,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        self.name = name
        self.settings = settings
        self.mapping = mapping
        self.client = HubSpotClient(name, settings, clock=clock, sleep=sleep)

    def pull_people(
        self,
        since: datetime | None,
        *,
        resume: str | None = None,
        checkpoint: Checkpoint | None = None,
        skip_own_writes: bool = False,
    ) -> Iterator[PersonRecord]:
        """Contacts modified at or after ``since`` (search), or all (list paging), plus archived;
        a full pull resumes at list pages. ``skip_own_writes`` is not honoured: CRM search
        filters on ``hs_lastmodifieddate`` but not on who made the change, so LeadSync's own
        write-backs are read back (once each) and found unchanged, not re-scored. With
        ``[conversion] won_deal_stages``, converted by their first won deal (see ``won``)."""
        people = pull.pull_contacts(self.client, self.mapping, since, resume, checkpoint)
        if not self.mapping.conversion.won_deal_stages:
            return people
        return with_won_sales(
            people,
            WonDeals(self.client, self.mapping.conversion.won_deal_stages),
            since,
            whole=since is None or checkpoint is not None,
            reread=lambda ids: self.read_people([RecordRef(self.name, "contact", i) for i in ids]),
        )

    def _won_of(self, people: list[PersonRecord]) -> list[PersonRecord]:
        """``people`` converted by their first won deal where the mapping asks."""
        stages = self.mapping.conversion.won_deal_stages
        if not stages:
            return people
        return with_won_sales_now(people, WonDeals(self.client, stages))

    def read_people(self, refs: Sequence[RecordRef]) -> list[PersonRecord]:
        """Contacts by batch read, 100 a call (no search-rate pacing): a webhook's contacts."""
        return self._won_of(pull.read_contacts(self.client, self.mapping, refs))

    def find_people(self, emails: Sequence[str]) -> list[PersonRecord]:
        """Contacts by address: batch read by ``email``, 100 a call."""
        return self._won_of(pull.find_contacts(self.client, self.mapping, emails))

    def pull_activities(
        self,
        since: datetime | None,
        *,
        resume: str | None = None,
        checkpoint: Checkpoint | None = None,
    ) -> Iterator[ActivityRecord]:
        """Form submissions, email events, webinar participation, meetings and calls; resumes
        between sources."""
        return activities.pull_activities(self.client, self.mapping, since, resume, checkpoint)

    def read_activities(self, people: Sequence[PersonRecord]) -> list[ActivityRecord]:
        """Every live activity of these contacts: email events by address, webinar
        participation by contact, meetings and calls by association (1,000 contacts a call),
        form submissions from every form's history, kept by submitted address."""
        return history.read_activities(self.client, self.mapping, people)

    def read_address_activities(self, emails: Sequence[str]) -> list[ActivityRecord]:
        """Email events and form submissions of addresses (1 call per address, forms once)."""
        return history.read_address_activities(self.client, self.mapping, emails)

    def describe(self) -> dict[str, dict[str, FieldInfo]]:
        """Properties of contacts and tasks."""
        return properties.describe(self.client)

    def check(self) -> list[CheckProblem]:
        """Scopes the private app lacks; mapped properties that are missing, mistyped,
        read-only or lack options; a daily allowance already down to ``api_reserve`` (a run
        would pause its writes)."""
        problems: list[CheckProblem] = []
        try:
            won_deals = bool(self.mapping.conversion.won_deal_stages)
            problems += access.check_scopes(self.client, won_deals)
            problems += properties.check(self.client, self.mapping)
        except BudgetExhausted:
            pass  # the pacer stops at the reserve; the problem below says so
        except FatalSyncError as exc:
            # A missing read scope is named above; the properties cannot be read without it.
            if exc.status != 403 or not problems:
                raise
        return problems + properties.check_budget(
            self.client.usage().remaining, self.settings.api_reserve
        )

    def check_targets(
        self, statuses: Sequence[str], campaigns: Sequence[str], lists: Sequence[str]
    ) -> list[CheckProblem]:
        """Lead statuses must be options of the mapped status property; lists must exist."""
        return properties.check_targets(self.client, self.mapping, statuses, lists)

    def create_fields(self) -> list[str]:
        """Create the ``leadsync`` group and the missing mapped properties."""
        return properties.create_fields(self.client, self.mapping)

    def plan_install(self, sales_users: Sequence[str]) -> list[InstallStep]:
        """The ``leadsync`` group, the options of the enumeration outputs, and marketing's
        active lists (``connectors.hubspot.install``). ``sales_users`` need no grant: HubSpot
        shows every property to every user (the plan says so)."""
        return install.plan_install(self.client, self.mapping, sales_users)

    def plan_uninstall(self, remove_fields: bool) -> list[InstallStep]:
        """The lists install made; LeadSync's properties and groups with ``remove_fields``."""
        return install.plan_uninstall(self.client, self.mapping, remove_fields)

    def write(self, updates: Sequence[RecordUpdate]) -> list[WriteOutcome]:
        """Output values by batch update (100 a call); one outcome per update, in order."""
        return write.write_updates(self.client, self.mapping, updates)

    def write_pages(self, pages: Iterable[Sequence[RecordUpdate]]) -> Iterator[list[WriteOutcome]]:
        """Each page in turn: HubSpot's batch update has no larger job to gather pages into."""
        return write_each(self, pages)

    def reassign(self, changes: Sequence[OwnerChange]) -> list[WriteOutcome]:
        """Owners and/or statuses by batch update (HubSpot has no assignment rules to bypass);
        ``owner_id=None`` changes only the status."""
        return write.reassign(self.client, self.mapping, changes)

    def enrol_and_create_tasks(
        self, enrolments: Sequence[Enrolment], tasks: Sequence[TaskRequest]
    ) -> tuple[list[WriteOutcome], list[WriteOutcome]]:
        """Lists and tasks are different APIs here: the calls go apart."""
        return enrol_then_create_tasks(self, enrolments, tasks)

    def enrol(self, enrolments: Sequence[Enrolment]) -> list[WriteOutcome]:
        """Add contacts to (or remove them from) MANUAL/SNAPSHOT lists; idempotent both ways."""
        return enrol.enrol(self.client, enrolments)

    def create_tasks(self, tasks: Sequence[TaskRequest]) -> list[WriteOutcome]:
        """Tasks created with their contact association; a retry finds its task by the unique
        key and leaves it as the rep left it."""
        return tasks_api.create_tasks(self.client, self.mapping, tasks)

    def users(self) -> list[CrmUser]:
        """Owners from the owners API; archived owners are returned inactive."""
        users: list[CrmUser] = []
        for archived in (False, True):
            after: str | None = None
            while True:
                kwargs: dict[str, Any] = {"limit": 100, "archived": archived}
                if after is not None:
                    kwargs["after"] = after
                page = self.client.call(
                    "owners.list", "crm.owners.owners_api", "get_page", **kwargs
                )
                for owner in page.get("results") or []:
                    users.append(owner_user(owner, archived=archived))
                after = ((page.get("paging") or {}).get("next") or {}).get("after")
                if not after:
                    break
        return users

    def usage(self) -> ApiUsage:
        """Calls by endpoint and the daily allowance HubSpot last reported."""
        return self.client.usage()

    def close(self) -> None:
        """Release the connection pools."""
        self.client.close()


def owner_user(owner: dict[str, Any], *, archived: bool) -> CrmUser:
    """One owners-API owner as a ``CrmUser``."""
    first, last = owner.get("firstName") or "", owner.get("lastName") or ""
    email = owner.get("email")
    name = f"{first} {last}".strip() or str(email or owner["id"])
    return CrmUser(
        id=str(owner["id"]),
        name=name,
        email=str(email) if email else None,
        active=not (archived or owner.get("archived")),
    )


def build_connector(
    name: str, settings: HubSpotSettings, config_dir: Path | None
) -> HubSpotConnector:
    """The connector for ``settings``, its mapping resolved against the config's folder."""
    path = settings.mapping
    if path is None:
        path = default_mapping_path("hubspot")
    elif not path.is_absolute() and config_dir is not None:
        path = config_dir / path
    return HubSpotConnector(name, settings, load_mapping(path))
