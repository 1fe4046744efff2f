"""How ``read_activities`` packs people into queries: pure, generated cases."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from urllib.parse import quote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.salesforce import history
from connectors.salesforce.mapping import load_mapping
from connectors.salesforce.pull import PullPlan, activity_plans
from leadsync.records import PersonRecord, RecordRef
from sandboxes.salesforce.ids import IdFactory
from sandboxes.salesforce.soql_parse import parse

MAPPING = load_mapping()
PLANS = {plan.sobject: plan for plan in activity_plans(MAPPING)}
_IDS = IdFactory()

emails = st.builds(
    lambda local, domain: f"{local}@{domain}.example",
    st.text("abcdefghijklmnopqrstuvwxyz.+_'%&", min_size=1, max_size=64),
    st.text("abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=40),
)
people_st = st.lists(
    st.tuples(st.booleans(), st.booleans(), st.one_of(st.none(), emails)),
    min_size=0,
    max_size=900,
)


def _people(spec: list[tuple[bool, bool, str | None]]) -> list[history.Person]:
    out = []
    for is_lead, converted, email in spec:
        record_id = _IDS.new("00Q" if is_lead else "003")
        merged = RecordRef("sf", "Contact", _IDS.new("003")) if is_lead and converted else None
        record = PersonRecord(
            ref=RecordRef("sf", "Lead" if is_lead else "Contact", record_id),
            email=email,
            modified_at=datetime(2025, 1, 1, tzinfo=UTC),
            merged_into=merged,
        )
        out.append(history.person_of(record))
    return out


#: How much the chunker's size estimate may exceed the rendered query: a placeholder literal
#: and one separator more per IN list.
_ESTIMATE_SLACK = 100


def _values(person: history.Person, terms: tuple[history.Lookup, ...]) -> set[str]:
    return {v for t in terms for v in person.values(t.kind)}


def _with(
    chunk: dict[str, list[str]], person: history.Person, terms: tuple[history.Lookup, ...]
) -> dict[str, list[str]]:
    grown = {field: list(values) for field, values in chunk.items()}
    for term in terms:
        grown[term.field] = list(dict.fromkeys(grown[term.field] + list(person.values(term.kind))))
    return grown


@settings(max_examples=40, deadline=None)
@given(spec=people_st, sobject=st.sampled_from(sorted(PLANS)))
def test_chunks_fit_the_uri_keep_each_person_whole_and_are_as_few_as_greedy_allows(
    spec: list[tuple[bool, bool, str | None]], sobject: str
) -> None:
    _check_chunks(PLANS[sobject], _people(spec))


@pytest.mark.parametrize("seed", range(4))
def test_thousands_of_people_take_many_full_queries(seed: int) -> None:
    rng = random.Random(seed)
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789.+'"
    spec = [
        (
            rng.random() < 0.7,
            rng.random() < 0.2,
            None
            if rng.random() < 0.1
            else "".join(rng.choices(alphabet, k=rng.randint(3, 60))) + "@corp.example",
        )
        for _ in range(2_500)
    ]
    people = _people(spec)
    for plan in PLANS.values():
        chunks = _check_chunks(plan, people)
        terms = history.lookups(plan, MAPPING)
        longest = max(len({v for p in people for v in p.values(t.kind)}) for t in terms)
        assert len(chunks) >= -(-longest // history.MAX_PER_LIST) >= 6


def _check_chunks(plan: PullPlan, people: list[history.Person]) -> list[dict[str, list[str]]]:
    terms = history.lookups(plan, MAPPING)
    chunks = list(history.chunks(plan, terms, people))
    asked: list[set[str]] = []
    for chunk in chunks:
        text = history.query_text(plan, chunk)
        parse(text)  # well-formed SOQL
        assert len(quote_plus(text)) <= history.URI_BUDGET
        assert all(len(values) <= history.MAX_PER_LIST for values in chunk.values())
        asked.append({v for values in chunk.values() for v in values})
    # Each person's values are asked for together, in one query.
    for person in people:
        mine = _values(person, terms)
        assert not mine or any(mine <= values for values in asked)
    # As few as a greedy, order-keeping packing gives: the first person of each later query
    # would have broken a limit of the query before it.
    done: set[str] = set()
    for before, after_values in zip(chunks, asked[1:], strict=False):
        done |= {v for values in before.values() for v in values}
        first = next(p for p in people if _values(p, terms) - done)
        assert _values(first, terms) <= after_values
        grown = _with(before, first, terms)
        too_many = any(len(v) > history.MAX_PER_LIST for v in grown.values())
        too_long = len(quote_plus(history.query_text(plan, grown))) > (
            history.URI_BUDGET - _ESTIMATE_SLACK
        )
        assert too_many or too_long
    return chunks


def test_a_converted_lead_is_asked_for_by_both_ids() -> None:
    [person] = _people([(True, True, "Ann@Example.com ")])
    assert len(person.leads) == 1 and len(person.contacts) == 1
    assert person.email == "ann@example.com"
    plan = PLANS["CampaignMember"]
    [chunk] = history.chunks(plan, history.lookups(plan, MAPPING), [person])
    text = history.query_text(plan, chunk)
    assert f"LeadId IN ('{person.leads[0]}')" in text
    assert f"ContactId IN ('{person.contacts[0]}')" in text
    assert " OR " in text


def test_nobody_asks_nothing() -> None:
    plan = PLANS["Task"]
    assert list(history.chunks(plan, history.lookups(plan, MAPPING), [])) == []


def test_an_address_shared_across_a_boundary_is_asked_again_with_its_person() -> None:
    people = _people([(True, False, "Team@Corp.example")] * (history.MAX_PER_LIST + 1))
    plan = PLANS["Form_Submission__c"]
    terms = history.lookups(plan, MAPPING)
    *_, last = history.chunks(plan, terms, people)
    assert last["Email__c"] == ["team@corp.example"]
    assert last["Lead__c"] == [people[-1].leads[0]]
