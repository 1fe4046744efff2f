"""``SalesforceConnector``: the ``connectors.base.Connector`` contract over one Salesforce org."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog

from connectors.base import Checkpoint, InstallStep
from connectors.salesforce import fields as sf_fields
from connectors.salesforce import history, soql
from connectors.salesforce.client import SalesforceClient
from connectors.salesforce.enrol import Enroller
from connectors.salesforce.install import Installer
from connectors.salesforce.mapping import PEOPLE_OBJECTS, SalesforceMapping, load_mapping
from connectors.salesforce.metadata import MetadataApi
from connectors.salesforce.plugin import CONNECTOR
from connectors.salesforce.pull import (
    PullPlan,
    activity_plans,
    flatten,
    person_plan,
    to_activity,
    to_person,
)
from connectors.salesforce.reading import PlanReader
from connectors.salesforce.settings import SalesforceSettings
from connectors.salesforce.won import WonOpportunities
from connectors.salesforce.write import Writer
from connectors.won_sales import with_won_sales, with_won_sales_now
from leadsync.errors import FatalSyncError
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

log = structlog.get_logger(__name__)

#: Ids in one ``Id IN (...)`` query: 200 ids keep the SOQL far below its 100,000-character cap.
_IDS_PER_QUERY = 200
#: Addresses per ``Email IN (...)`` query: ~100 addresses keep the GET under the 16 KiB URI
#: limit Salesforce enforces (an address is ~30 characters, ~40 URL-encoded).
_EMAILS_PER_QUERY = 100


def _utcnow() -> datetime:
    return datetime.now(UTC)


class SalesforceConnector:
    """One configured Salesforce org. Satisfies ``connectors.base.Connector``."""

    capabilities = CONNECTOR.capabilities

    def __init__(
        self,
        name: str,
        settings: SalesforceSettings,
        mapping: SalesforceMapping,
        *,
        clock: Callable[[], datetime] = _utcnow,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.name = name
        self.capabilities = replace(
            CONNECTOR.capabilities, skips_own_writes=not settings.reread_own_writes
        )
        self.settings = settings
        self.mapping = mapping
        self._clock = clock
        self.client = SalesforceClient(name, settings, sleep=sleep)
        self._writer = Writer(self.client, mapping)
        self._enroller = Enroller(self._writer)
        self._installer = Installer(
            self.client, mapping, self._describe_raw, MetadataApi(self.client)
        )
        self._describes: dict[str, dict[str, Any]] = {}
        self._reader = PlanReader(
            self.client, settings.bulk_query_threshold, self._all_plans, self._field_types
        )

    # -- pull ---------------------------------------------------------------------------------

    def pull_people(
        self,
        since: datetime | None,
        *,
        resume: str | None = None,
        checkpoint: Checkpoint | None = None,
        skip_own_writes: bool = False,
    ) -> Iterator[PersonRecord]:
        """Leads then Contacts with SystemModstamp >= ``since`` (queryAll: deletions included);
        resumable at Bulk result pages and between objects. ``skip_own_writes``: not those
        LeadSync's user changed last (unless ``reread_own_writes``)."""
        self._warn_if_ahead(since)
        self._reader.start_pull()
        not_by = None
        if skip_own_writes and since is not None and self.capabilities.skips_own_writes:
            not_by = self.client.login_user_id()
        plans = self._people_plans(not_by)
        people = (
            to_person(self.name, plan.sobject, row, self.mapping.objects[plan.sobject])
            for plan, row in self._reader.rows(plans, since, resume, checkpoint)
        )
        if not self.mapping.conversion.won_opportunities:
            yield from people
            return
        yield from with_won_sales(
            people,
            WonOpportunities(self.client),
            since,
            whole=since is None or checkpoint is not None,
            reread=lambda ids: self.read_people([RecordRef(self.name, "Contact", i) for i in ids]),
        )

    def read_people(self, refs: Sequence[RecordRef]) -> list[PersonRecord]:
        """Leads and Contacts by Id (``queryAll``, so a deletion reads as one), 200 ids a
        query; refs of other objects and ids the org no longer has are left out."""
        people: list[PersonRecord] = []
        for sobject in PEOPLE_OBJECTS:
            ids = list(dict.fromkeys(r.external_id for r in refs if r.object_type == sobject))
            obj = self.mapping.objects[sobject]
            plan = self._person_plan(sobject)
            for start in range(0, len(ids), _IDS_PER_QUERY):
                query = plan.by_id_soql(ids[start : start + _IDS_PER_QUERY])
                for _, records in self.client.query_pages(query, include_deleted=True):
                    people += [to_person(self.name, sobject, flatten(r), obj) for r in records]
        return self._won_of(people)

    def _won_of(self, people: list[PersonRecord]) -> list[PersonRecord]:
        """``people`` converted by their first won opportunity where the mapping asks."""
        if not self.mapping.conversion.won_opportunities:
            return people
        return with_won_sales_now(people, WonOpportunities(self.client))

    def _person_plan(self, sobject: str, not_by: str | None = None) -> PullPlan:
        won = self.mapping.conversion.won_opportunities
        return person_plan(sobject, self.mapping.objects[sobject], not_by, won=won)

    def find_people(self, emails: Sequence[str]) -> list[PersonRecord]:
        """Leads and Contacts by address (SOQL compares text without case), live ones only
        (``query``, not ``queryAll``), ``_EMAILS_PER_QUERY`` addresses a query."""
        addresses = list(dict.fromkeys(e.strip().lower() for e in emails if e and e.strip()))
        people: list[PersonRecord] = []
        for sobject in PEOPLE_OBJECTS:
            obj = self.mapping.objects[sobject]
            if not obj.email:
                continue
            plan = self._person_plan(sobject)
            for start in range(0, len(addresses), _EMAILS_PER_QUERY):
                chunk = addresses[start : start + _EMAILS_PER_QUERY]
                query = soql.select(plan.fields, sobject, [soql.is_in(obj.email, chunk)])
                for _, records in self.client.query_pages(query):
                    people += [to_person(self.name, sobject, flatten(r), obj) for r in records]
        return self._won_of(people)

    def pull_activities(
        self,
        since: datetime | None,
        *,
        resume: str | None = None,
        checkpoint: Checkpoint | None = None,
    ) -> Iterator[ActivityRecord]:
        """Campaign members, tasks, events and form submissions modified at or after ``since``;
        resumable at Bulk result pages and between objects."""
        self._warn_if_ahead(since)
        for plan, row in self._reader.rows(activity_plans(self.mapping), since, resume, checkpoint):
            activity = to_activity(self.name, plan.sobject, row, self.mapping)
            if activity is not None:
                yield activity

    def read_activities(self, people: Sequence[PersonRecord]) -> list[ActivityRecord]:
        """Every live activity linked to these Leads and Contacts (and their converted
        Contacts) by id, or to their addresses: one query per source per chunk of people."""
        return history.read_activities(self.client, self.name, self.mapping, people)

    def read_address_activities(self, emails: Sequence[str]) -> list[ActivityRecord]:
        """Form submissions linked by address alone: one query per chunk of addresses."""
        return history.read_address_activities(self.client, self.name, self.mapping, emails)

    def _field_types(self, plan: PullPlan) -> dict[str, str]:
        """Describe types of a plan's fields, so Bulk CSV strings read like REST JSON."""
        self._prefetch_describes()
        types = {}
        for path in plan.fields:
            raw = sf_fields.resolve(self._describe_raw, plan.sobject, path)
            if raw is not None:
                types[path] = str(raw.get("type"))
        return types

    def _warn_if_ahead(self, since: datetime | None) -> None:
        if since is not None and since - self._clock() > timedelta(minutes=5):
            log.warning("salesforce.pull.cursor_ahead", since=since.isoformat())

    # -- write --------------------------------------------------------------------------------

    def write(self, updates: Sequence[RecordUpdate]) -> list[WriteOutcome]:
        """Output values via Collections (200 a call) or Bulk 2.0 ingest above the threshold."""
        return self._writer.write(updates)

    def write_pages(self, pages: Iterable[Sequence[RecordUpdate]]) -> Iterator[list[WriteOutcome]]:
        """``write`` over many pages, one Bulk job per object for all of them (up to 100 MB)."""
        return self._writer.write_pages(pages)

    def reassign(self, changes: Sequence[OwnerChange]) -> list[WriteOutcome]:
        """OwnerId and/or status through Collections with ``Sforce-Auto-Assign: FALSE``.

        ``owner_id=None`` sends only the status, so the record keeps its owner.
        """
        return self._writer.reassign(changes)

    def create_tasks(self, tasks: Sequence[TaskRequest]) -> list[WriteOutcome]:
        """Insert Tasks keyed by the unique key field; a retry finds its task and leaves it be."""
        return self._writer.create_tasks(tasks)

    def enrol(self, enrolments: Sequence[Enrolment]) -> list[WriteOutcome]:
        """Add people to (or remove them from) campaigns as CampaignMembers; idempotent."""
        return self._enroller.enrol(enrolments)

    def enrol_and_create_tasks(
        self, enrolments: Sequence[Enrolment], tasks: Sequence[TaskRequest]
    ) -> tuple[list[WriteOutcome], list[WriteOutcome]]:
        """Campaign members and tasks inserted together: one Collections call per 200."""
        return self._enroller.enrol_and_create_tasks(enrolments, tasks)

    # -- describe / check / create ------------------------------------------------------------

    def _prefetch_describes(self) -> None:
        """Every describe a Bulk pull of any object needs, in one Composite call per level of
        relationships (objects, then the objects their dotted fields reach): eight describes
        were eight calls. Done at the first Bulk pull, so a REST-only cycle asks for none."""
        paths = [(plan.sobject, path) for plan in self._all_plans() for path in plan.fields]
        while paths:
            missing = sorted({sobject for sobject, _ in paths} - set(self._describes))
            if missing:
                self._describes.update(self.client.describe_many(missing))
            deeper = []
            for sobject, path in paths:
                head, _, rest = path.partition(".")
                if not rest:
                    continue
                fields = self._describes[sobject].get("fields") or []
                lookup = next((f for f in fields if f.get("relationshipName") == head), None)
                targets = (lookup or {}).get("referenceTo") or []
                if targets:
                    deeper.append((str(targets[0]), rest))
            paths = deeper

    def _people_plans(self, not_by: str | None = None) -> list[PullPlan]:
        return [self._person_plan(sobject, not_by) for sobject in PEOPLE_OBJECTS]

    def _all_plans(self) -> list[PullPlan]:
        """Every object a full pull reads: people, then activity sources."""
        return [*self._people_plans(), *activity_plans(self.mapping)]

    def _describe_raw(self, sobject: str) -> Mapping[str, Any]:
        """Cached describe; ``{}`` when the object does not exist or is not visible."""
        if sobject not in self._describes:
            try:
                self._describes[sobject] = self.client.describe(sobject)
            except FatalSyncError as exc:
                if exc.status != 404:
                    raise
                self._describes[sobject] = {}
        return self._describes[sobject]

    def _touched_objects(self) -> list[str]:
        names = [*self.mapping.objects, "Task"]
        forms = self.mapping.activities.forms
        if forms.source == "custom_object":
            names.append(forms.object)
        for sobject, obj in self.mapping.objects.items():
            for path in obj.attributes.values():
                head = path.split(".")[0]
                if "." in path:
                    fields = self._describe_raw(sobject).get("fields") or []
                    lookup = next((f for f in fields if f.get("relationshipName") == head), None)
                    names.extend(str(t) for t in (lookup or {}).get("referenceTo") or [])
        return list(dict.fromkeys(names))

    def describe(self) -> dict[str, dict[str, FieldInfo]]:
        """Fields of every object the mapping touches (objects the org hides are left out)."""
        result = {}
        for sobject in self._touched_objects():
            raw = self._describe_raw(sobject)
            if raw:
                result[sobject] = {
                    str(f["name"]): sf_fields.field_info(f) for f in raw.get("fields") or []
                }
        return result

    def check(self) -> list[CheckProblem]:
        """Validate every mapped field against the live describe; one problem per finding.
        A field the org has but field-level security hides from the integration user is
        reported as the missing grant, not as a missing field."""
        self._describes.clear()
        try:
            hidden = self._installer.hidden_fields()
        except FatalSyncError as exc:
            # A user without Metadata API access still gets every other finding; a hidden
            # field then reads as a missing one, whose fix names the grant too.
            log.warning("salesforce.check.metadata_unreadable", error=str(exc))
            hidden = set()
        problems = sf_fields.check(self.mapping, self._describe_raw, hidden)
        problems += self._check_won()
        # After the describes: their answers carry the org's API allowance.
        problems += sf_fields.check_budget(self.usage().remaining, self.settings.api_reserve)
        log.info("salesforce.check", problems=len(problems))
        return problems

    def _check_won(self) -> list[CheckProblem]:
        """With ``[conversion] won_opportunities``, the objects and fields it reads."""
        if not self.mapping.conversion.won_opportunities:
            return []
        needed = {
            "Opportunity": ("IsWon", "CloseDate"),
            "OpportunityContactRole": ("ContactId", "OpportunityId"),
        }
        problems = []
        for sobject, names in needed.items():
            fields = {str(f.get("name")) for f in self._describe_raw(sobject).get("fields") or []}
            for name in names:
                if name not in fields:
                    problems.append(
                        CheckProblem(
                            sobject, name, "not visible to the integration user",
                            "grant it Read on Opportunity (contact roles follow it), or set "
                            "[conversion] won_opportunities = false in the mapping",
                        )
                    )  # fmt: skip
        return problems

    def check_targets(
        self, statuses: Sequence[str], campaigns: Sequence[str], lists: Sequence[str]
    ) -> list[CheckProblem]:
        """Statuses LeadSync sets must be mapped and active picklist values on every object a
        person can be (Lead and Contact); campaigns must exist and be active."""
        problems = sf_fields.check_statuses(self.mapping, self._describe_raw, statuses)
        ids = sorted({c for c in campaigns if c})
        if ids:
            found: dict[str, bool] = {}
            query = soql.select(["Id", "IsActive"], "Campaign", [soql.is_in("Id", ids)])
            for _, records in self.client.query_pages(query):
                found.update({str(r["Id"])[:15]: bool(r.get("IsActive")) for r in records})
            for campaign in ids:
                active = found.get(campaign[:15])
                if active is None:
                    problems.append(
                        CheckProblem(
                            "Campaign", campaign, "no campaign with this id",
                            "copy the 18-character id from the campaign's page into "
                            "[recycle] nurture_campaign / [[nurture.enrol]] campaign",
                        )
                    )  # fmt: skip
                elif not active:
                    problems.append(
                        CheckProblem(
                            "Campaign", campaign, "the campaign is inactive",
                            "activate it (Active checkbox) or name another campaign",
                        )
                    )  # fmt: skip
        return problems

    def create_fields(self) -> list[str]:
        """Create missing output fields (and the Task key) with the Tooling API.

        New fields need field-level security for the integration user before LeadSync can
        write them; ``fields.FLS_NOTE`` says how, and the log repeats it.
        """
        self._describes.clear()
        bodies = [
            sf_fields.custom_field_body(sobject, field, output, self.mapping)
            for sobject, field, output in sf_fields.missing_outputs(
                self.mapping, self._describe_raw
            )
        ]
        bodies += sf_fields.missing_status_bodies(self.mapping, self._describe_raw)
        key = self.mapping.task_key_field
        if sf_fields.resolve(self._describe_raw, "Task", key) is None:
            bodies.append(sf_fields.task_key_body(key))
        created: list[str] = []
        failed: list[str] = []
        for body in bodies:
            name = str(body["FullName"])
            try:
                self.client.tooling("POST", "sobjects/CustomField", data=body)
            except FatalSyncError as exc:
                # One refused field must not stop the others; all refusals are reported below.
                log.error("salesforce.fields.refused", field=name, error=str(exc))
                failed.append(f"{name} ({exc})")
                continue
            created.append(name)
            log.info("salesforce.fields.created", field=name)
        if created:
            log.warning("salesforce.fields.fls_needed", fields=created, fix=sf_fields.FLS_NOTE)
        self._describes.clear()
        if failed:
            done = ", ".join(created) or "none"
            raise FatalSyncError(
                f"could not create {'; '.join(failed)}; created: {done}. Create the rest in "
                f"Setup (Object Manager) and run `leadsync check`",
                connector=self.name,
            )
        return created

    def plan_install(self, sales_users: Sequence[str]) -> list[InstallStep]:
        """Permission sets for the integration user and sales, and Lead list views (see
        ``install``); reads the org, changes nothing until a step runs."""
        self._describes.clear()
        return self._installer.plan_install(sales_users)

    def plan_uninstall(self, remove_fields: bool) -> list[InstallStep]:
        """What ``plan_install`` makes, and LeadSync's fields when ``remove_fields``."""
        self._describes.clear()
        return self._installer.plan_uninstall(remove_fields)

    # -- users, usage -------------------------------------------------------------------------

    def users(self) -> list[CrmUser]:
        """Users that can own records (standard licences, active and inactive, with managers)
        and the queues that can own Leads.

        Automated-process, guest, partner and other non-standard users cannot own Leads or
        Contacts, so they are left out; so are queues that do not take Leads. The user
        LeadSync is logged in as is marked ``integration``: it never takes or keeps a lead.
        """
        users: list[CrmUser] = []
        user_soql = soql.select(
            ["Id", "Name", "Email", "IsActive", "ManagerId"],
            "User",
            [soql.eq("UserType", "Standard")],
            order_by=["Id"],
        )
        for _, records in self.client.query_pages(user_soql):
            users.extend(
                CrmUser(
                    id=str(r["Id"]),
                    name=str(r.get("Name") or ""),
                    email=r.get("Email"),
                    active=bool(r.get("IsActive")),
                    manager_id=r.get("ManagerId"),
                    integration=_same_user(str(r["Id"]), self.client.own_user_id),
                )
                for r in records
            )
        queue_soql = soql.select(
            ["QueueId", "Queue.Name", "Queue.Email"],
            "QueueSobject",
            [soql.eq("SobjectType", "Lead")],
            order_by=["QueueId"],
        )
        for _, records in self.client.query_pages(queue_soql):
            for r in records:
                queue = r.get("Queue") or {}
                users.append(
                    CrmUser(
                        id=str(r["QueueId"]),
                        name=str(queue.get("Name") or ""),
                        email=queue.get("Email"),
                        is_queue=True,
                    )
                )
        return users

    def usage(self) -> ApiUsage:
        """Calls by endpoint (every HTTP call, auth included) and the org's remaining allowance."""
        return self.client.session.usage()

    def close(self) -> None:
        self.client.close()


def build_connector(
    name: str, settings: SalesforceSettings, config_dir: Path | None
) -> SalesforceConnector:
    """A connector with its mapping loaded (``settings.mapping`` relative to ``config_dir``)."""
    path = settings.mapping
    if path is not None and not path.is_absolute() and config_dir is not None:
        path = config_dir / path
    return SalesforceConnector(name, settings, load_mapping(path))


def _same_user(user_id: str, own: str | None) -> bool:
    """Salesforce ids compare on their 15-character case-sensitive form."""
    return own is not None and user_id[:15] == own[:15]
