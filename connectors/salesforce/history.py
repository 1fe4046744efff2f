"""A person's whole activity history, read by record id (``Connector.read_activities``).

The incremental pull reads activities by ``SystemModstamp``, so a person the store forgot and
who comes back brings only what changed lately. This reads everything still linked to their
records, source by source, with the plans and row converters of :mod:`pull` (same objects,
same fields, same refs, so a re-read upserts what the pull stored):

==================  ==============================================================
source              filter (one query per chunk of people, REST ``query`` paging)
==================  ==============================================================
CampaignMember      ``LeadId IN (...) OR ContactId IN (...)``
Task, Event         ``WhoId IN (...)``
form object         ``<lead_field> IN (...) OR <contact_field> IN (...)
                    OR <email_field> IN (...)`` (submissions linked by address only)
==================  ==============================================================

``query`` (not ``queryAll``) leaves the recycle bin out; rows the pull marks deleted (an open
Task) are left out too. A converted Lead's activities move to its Contact, so a person
carrying both (``merged_into``) is read by both ids.

A query travels in the URL of a GET, and Salesforce refuses more than 16,384 bytes of URI and
headers (414 / 431) long before the 100,000-character SOQL limit; each chunk is sized by its
URL-encoded length (:data:`URI_BUDGET`) as well as by :data:`MAX_PER_LIST` values an IN list.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

import structlog

from connectors.salesforce import soql
from connectors.salesforce.client import SalesforceClient
from connectors.salesforce.mapping import SalesforceMapping
from connectors.salesforce.pull import PullPlan, activity_plans, flatten, to_activity
from leadsync.records import ActivityRecord, PersonRecord, RecordRef

log = structlog.get_logger(__name__)

#: Bytes of URL-encoded SOQL a query may take: the documented cap is 16,384 bytes for the URI
#: and headers together; the rest is left to the path, the bearer token and the other headers.
URI_BUDGET = 12_000
#: Values in one IN list. Salesforce documents no count of its own; 300 ids take ~8,400
#: encoded bytes, so a list of ids alone always fits the budget.
MAX_PER_LIST = 300
#: What one more value adds to a list: the URL-encoded ``, `` that separates it.
_SEPARATOR = len(quote_plus(", "))

_PERSON_OBJECTS = ("Lead", "Contact")


@dataclass(frozen=True, slots=True)
class Person:
    """What one person is looked up by: record ids by object, and the lower-cased address."""

    leads: tuple[str, ...]
    contacts: tuple[str, ...]
    email: str | None

    def values(self, kind: str) -> tuple[str, ...]:
        if kind == "Lead":
            return self.leads
        if kind == "Contact":
            return self.contacts
        if kind == "who":
            return self.leads + self.contacts
        return (self.email,) if self.email else ()


@dataclass(frozen=True, slots=True)
class Lookup:
    """One ``field IN (...)`` term of a source's filter and which values it takes."""

    field: str
    kind: str  # Lead | Contact | who | email


def person_of(record: PersonRecord) -> Person:
    """The ids (own and ``merged_into``) and address a person's activities are linked by."""
    refs = [record.ref] + ([record.merged_into] if record.merged_into else [])

    def ids(sobject: str) -> tuple[str, ...]:
        return tuple(r.external_id for r in refs if r.object_type == sobject)

    return Person(ids("Lead"), ids("Contact"), _address(record.email))


def lookups(plan: PullPlan, mapping: SalesforceMapping) -> tuple[Lookup, ...]:
    """How a source's rows name their person, as the pull's converter reads them."""
    if plan.sobject == "CampaignMember":
        return (Lookup("LeadId", "Lead"), Lookup("ContactId", "Contact"))
    if plan.sobject in ("Task", "Event"):
        return (Lookup("WhoId", "who"),)
    forms = mapping.activities.forms
    found = [Lookup(forms.lead_field, "Lead")] if forms.lead_field else []
    if forms.contact_field:
        found.append(Lookup(forms.contact_field, "Contact"))
    found.append(Lookup(forms.email_field, "email"))
    return tuple(found)


def chunks(
    plan: PullPlan, terms: Sequence[Lookup], people: Sequence[Person]
) -> Iterator[dict[str, list[str]]]:
    """People packed into as few queries as fit: ``{field: values}`` per query.

    A person is never split across two queries. The size counted is an upper bound of the
    URL-encoded query (every term present), so the rendered query always fits.
    """
    base = len(quote_plus(_render(plan, {t.field: ["''"] for t in terms})))
    current: dict[str, list[str]] = {t.field: [] for t in terms}
    seen: dict[str, set[str]] = {t.field: set() for t in terms}
    size = base
    for person in people:
        adds = _new_values(person, terms, seen)
        cost = sum(_cost(v) for values in adds.values() for v in values)
        if not cost:
            continue
        too_long = any(len(current[f]) + len(v) > MAX_PER_LIST for f, v in adds.items())
        if any(current.values()) and (size + cost > URI_BUDGET or too_long):
            yield current
            current = {t.field: [] for t in terms}
            seen = {t.field: set() for t in terms}
            size = base
            adds = _new_values(person, terms, seen)
            cost = sum(_cost(v) for values in adds.values() for v in values)
        for field, values in adds.items():
            current[field] += values
            seen[field].update(values)
        size += cost
    if any(current.values()):
        yield current


def _new_values(
    person: Person, terms: Sequence[Lookup], seen: dict[str, set[str]]
) -> dict[str, list[str]]:
    """The person's values each list does not hold yet."""
    return {
        t.field: [v for v in dict.fromkeys(person.values(t.kind)) if v not in seen[t.field]]
        for t in terms
    }


def query_text(plan: PullPlan, chunk: dict[str, list[str]]) -> str:
    """``SELECT <the pull's fields> FROM <source> WHERE a IN (...) OR b IN (...)``."""
    return _render(plan, {field: values for field, values in chunk.items() if values})


def _render(plan: PullPlan, lists: dict[str, list[str]]) -> str:
    terms = [soql.is_in(field, values).text for field, values in lists.items()]
    # Every term is built by soql.is_in (identifiers checked, literals quoted); only the OR
    # joining them is added here, inside parentheses so no AND can bind to one of them.
    where = soql.Condition("(" + " OR ".join(terms) + ")")
    return soql.select(plan.fields, plan.sobject, [where])


def _address(email: str | None) -> str | None:
    """How addresses are compared: trimmed and lower-cased, as the store links them."""
    value = (email or "").strip().lower()
    return value or None


def _cost(value: str) -> int:
    return len(quote_plus(soql.literal(value))) + _SEPARATOR


def read_activities(
    client: SalesforceClient,
    source: str,
    mapping: SalesforceMapping,
    records: Sequence[PersonRecord],
) -> list[ActivityRecord]:
    """Every live activity of ``records``, one query per source per chunk (plus its pages)."""
    return _read(client, source, mapping, [person_of(r) for r in records])


def read_address_activities(
    client: SalesforceClient, source: str, mapping: SalesforceMapping, emails: Sequence[str]
) -> list[ActivityRecord]:
    """The form submissions linked by address alone to ``emails``: the sources that link by
    id alone get no values, so no query."""
    addresses = dict.fromkeys(a for e in emails if (a := _address(e)))
    return _read(client, source, mapping, [Person((), (), a) for a in addresses])


def _read(
    client: SalesforceClient, source: str, mapping: SalesforceMapping, people: list[Person]
) -> list[ActivityRecord]:
    found: dict[RecordRef, ActivityRecord] = {}
    for plan in activity_plans(mapping):
        terms = lookups(plan, mapping)
        queries = 0
        for chunk in chunks(plan, terms, people):
            queries += 1
            asked = _Asked.of(terms, chunk)
            for _, rows in client.query_pages(query_text(plan, chunk)):
                for raw in rows:
                    row = flatten(raw)
                    activity = to_activity(source, plan.sobject, row, mapping)
                    if activity is not None and asked.owns(activity, row):
                        found[activity.ref] = activity
        log.info("salesforce.history", object=plan.sobject, people=len(people), queries=queries)
    return list(found.values())


@dataclass(frozen=True, slots=True)
class _Asked:
    """What one query asked for, to tell the rows it owns from those an address matched."""

    links: tuple[str, ...]  # the id fields of the source
    ids: frozenset[str]
    addresses: frozenset[str]

    @classmethod
    def of(cls, terms: Sequence[Lookup], chunk: dict[str, list[str]]) -> _Asked:
        links = tuple(t.field for t in terms if t.kind != "email")
        ids = frozenset(v for field in links for v in chunk[field])
        addresses = frozenset(v for t in terms if t.kind == "email" for v in chunk[t.field])
        return cls(links, ids, addresses)

    def owns(self, activity: ActivityRecord, row: dict[str, Any]) -> bool:
        """A live row linked to an id asked for; or, matched by address alone, one the pull
        links by that address (no record of someone else named on it)."""
        if activity.deleted:
            return False
        if any(row.get(field) in self.ids for field in self.links):
            return True
        return activity.person is None and _address(activity.email) in self.addresses
