"""List membership: put contacts in a nurture list, or take them out (CRM v3 Lists API).

``PUT /crm/v3/lists/{listId}/memberships/add`` and ``.../remove`` take a JSON array of record
ids and answer ``recordsIdsAdded`` / ``recordIdsRemoved`` / ``recordIdsMissing``. HubSpot
ignores ids that are already members (add) or not members (remove), so both directions are
idempotent; an id in ``recordIdsMissing`` names no contact, which fails an add and is a no-op
for a remove. A list that does not exist answers 404, a DYNAMIC list 400: every enrolment of
that call fails with HubSpot's category and message.

One call per list per run of adds or removes (at most ``MEMBERSHIP_LIMIT`` ids a call);
enrolments run in the order given, a run of adds or removes at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby
from typing import Any

import structlog

from connectors.hubspot.client import HubSpotClient, HubSpotRejected
from connectors.hubspot.write import batch_error
from leadsync.records import Enrolment, RecordError, WriteOutcome

log = structlog.get_logger(__name__)

#: Record ids sent in one memberships add/remove call.
MEMBERSHIP_LIMIT = 100_000
_API = "crm.lists.memberships_api"


def enrol(client: HubSpotClient, enrolments: Sequence[Enrolment]) -> list[WriteOutcome]:
    """Add contacts to (or remove them from) lists; one outcome per enrolment, in order."""
    outcomes: list[WriteOutcome | None] = [None] * len(enrolments)
    valid: list[int] = []
    for index, enrolment in enumerate(enrolments):
        if enrolment.ref.object_type != "contact":
            error = RecordError(
                "LEADSYNC_BAD_MEMBER",
                f"only contacts can join a contact list, not {enrolment.ref.object_type}",
            )
            outcomes[index] = WriteOutcome(enrolment.ref, ok=False, error=error)
        else:
            valid.append(index)
    for remove, run in groupby(valid, key=lambda i: enrolments[i].remove):
        by_list: dict[str, list[int]] = {}
        for index in run:
            by_list.setdefault(enrolments[index].target_id, []).append(index)
        for list_id, indexes in by_list.items():
            for start in range(0, len(indexes), MEMBERSHIP_LIMIT):
                chunk = indexes[start : start + MEMBERSHIP_LIMIT]
                _change(client, list_id, remove, enrolments, chunk, outcomes)
    done = [o for o in outcomes if o is not None]
    log.info(
        "hubspot.enrol",
        connector=client.name,
        count=len(enrolments),
        failed=sum(1 for o in done if not o.ok),
    )
    return done


def _change(
    client: HubSpotClient,
    list_id: str,
    remove: bool,
    enrolments: Sequence[Enrolment],
    chunk: list[int],
    outcomes: list[WriteOutcome | None],
) -> None:
    """One add or remove call. A call HubSpot did not answer (outage, budget spent) raises:
    the enrolments stay owed without spending an attempt."""
    ids = list(dict.fromkeys(enrolments[i].ref.external_id for i in chunk))
    verb = "remove" if remove else "add"
    try:
        answer: dict[str, Any] = (
            client.call(f"lists.memberships.{verb}", _API, verb, list_id, ids) or {}
        )
    except HubSpotRejected as exc:
        _fail(enrolments, chunk, outcomes, batch_error(exc))
        return
    missing = {str(i) for i in answer.get("recordIdsMissing") or []}
    for index in chunk:
        ref = enrolments[index].ref
        if remove or ref.external_id not in missing:
            outcomes[index] = WriteOutcome(ref, ok=True)
        else:
            error = RecordError(
                "OBJECT_NOT_FOUND",
                f"HubSpot lists contact {ref.external_id} in recordIdsMissing: no such "
                f"contact, so it was not added to list {list_id}",
            )
            outcomes[index] = WriteOutcome(ref, ok=False, error=error)


def _fail(
    enrolments: Sequence[Enrolment],
    chunk: list[int],
    outcomes: list[WriteOutcome | None],
    error: RecordError,
) -> None:
    for index in chunk:
        outcomes[index] = WriteOutcome(enrolments[index].ref, ok=False, error=error)
