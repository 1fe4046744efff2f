"""Campaign membership: put Leads and Contacts in a nurture campaign, or take them out.

Adding inserts ``CampaignMember`` records through sObject Collections (200 a call). A person
already in the campaign is refused with ``DUPLICATE_VALUE``; for an idempotent add that is
success. Removing looks the members up with one SOQL query per 200 removals (every id quoted
as a literal) and deletes them through Collections ``DELETE ?ids=`` (200 a call); a person who
is not a member has nothing to delete, which is success too.

Enrolments run in the order given, a run of adds or removes at a time, so "add then remove"
of the same person ends with the person out.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby
from typing import Any

import structlog

from connectors.salesforce import soql
from connectors.salesforce.write import COLLECTION_LIMIT, Pending, Writer, complete
from leadsync.records import Enrolment, RecordError, TaskRequest, WriteOutcome

log = structlog.get_logger(__name__)

#: The CampaignMember field naming the person, by the person's object type.
PERSON_FIELD = {"Lead": "LeadId", "Contact": "ContactId"}
_ID_CHARS = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


def is_record_id(value: str) -> bool:
    """Whether ``value`` has the shape of a Salesforce record id (15 or 18 letters/digits)."""
    return len(value) in (15, 18) and set(value) <= _ID_CHARS


def id15(value: str) -> str:
    """The case-sensitive 15-character form, so 15- and 18-character ids compare equal."""
    return value[:15]


def invalid(enrolment: Enrolment) -> RecordError | None:
    """Why an enrolment cannot be sent at all, checked before any call."""
    sobject = enrolment.ref.object_type
    if sobject not in PERSON_FIELD:
        return RecordError(
            "LEADSYNC_BAD_MEMBER",
            f"only a Lead or Contact can be a campaign member, not {sobject}",
        )
    for name, value in (("campaign", enrolment.target_id), (sobject, enrolment.ref.external_id)):
        if not is_record_id(value):
            return RecordError(
                "MALFORMED_ID",
                f"{name} id {value!r} is not a Salesforce id (15 or 18 letters and digits)",
                ("CampaignId",) if name == "campaign" else (PERSON_FIELD[sobject],),
            )
    return None


class Enroller:
    """Campaign membership changes through one connection's ``Writer``."""

    def __init__(self, writer: Writer) -> None:
        self.writer = writer
        self.client = writer.client

    def enrol(self, enrolments: Sequence[Enrolment]) -> list[WriteOutcome]:
        enrolled, _ = self.enrol_and_create_tasks(enrolments, ())
        return enrolled

    def enrol_and_create_tasks(
        self, enrolments: Sequence[Enrolment], tasks: Sequence[TaskRequest]
    ) -> tuple[list[WriteOutcome], list[WriteOutcome]]:
        """Campaign members and hand-off tasks in the same Collections inserts (a call takes
        up to 200 records of up to 10 runs of one type): a cycle that recycles and hands off
        spends one call per 200 inserts of both, not one per 200 of each. Removals are a
        query and a delete of their own."""
        outcomes: list[WriteOutcome | None] = [None] * len(enrolments)
        task_outcomes: list[WriteOutcome | None] = [None] * len(tasks)
        valid: list[int] = []
        for index, enrolment in enumerate(enrolments):
            error = invalid(enrolment)
            if error is not None:
                outcomes[index] = WriteOutcome(enrolment.ref, ok=False, error=error)
            else:
                valid.append(index)
        inserts = self.writer.task_items(tasks, task_outcomes)
        for remove, run in groupby(valid, key=lambda i: enrolments[i].remove):
            indexes = list(run)
            if remove:
                self._remove(enrolments, indexes, outcomes)
            else:
                inserts.extend(self._add_items(enrolments, indexes, outcomes))

        def already_done(item: Pending, error: RecordError) -> WriteOutcome | None:
            if item.sobject == "Task":
                return self.writer.existing_task(item, error)
            return WriteOutcome(item.ref, ok=True) if error.code == "DUPLICATE_VALUE" else None

        self.writer.insert(inserts, tolerate=already_done)
        done = complete(outcomes, enrolments)
        log.info(
            "salesforce.enrol",
            count=len(enrolments),
            failed=sum(1 for o in done if not o.ok),
        )
        return done, complete(task_outcomes, tasks)

    def _add_items(
        self,
        enrolments: Sequence[Enrolment],
        indexes: list[int],
        outcomes: list[WriteOutcome | None],
    ) -> list[Pending]:
        items = []
        for index in indexes:
            enrolment = enrolments[index]
            fields: dict[str, Any] = {
                "CampaignId": enrolment.target_id,
                PERSON_FIELD[enrolment.ref.object_type]: enrolment.ref.external_id,
            }
            if enrolment.status is not None:
                fields["Status"] = enrolment.status
            items.append(Pending.at(index, enrolment.ref, "CampaignMember", fields, outcomes))
        return items

    def _remove(
        self,
        enrolments: Sequence[Enrolment],
        indexes: list[int],
        outcomes: list[WriteOutcome | None],
    ) -> None:
        for start in range(0, len(indexes), COLLECTION_LIMIT):
            chunk = indexes[start : start + COLLECTION_LIMIT]
            members = self._members(enrolments, chunk)
            member_ids = [m for i in chunk for m in members.get(i, [])]
            deleted = self.writer.delete(member_ids) if member_ids else {}
            for index in chunk:
                ref = enrolments[index].ref
                errors = [deleted.get(m) for m in members.get(index, [])]
                # Already gone (deleted since the query) is as good as deleted now.
                failed = [e for e in errors if e is not None and e.code != "ENTITY_IS_DELETED"]
                outcomes[index] = WriteOutcome(
                    ref, ok=not failed, error=failed[0] if failed else None
                )

    def _members(self, enrolments: Sequence[Enrolment], chunk: list[int]) -> dict[int, list[str]]:
        """CampaignMember ids per enrolment index, one query per person type in the chunk."""
        wanted: dict[tuple[str, str], list[int]] = {}
        for index in chunk:
            enrolment = enrolments[index]
            key = (id15(enrolment.target_id), id15(enrolment.ref.external_id))
            wanted.setdefault(key, []).append(index)
        found: dict[int, list[str]] = {}
        for sobject, field in PERSON_FIELD.items():
            of_type = [enrolments[i] for i in chunk if enrolments[i].ref.object_type == sobject]
            if not of_type:
                continue
            query = soql.select(
                ["Id", "CampaignId", field],
                "CampaignMember",
                [
                    soql.is_in("CampaignId", sorted({e.target_id for e in of_type})),
                    soql.is_in(field, sorted({e.ref.external_id for e in of_type})),
                ],
            )
            for _, rows in self.client.query_pages(query):
                for row in rows:
                    key = (id15(str(row.get("CampaignId"))), id15(str(row.get(field))))
                    # The IN x IN query may match pairs nobody asked about; keep asked pairs.
                    for index in wanted.get(key, []):
                        found.setdefault(index, []).append(str(row["Id"]))
        return found
