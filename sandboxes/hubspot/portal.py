"""The live state of one emulated HubSpot portal: CRM objects, properties, owners, marketing data.

All access goes through one re-entrant lock, so the HTTP handler threads, the webhook
dispatcher and a test or traffic generator can read and write the same portal at once.
Writes bump the object's modification date exactly as HubSpot does and notify listeners
(the webhook dispatcher) of creations, property changes and deletions.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sandboxes.hubspot.schema import (
    ASSOCIATION_TYPES,
    GROUPS,
    LEADSYNC_GROUP,
    ValueRejected,
    coerce_value,
    created_prop,
    default_properties,
    iso_instant,
    leadsync_output_properties,
    lifecycle_dates,
    modified_prop,
    parse_instant,
)

OBJECT_TYPES = ("contacts", "tasks", "meetings", "calls", "deals")
#: Contact properties HubSpot calculates from form submissions; a form cannot set them.
CONVERSION_PROPERTIES = (
    "first_conversion_date",
    "first_conversion_event_name",
    "recent_conversion_date",
    "recent_conversion_event_name",
    "num_conversion_events",
)


@dataclass(slots=True)
class CrmObject:
    """One CRM record. ``properties`` hold HubSpot's stored strings."""

    id: int
    object_type: str
    properties: dict[str, str]
    created_at: datetime
    updated_at: datetime
    archived: bool = False
    archived_at: datetime | None = None

    def to_json(self, names: Iterable[str] | None) -> dict[str, Any]:
        """The v3 ``SimplePublicObject`` body, with ``names`` (or every set) property."""
        props: dict[str, str | None]
        if names is None:
            props = dict(self.properties)
        else:
            props = {n: self.properties.get(n) or None for n in names}
        body: dict[str, Any] = {
            "id": str(self.id),
            "properties": props,
            "createdAt": iso_instant(self.created_at),
            "updatedAt": iso_instant(self.updated_at),
            "archived": self.archived,
        }
        if self.archived_at is not None:
            body["archivedAt"] = iso_instant(self.archived_at)
        return body


@dataclass(frozen=True, slots=True)
class Change:
    """A change to one CRM object, as the webhook dispatcher receives it."""

    kind: str  # "creation" | "propertyChange" | "deletion"
    object_type: str
    object_id: int
    occurred_at: datetime
    source: str
    property_name: str | None = None
    property_value: str | None = None


@dataclass(slots=True)
class Owner:
    id: str
    user_id: int
    email: str
    first_name: str
    last_name: str
    teams: list[dict[str, Any]]
    archived: bool
    created_at: datetime
    updated_at: datetime

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "email": self.email,
            "type": "PERSON",
            "firstName": self.first_name,
            "lastName": self.last_name,
            "userIdIncludingInactive": self.user_id,
            "createdAt": iso_instant(self.created_at),
            "updatedAt": iso_instant(self.updated_at),
            "archived": self.archived,
            "teams": self.teams,
        }
        # HubSpot drops userId for deactivated users but keeps userIdIncludingInactive.
        if not self.archived:
            body["userId"] = self.user_id
        return body


@dataclass(slots=True)
class Form:
    guid: str
    name: str
    created_at: datetime
    #: (submittedAt ms, values [{name, value}], pageUrl), oldest first.
    submissions: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True)
class MarketingEvent:
    object_id: str
    external_event_id: str
    external_account_id: str
    name: str
    event_type: str
    organizer: str
    start: datetime
    end: datetime
    created_at: datetime
    updated_at: datetime
    #: participation records: {id, contact_id, email, state, occurred_at, created_at}
    participations: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True)
class ObjectList:
    list_id: str
    name: str
    processing_type: str  # MANUAL | SNAPSHOT | DYNAMIC
    created_at: datetime
    updated_at: datetime
    members: dict[int, datetime] = field(default_factory=dict)
    version: int = 1
    #: The normalised ``filterBranch`` of a DYNAMIC or SNAPSHOT list made through the API
    #: (``sandboxes.hubspot.list_filters``); None for MANUAL lists and generated ones.
    filter_branch: dict[str, Any] | None = None
    filters_updated_at: datetime | None = None


class PortalState:
    """Everything one portal holds. Thread-safe; ``now`` is injectable for deterministic data."""

    def __init__(self, portal_id: int = 62515, clock: Callable[[], datetime] | None = None) -> None:
        self.portal_id = portal_id
        self.lock = threading.RLock()
        self._clock = clock or (lambda: datetime.now(UTC))
        self._ids = itertools.count(1001)
        self.objects: dict[str, dict[int, CrmObject]] = {t: {} for t in OBJECT_TYPES}
        self.properties: dict[str, dict[str, dict[str, Any]]] = {}
        self.groups: dict[str, dict[str, dict[str, Any]]] = {}
        for object_type in OBJECT_TYPES:
            self.properties[object_type] = {p["name"]: p for p in default_properties(object_type)}
            self.groups[object_type] = {
                name: _group(name, label, i) for i, (name, label) in enumerate(GROUPS[object_type])
            }
        #: (object type, property) -> {value -> id} for properties with hasUniqueValue.
        self._unique: dict[tuple[str, str], dict[str, int]] = {}
        #: (from type, from id, to type) -> {to id: {typeIds}}
        self.associations: dict[tuple[str, int, str], dict[int, set[int]]] = {}
        self.owners: dict[str, Owner] = {}
        self.forms: dict[str, Form] = {}
        self.email_campaigns: dict[int, dict[str, Any]] = {}
        self.email_events: list[dict[str, Any]] = []
        self.marketing_events: dict[str, MarketingEvent] = {}
        self.lists: dict[str, ObjectList] = {}
        #: The list recycled contacts join and the owner of nurture (set by the generator).
        self.nurture_list_id: str | None = None
        self.nurture_owner_id: str | None = None
        self._listeners: list[Callable[[Change], None]] = []

    # -- time and ids -------------------------------------------------------------------------

    def now(self) -> datetime:
        return self._clock()

    def next_id(self) -> int:
        return next(self._ids)

    # -- listeners ------------------------------------------------------------------------------

    def add_listener(self, listener: Callable[[Change], None]) -> None:
        with self.lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[Change], None]) -> None:
        with self.lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def _emit(self, change: Change) -> None:
        for listener in list(self._listeners):
            listener(change)

    # -- properties ----------------------------------------------------------------------------

    def add_output_properties(self) -> None:
        """Create the ``leadsync`` group and LeadSync's output properties on contacts."""
        with self.lock:
            name, label = LEADSYNC_GROUP
            self.groups["contacts"].setdefault(name, _group(name, label, 10))
            for definition in leadsync_output_properties():
                self.properties["contacts"].setdefault(definition["name"], definition)

    def property(self, object_type: str, name: str) -> dict[str, Any] | None:
        """A live property definition; owner references list the active owners as options."""
        definition = self.properties[object_type].get(name)
        if definition is None or definition["archived"]:
            return None
        if definition.get("referencedObjectType") == "OWNER":
            active = sorted((o for o in self.owners.values() if not o.archived), key=lambda o: o.id)
            options = [
                {
                    "label": f"{o.first_name} {o.last_name}",
                    "value": o.id,
                    "displayOrder": i,
                    "hidden": False,
                    "description": "",
                }
                for i, o in enumerate(active)
            ]
            return {**definition, "options": options}
        return definition

    def add_property(self, object_type: str, definition: dict[str, Any]) -> None:
        with self.lock:
            self.properties[object_type][definition["name"]] = definition
            if definition.get("hasUniqueValue"):
                self._reindex_unique(object_type, definition["name"])

    def _reindex_unique(self, object_type: str, name: str) -> None:
        index: dict[str, int] = {}
        for obj in self.objects[object_type].values():
            value = obj.properties.get(name)
            if value and not obj.archived:
                index[_unique_key(name, value)] = obj.id
        self._unique[(object_type, name)] = index

    def unique_properties(self, object_type: str) -> list[str]:
        return [
            n
            for n, p in self.properties[object_type].items()
            if p.get("hasUniqueValue") and not p["archived"]
        ]

    def find_unique(self, object_type: str, name: str, value: str) -> CrmObject | None:
        """The live object whose unique property ``name`` equals ``value``."""
        with self.lock:
            index = self._unique.get((object_type, name))
            if index is None:
                self._reindex_unique(object_type, name)
                index = self._unique[(object_type, name)]
            found = index.get(_unique_key(name, value))
            return self.objects[object_type].get(found) if found is not None else None

    # -- objects --------------------------------------------------------------------------------

    def get(
        self, object_type: str, object_id: int | str, *, archived: bool = False
    ) -> CrmObject | None:
        try:
            key = int(object_id)
        except (TypeError, ValueError):
            return None
        with self.lock:
            obj = self.objects[object_type].get(key)
        if obj is None or obj.archived != archived:
            return None
        return obj

    def live(self, object_type: str) -> list[CrmObject]:
        with self.lock:
            return [o for o in self.objects[object_type].values() if not o.archived]

    def contacts(self) -> list[dict[str, Any]]:
        """Every live contact as a v3 ``SimplePublicObject`` body with all set properties."""
        return [o.to_json(None) for o in self.live("contacts")]

    def validate(
        self, object_type: str, values: Mapping[str, Any]
    ) -> tuple[dict[str, str], list[ValueRejected]]:
        """HubSpot's checks on written values: known, writable, well-typed -> (clean, errors)."""
        clean: dict[str, str] = {}
        errors: list[ValueRejected] = []
        for name, raw in values.items():
            definition = self.property(object_type, name)
            if definition is None:
                errors.append(
                    ValueRejected(
                        name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist'
                    )
                )
                continue
            if definition["modificationMetadata"]["readOnlyValue"]:
                errors.append(
                    ValueRejected(name, "READ_ONLY_VALUE", f'"{name}" is a read only property')
                )
                continue
            try:
                clean[name] = coerce_value(definition, raw)
            except ValueRejected as exc:
                errors.append(exc)
        return clean, errors

    def insert(
        self,
        object_type: str,
        properties: Mapping[str, Any],
        *,
        at: datetime | None = None,
        source: str = "CRM_UI",
        trusted: bool = True,
    ) -> CrmObject:
        """Create an object. ``trusted`` writes skip validation (generator, traffic, tests)."""
        with self.lock:
            moment = at or self.now()
            if trusted:
                clean = {k: "" if v is None else str(v) for k, v in properties.items()}
            else:
                clean, errors = self.validate(object_type, properties)
                if errors:
                    raise errors[0]
            object_id = self.next_id()
            stamp = iso_instant(moment)
            clean.update(
                {
                    "hs_object_id": str(object_id),
                    created_prop(object_type): clean.get(created_prop(object_type)) or stamp,
                    modified_prop(object_type): stamp,
                }
            )
            if object_type == "contacts":
                clean.setdefault("hs_email_optout", "false")
                clean.update(lifecycle_dates({}, clean, clean[created_prop(object_type)]))
            obj = CrmObject(object_id, object_type, clean, moment, moment)
            self.objects[object_type][object_id] = obj
            self._index(obj)
            self._emit(Change("creation", object_type, object_id, moment, source))
            return obj

    def update(
        self,
        object_type: str,
        object_id: int,
        properties: Mapping[str, Any],
        *,
        at: datetime | None = None,
        source: str = "CRM_UI",
    ) -> CrmObject:
        """Set stored values on a live object, bump its modification date, notify listeners."""
        with self.lock:
            obj = self.objects[object_type][object_id]
            moment = at or self.now()
            changed = {
                k: "" if v is None else str(v)
                for k, v in properties.items()
                if obj.properties.get(k, "") != ("" if v is None else str(v))
            }
            self._unindex(obj)
            if object_type == "contacts":
                # Calculated, so never sent as a change of its own.
                obj.properties.update(lifecycle_dates(obj.properties, changed, iso_instant(moment)))
            obj.properties.update(changed)
            obj.properties[modified_prop(object_type)] = iso_instant(moment)
            obj.updated_at = moment
            self._index(obj)
            for name, value in changed.items():
                self._emit(
                    Change("propertyChange", object_type, object_id, moment, source, name, value)
                )
            return obj

    def archive(self, object_type: str, object_id: int, *, source: str = "CRM_UI") -> None:
        with self.lock:
            obj = self.objects[object_type][object_id]
            moment = self.now()
            self._unindex(obj)
            obj.archived = True
            obj.archived_at = moment
            obj.updated_at = moment
            self._emit(Change("deletion", object_type, object_id, moment, source))

    def _index(self, obj: CrmObject) -> None:
        if obj.archived:
            return
        for name in self.unique_properties(obj.object_type):
            value = obj.properties.get(name)
            if value:
                index = self._unique.setdefault((obj.object_type, name), {})
                index[_unique_key(name, value)] = obj.id

    def _unindex(self, obj: CrmObject) -> None:
        for name in self.unique_properties(obj.object_type):
            value = obj.properties.get(name)
            index = self._unique.get((obj.object_type, name))
            if value and index is not None and index.get(_unique_key(name, value)) == obj.id:
                del index[_unique_key(name, value)]

    # -- associations --------------------------------------------------------------------------

    def associate(self, from_type: str, from_id: int, to_type: str, to_id: int) -> None:
        """Associate both ways with HubSpot's default (HUBSPOT_DEFINED) association types."""
        with self.lock:
            forward = ASSOCIATION_TYPES[(from_type, to_type)]
            backward = ASSOCIATION_TYPES[(to_type, from_type)]
            self.associations.setdefault((from_type, from_id, to_type), {}).setdefault(
                to_id, set()
            ).add(forward)
            self.associations.setdefault((to_type, to_id, from_type), {}).setdefault(
                from_id, set()
            ).add(backward)

    def associated(self, from_type: str, from_id: int, to_type: str) -> dict[int, set[int]]:
        with self.lock:
            found = self.associations.get((from_type, from_id, to_type), {})
            live = {i for i in found if self.get(to_type, i) is not None}
            return {i: set(found[i]) for i in sorted(live)}

    # -- owners, forms, email, marketing events, lists -----------------------------------------

    def add_owner(self, owner: Owner) -> None:
        with self.lock:
            self.owners[owner.id] = owner

    def add_form(self, form: Form) -> None:
        with self.lock:
            self.forms[form.guid] = form

    def add_form_submission(
        self,
        form_guid: str,
        values: Mapping[str, str],
        *,
        at: datetime | None = None,
        page_url: str = "",
    ) -> dict[str, Any]:
        """Record a submission; like HubSpot, it creates or updates the contact by email.

        As HubSpot does, the submission also sets the contact's calculated conversion
        properties (recent and first conversion date and name, number of submissions), so a
        repeat submission changes the contact even when every submitted value is the same,
        and ``contact.propertyChange`` webhooks fire for it.
        """
        with self.lock:
            moment = at or self.now()
            form = self.forms[form_guid]
            submission = {
                "submittedAt": int(moment.timestamp() * 1000),
                "values": [
                    {"name": k, "value": v, "objectTypeId": "0-1"} for k, v in values.items()
                ],
                "pageUrl": page_url,
            }
            form.submissions.append(submission)
            email = values.get("email")
            if email:
                existing = self.find_unique("contacts", "email", email)
                known = {
                    k: v
                    for k, v in values.items()
                    if self.property("contacts", k) and k not in CONVERSION_PROPERTIES
                }
                known.update(_conversion(existing, form.name, moment))
                if existing is None:
                    self.insert("contacts", known, at=moment, source="FORM")
                else:
                    self.update("contacts", existing.id, known, at=moment, source="FORM")
            return submission

    def add_email_event(self, event: dict[str, Any]) -> dict[str, Any]:
        """Record a marketing email event (``created`` in ms); unsubscribes opt the contact out."""
        with self.lock:
            event.setdefault("id", f"{event['created']:x}-{len(self.email_events):06d}")
            event.setdefault("portalId", self.portal_id)
            event.setdefault("appId", 113)
            event.setdefault("appName", "Batch")
            self.email_events.append(event)
            if event["type"] == "STATUSCHANGE" and event.get("portalSubscriptionStatus") == (
                "UNSUBSCRIBED"
            ):
                contact = self.find_unique("contacts", "email", event["recipient"])
                if contact is not None:
                    moment = datetime.fromtimestamp(event["created"] / 1000, tz=UTC)
                    self.update(
                        "contacts",
                        contact.id,
                        {"hs_email_optout": "true"},
                        at=moment,
                        source="EMAIL",
                    )
            return event

    def add_participation(
        self, event_id: str, contact_id: int, state: str, *, at: datetime | None = None
    ) -> dict[str, Any]:
        """Record a contact's REGISTERED / ATTENDED / CANCELLED / NO_SHOW on a marketing event."""
        with self.lock:
            moment = at or self.now()
            event = self.marketing_events[event_id]
            contact = self.objects["contacts"][contact_id]
            record = {
                "id": str(self.next_id()),
                "contact_id": contact_id,
                "email": contact.properties.get("email", ""),
                "firstname": contact.properties.get("firstname") or None,
                "lastname": contact.properties.get("lastname") or None,
                "state": state,
                "occurred_at": moment,
                "created_at": moment,
            }
            event.participations.append(record)
            event.updated_at = moment
            return record

    def add_engagement(
        self,
        object_type: str,
        contact_id: int,
        properties: Mapping[str, Any],
        *,
        at: datetime | None = None,
    ) -> CrmObject:
        """Log a meeting, call or task against a contact (trusted write plus association)."""
        with self.lock:
            obj = self.insert(object_type, properties, at=at)
            self.associate(object_type, obj.id, "contacts", contact_id)
            return obj

    def add_list(self, object_list: ObjectList) -> None:
        with self.lock:
            self.lists[object_list.list_id] = object_list


def _conversion(contact: CrmObject | None, form_name: str, moment: datetime) -> dict[str, str]:
    """The conversion properties after one more submission of ``form_name`` at ``moment``.

    Submissions may be recorded out of order (generated history), so "recent" and "first"
    move only when ``moment`` is later (earlier) than what the contact has.
    """
    have = contact.properties if contact is not None else {}
    stamp = iso_instant(moment)
    count = int(have.get("num_conversion_events") or 0) + 1
    out = {"num_conversion_events": str(count)}
    recent = have.get("recent_conversion_date")
    if not recent or parse_instant(recent) <= moment:
        out.update(recent_conversion_date=stamp, recent_conversion_event_name=form_name)
    first = have.get("first_conversion_date")
    if not first or parse_instant(first) > moment:
        out.update(first_conversion_date=stamp, first_conversion_event_name=form_name)
    return out


def _group(name: str, label: str, order: int) -> dict[str, Any]:
    return {"name": name, "label": label, "displayOrder": order, "archived": False}


def _unique_key(name: str, value: str) -> str:
    # HubSpot matches email addresses case-insensitively; other unique values exactly.
    return value.lower() if name == "email" else value
