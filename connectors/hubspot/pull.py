"""Reading CRM objects: incremental search past the 10,000-result cap, and full list paging.

The CRM search API answers at most 10,000 results for one query (asking for ``after`` >= 10,000
is a 400). Sorted ascending by the last-modified property, a search that reaches the cap is
restarted with its lower bound moved to the last timestamp seen; the records already yielded at
that exact timestamp are skipped, so nothing is lost or repeated. When more than one page of
records share a single timestamp, that timestamp is read on its own, keyed by object id.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

import structlog

from connectors.hubspot.client import HubSpotClient
from connectors.hubspot.mapping import HubSpotMapping, parse_time, person_from_contact, to_millis
from leadsync.records import PersonRecord, RecordRef

log = structlog.get_logger(__name__)

#: HubSpot answers at most this many results for one search query.
SEARCH_RESULT_CAP = 10_000
#: Largest page the search API serves.
SEARCH_PAGE = 200
#: Largest page the list (GET objects) API serves.
LIST_PAGE = 100
#: Most ids one batch read takes.
BATCH_READ = 100


def search_modified_since(
    client: HubSpotClient,
    *,
    api_path: str,
    endpoint: str,
    modified_property: str,
    since: datetime,
    properties: Sequence[str],
    page_size: int = SEARCH_PAGE,
    filters: Sequence[dict[str, Any]] = (),
) -> Iterator[dict[str, Any]]:
    """Every object modified at or after ``since`` (and matching ``filters``, more search
    filters ANDed with it), oldest first, however many there are."""
    lower = to_millis(since)
    seen_at_lower: set[str] = set()
    while True:
        restart = False
        after: str | None = None
        last_ts: int | None = None
        at_last_ts: set[str] = set()
        progressed = False
        while True:
            body: dict[str, Any] = {
                "filterGroups": [
                    {
                        "filters": [
                            {
                                "propertyName": modified_property,
                                "operator": "GTE",
                                "value": str(lower),
                            },
                            *filters,
                        ]
                    }
                ],
                "sorts": [{"propertyName": modified_property, "direction": "ASCENDING"}],
                "properties": list(properties),
                "limit": page_size,
            }
            if after is not None:
                body["after"] = after
            page = client.call(endpoint, api_path, "do_search", body, search=True)
            for obj in page.get("results") or []:
                ts = _modified_millis(obj, modified_property)
                oid = str(obj["id"])
                if ts == lower and oid in seen_at_lower:
                    continue
                if ts != last_ts:
                    last_ts, at_last_ts = ts, set()
                at_last_ts.add(oid)
                if ts is not None and ts > lower:
                    progressed = True
                yield obj
            after = ((page.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return
            if _next_offset_past_cap(after, page_size):
                restart = True
                break
        if not restart or last_ts is None:
            return
        if not progressed:
            # A whole capped window at one timestamp: read that instant by id, then move on.
            yield from _one_instant(
                client,
                api_path,
                endpoint,
                modified_property,
                lower,
                properties,
                seen_at_lower | at_last_ts,
                filters,
            )
            lower += 1
            seen_at_lower = set()
            continue
        log.info("hubspot.search.window", endpoint=endpoint, lower=last_ts, skipped=len(at_last_ts))
        seen_at_lower = at_last_ts
        lower = last_ts


def _one_instant(
    client: HubSpotClient,
    api_path: str,
    endpoint: str,
    modified_property: str,
    instant: int,
    properties: Sequence[str],
    already: set[str],
    filters: Sequence[dict[str, Any]] = (),
) -> Iterator[dict[str, Any]]:
    """Every object modified exactly at ``instant``, keyed by id so the cap never bites."""
    last_id = 0
    while True:
        body = {
            "filterGroups": [
                {
                    "filters": [
                        {
                            "propertyName": modified_property,
                            "operator": "EQ",
                            "value": str(instant),
                        },
                        {"propertyName": "hs_object_id", "operator": "GT", "value": str(last_id)},
                        *filters,
                    ]
                }
            ],
            "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
            "properties": list(properties),
            "limit": SEARCH_PAGE,
        }
        page = client.call(endpoint, api_path, "do_search", body, search=True)
        results = page.get("results") or []
        for obj in results:
            last_id = max(last_id, int(obj["id"]))
            if str(obj["id"]) not in already:
                yield obj
        if len(results) < SEARCH_PAGE:
            return


def list_all(
    client: HubSpotClient,
    *,
    api_path: str,
    endpoint: str,
    properties: Sequence[str] = (),
    archived: bool = False,
    associations: Sequence[str] = (),
    start_after: str | None = None,
    on_page: Callable[[str], None] | None = None,
) -> Iterator[dict[str, Any]]:
    """Every object of a type through GET list paging (no result cap).

    ``on_page(after)`` hears, once a page's objects have all been taken, the cursor of the
    next page; ``start_after`` starts at such a cursor.
    """
    after: str | None = start_after
    while True:
        kwargs: dict[str, Any] = {"limit": LIST_PAGE, "archived": archived}
        if properties:
            kwargs["properties"] = list(properties)
        if associations:
            kwargs["associations"] = list(associations)
        if after is not None:
            kwargs["after"] = after
        page = client.call(endpoint, api_path, "get_page", **kwargs)
        yield from page.get("results") or []
        after = ((page.get("paging") or {}).get("next") or {}).get("after")
        if not after:
            return
        if on_page is not None:
            on_page(after)


def pull_contacts(
    client: HubSpotClient,
    mapping: HubSpotMapping,
    since: datetime | None,
    resume: str | None = None,
    checkpoint: Callable[[str], None] | None = None,
) -> Iterator[PersonRecord]:
    """Contacts modified since ``since`` (all when ``None``), then archived ones as deletions.

    Resumable (tokens are JSON): a full pull at each list page (``{"after": cursor}``), and at
    the archived contacts (``{"stage": "archived"}``). A windowed search is not checkpointed
    inside: its window moves with what it finds, so it is simply run again.
    """
    start = json.loads(resume) if resume else {}
    if start.get("stage") != "archived":
        yield from _live_contacts(client, mapping, since, start.get("after"), checkpoint)
        if checkpoint is not None:
            checkpoint(json.dumps({"stage": "archived"}))
    yield from _archived_contacts(client, mapping, since)


def _live_contacts(
    client: HubSpotClient,
    mapping: HubSpotMapping,
    since: datetime | None,
    start_after: str | None,
    checkpoint: Callable[[str], None] | None,
) -> Iterator[PersonRecord]:
    props = mapping.read_properties()
    api = "crm.contacts.search_api"
    if since is None:

        def on_page(after: str) -> None:
            if checkpoint is not None:
                checkpoint(json.dumps({"after": after}))

        objects: Iterator[dict[str, Any]] = list_all(
            client,
            api_path="crm.contacts.basic_api",
            endpoint="contacts.list",
            properties=props,
            start_after=start_after,
            on_page=on_page,
        )
    else:
        objects = search_modified_since(
            client,
            api_path=api,
            endpoint="contacts.search",
            modified_property=mapping.contact.modified,
            since=since,
            properties=props,
        )
    count = 0
    for obj in objects:
        count += 1
        yield person_from_contact(client.name, obj, mapping)
    log.info("hubspot.contacts", connector=client.name, count=count)


def _archived_contacts(
    client: HubSpotClient, mapping: HubSpotMapping, since: datetime | None
) -> Iterator[PersonRecord]:
    deleted = 0
    for obj in list_all(
        client,
        api_path="crm.contacts.basic_api",
        endpoint="contacts.list_archived",
        properties=[mapping.contact.email],
        archived=True,
    ):
        obj = {**obj, "archived": True}
        person = person_from_contact(client.name, obj, mapping)
        if since is None or person.modified_at >= since:
            deleted += 1
            yield person
    log.info("hubspot.contacts_archived", connector=client.name, deleted=deleted)


def read_contacts(
    client: HubSpotClient, mapping: HubSpotMapping, refs: Sequence[RecordRef]
) -> list[PersonRecord]:
    """The contacts ``refs`` name, by batch read (100 ids a call, outside the search limit).

    Ids HubSpot no longer has come back in the 207 answer's OBJECT_NOT_FOUND error and are
    left out: a deleted or merged contact reaches the store through the next poll.
    """
    ids = list(dict.fromkeys(r.external_id for r in refs if r.object_type == "contact"))
    props = mapping.read_properties()
    people: list[PersonRecord] = []
    for start in range(0, len(ids), BATCH_READ):
        chunk = ids[start : start + BATCH_READ]
        body = {"inputs": [{"id": i} for i in chunk], "properties": props}
        answer = client.call("contacts.batch_read", "crm.contacts.batch_api", "read", body)
        people += [person_from_contact(client.name, obj, mapping) for obj in answer["results"]]
        missing = [
            i
            for error in answer.get("errors") or []
            for i in (error.get("context") or {}).get("ids") or []
        ]
        if missing:
            log.info("hubspot.contacts.not_found", connector=client.name, ids=missing)
    return people


def find_contacts(
    client: HubSpotClient, mapping: HubSpotMapping, emails: Sequence[str]
) -> list[PersonRecord]:
    """Contacts by email address: a batch read with ``idProperty: email`` (100 a call; an
    address no contact has comes back as OBJECT_NOT_FOUND and is left out)."""
    addresses = list(dict.fromkeys(e.strip().lower() for e in emails if e and e.strip()))
    props = mapping.read_properties()
    people: list[PersonRecord] = []
    for start in range(0, len(addresses), BATCH_READ):
        chunk = addresses[start : start + BATCH_READ]
        body = {"inputs": [{"id": a} for a in chunk], "idProperty": "email", "properties": props}
        answer = client.call("contacts.batch_read", "crm.contacts.batch_api", "read", body)
        people += [person_from_contact(client.name, obj, mapping) for obj in answer["results"]]
    return people


def _modified_millis(obj: dict[str, Any], modified_property: str) -> int | None:
    moment = parse_time((obj.get("properties") or {}).get(modified_property)) or parse_time(
        obj.get("updatedAt")
    )
    return to_millis(moment) if moment else None


def _next_offset_past_cap(after: str, page_size: int) -> bool:
    try:
        offset = int(after)
    except ValueError:
        return False
    return offset + page_size > SEARCH_RESULT_CAP
