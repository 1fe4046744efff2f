"""One Collections stream for every object: mixed calls, ten chunks at most, merged records,
and owner changes riding with the values they belong to."""

from __future__ import annotations

import json
import math
import random
from itertools import groupby
from typing import Any

import pytest
import responses
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.salesforce.bulk_batch import Slot
from connectors.salesforce.collections import COLLECTION_LIMIT, MAX_CHUNKS, Pending, calls
from connectors.salesforce.connector import SalesforceConnector
from connectors.salesforce.mapping import load_mapping
from leadsync.records import OwnerChange, RecordRef, RecordUpdate, WriteOutcome

from .conftest import API, LIMIT_HEADERS, make_settings, token_ok


def _ref(object_type: str, n: int) -> RecordRef:
    prefix = {"Lead": "00Q", "Contact": "003"}[object_type]
    return RecordRef("salesforce", object_type, f"{prefix}{n:015d}")


def _patches(rsps: responses.RequestsMock) -> list[list[dict[str, Any]]]:
    return [
        json.loads(c.request.body or b"null")["records"]
        for c in rsps.calls
        if c.request.method == "PATCH"
    ]


def _answer_all_ok(rsps: responses.RequestsMock) -> None:
    def answer(request: Any) -> tuple[int, dict[str, str], str]:
        records = json.loads(request.body)["records"]
        body = [{"id": r["id"], "success": True, "errors": []} for r in records]
        return 200, LIMIT_HEADERS, json.dumps(body)

    rsps.add_callback(responses.PATCH, f"{API}/composite/sobjects", callback=answer)


def _runs(records: list[dict[str, Any]]) -> int:
    return sum(1 for _ in groupby(r["attributes"]["type"] for r in records))


def test_leads_and_contacts_share_calls_ordered_by_object(
    rsps: responses.RequestsMock, connector: SalesforceConnector
) -> None:
    """450 Leads and 150 Contacts, interleaved: 3 calls of 200 (was 3 + 1), one chunk per
    object in each call."""
    _answer_all_ok(rsps)
    rng = random.Random(5)
    refs = [_ref("Lead", i) for i in range(450)] + [_ref("Contact", i) for i in range(150)]
    rng.shuffle(refs)
    outcomes = connector.write([RecordUpdate(ref, {"score": 10}) for ref in refs])

    assert all(o.ok for o in outcomes) and [o.ref for o in outcomes] == refs
    patches = _patches(rsps)
    assert [len(p) for p in patches] == [200, 200, 200]
    assert all(_runs(p) <= 2 for p in patches)
    sent = sorted(r["id"] for p in patches for r in p)
    assert sent == sorted(ref.external_id for ref in refs)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([f"Object{i}__c" for i in range(14)]), max_size=900))
def test_calls_fill_to_200_and_never_pass_ten_chunks(types: list[str]) -> None:
    sink: list[WriteOutcome | None] = [None] * len(types)
    items = [
        Pending.at(i, RecordRef("salesforce", t, f"a{i:017d}"), t, {"X__c": i}, sink)
        for i, t in enumerate(types)
    ]
    out = calls(items)
    assert sorted(id(i) for call in out for i in call) == sorted(id(i) for i in items)
    for call in out:
        assert 0 < len(call) <= COLLECTION_LIMIT
        assert sum(1 for _ in groupby(i.sobject for i in call)) <= MAX_CHUNKS
    if len(set(types)) <= MAX_CHUNKS:
        assert len(out) == math.ceil(len(types) / COLLECTION_LIMIT)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 4), st.sampled_from(["score", "fit"]), st.integers(0, 99)),
        min_size=1,
        max_size=30,
    )
)
def test_a_record_named_twice_carries_its_latest_values(
    changes: list[tuple[int, str, int]],
) -> None:
    """Within a page, and across the pages of one write: later values win, the record is in
    the call once, and every update naming it gets its outcome."""
    with responses.RequestsMock() as rsps:
        _answer_all_ok(rsps)
        connector = _connector(rsps)
        updates = [
            RecordUpdate(_ref("Lead", n), {name: "good" if name == "fit" else value})
            for n, name, value in changes
        ]
        middle = len(updates) // 2
        answered = list(connector.write_pages([updates[:middle], updates[middle:]]))
        patches = _patches(rsps)

    expected: dict[str, dict[str, Any]] = {}
    for update in updates:
        values = expected.setdefault(update.ref.external_id, {})
        for name, value in update.values.items():
            field = "LeadSync_Score__c" if name == "score" else "LeadSync_Fit__c"
            values[field] = "Good" if name == "fit" else value
    (records,) = patches
    assert {r["id"]: {k: v for k, v in r.items() if k.startswith("LeadSync")} for r in records} == (
        expected
    )
    assert len(records) == len(expected)
    assert [o.ok for page in answered for o in page] == [True] * len(updates)


def _connector(rsps: responses.RequestsMock) -> SalesforceConnector:
    token_ok(rsps)
    return SalesforceConnector("salesforce", make_settings(), load_mapping())


def test_an_owner_change_rides_with_the_record_values(
    rsps: responses.RequestsMock, connector: SalesforceConnector
) -> None:
    _answer_all_ok(rsps)
    lead, contact = _ref("Lead", 1), _ref("Contact", 2)
    outcomes = connector.write(
        [
            RecordUpdate(lead, {"score": 80}),
            RecordUpdate(contact, {"score": 60}),
            RecordUpdate(lead, {}, owner=OwnerChange(lead, "005R", "Working - Contacted")),
            RecordUpdate(contact, {}, owner=OwnerChange(contact, "005R", "Working")),
        ]
    )
    (records,) = _patches(rsps)
    by_id = {r["id"]: r for r in records}
    assert by_id[lead.external_id] == {
        "attributes": {"type": "Lead"},
        "id": lead.external_id,
        "LeadSync_Score__c": 80,
        "OwnerId": "005R",
        "Status": "Working - Contacted",
    }
    # Contacts map no status field: the owner still changes, the status is left out.
    assert by_id[contact.external_id]["OwnerId"] == "005R"
    assert "Status" not in by_id[contact.external_id]
    assert all(o.ok for o in outcomes)


def test_a_refused_owner_keeps_its_error_and_the_values_still_go(
    rsps: responses.RequestsMock, connector: SalesforceConnector
) -> None:
    """The org refuses the new owner (inactive): the owner change fails with the org's code,
    message and field; the values are sent again without it, and only that record is."""
    inactive = "005INACTIVE"
    message = f"operation performed with inactive user [{inactive}] as owner of lead"

    def answer(request: Any) -> tuple[int, dict[str, str], str]:
        body = []
        for record in json.loads(request.body)["records"]:
            if record.get("OwnerId") == inactive:
                error = {"statusCode": "INACTIVE_OWNER_OR_USER", "message": message,
                         "fields": ["OwnerId"]}  # fmt: skip
                body.append({"success": False, "errors": [error]})
            else:
                body.append({"id": record["id"], "success": True, "errors": []})
        return 200, LIMIT_HEADERS, json.dumps(body)

    rsps.add_callback(responses.PATCH, f"{API}/composite/sobjects", callback=answer)
    refused, fine = _ref("Lead", 1), _ref("Lead", 2)
    outcomes = connector.write(
        [
            RecordUpdate(refused, {"score": 80}),
            RecordUpdate(fine, {"score": 70}),
            RecordUpdate(refused, {}, owner=OwnerChange(refused, inactive, "Working")),
            RecordUpdate(fine, {}, owner=OwnerChange(fine, "005ACTIVE", "Working")),
        ]
    )
    first, again = _patches(rsps)
    assert len(first) == 2
    assert again == [
        {"attributes": {"type": "Lead"}, "id": refused.external_id, "LeadSync_Score__c": 80}
    ]
    assert [o.ok for o in outcomes] == [True, True, False, True]
    error = outcomes[2].error
    assert error is not None
    assert (error.code, error.message, error.fields) == (
        "INACTIVE_OWNER_OR_USER",
        message,
        ("OwnerId",),
    )


@pytest.mark.parametrize(
    ("code", "fields"),
    [
        ("ENTITY_IS_DELETED", []),  # names no field: the record's
        ("FIELD_CUSTOM_VALIDATION_EXCEPTION", ["LeadSync_Score__c"]),  # a value's
        ("FIELD_CUSTOM_VALIDATION_EXCEPTION", ["OwnerId", "LeadSync_Score__c"]),  # both
    ],
)
def test_a_refusal_of_the_record_itself_fails_values_and_owner_alike(
    rsps: responses.RequestsMock, connector: SalesforceConnector, code: str, fields: list[str]
) -> None:
    """A refusal that does not name only the owner change's fields is the record's: no owner
    change is made without its values, and nothing is re-sent."""
    error = {"statusCode": code, "message": "refused", "fields": fields}
    rsps.add(
        responses.PATCH,
        f"{API}/composite/sobjects",
        json=[{"success": False, "errors": [error]}],
    )
    lead = _ref("Lead", 3)
    outcomes = connector.write(
        [
            RecordUpdate(lead, {"score": 5}),
            RecordUpdate(lead, {}, owner=OwnerChange(lead, "005R", "Working")),
        ]
    )
    assert len(_patches(rsps)) == 1
    assert [o.ok for o in outcomes] == [False, False]
    assert {o.error.code for o in outcomes if o.error} == {code}


def test_slots_of_a_merged_record_all_get_the_outcome() -> None:
    sink: list[WriteOutcome | None] = [None, None]
    ref = _ref("Lead", 9)
    first = Pending.at(0, ref, "Lead", {"A": 1}, sink)
    first.absorb(Pending(ref, "Lead", {"A": 2}, [Slot(ref, sink, (1,))]))
    first.set(WriteOutcome(ref, ok=True))
    assert first.fields == {"A": 2} and all(o is not None and o.ok for o in sink)


def test_a_refused_owner_change_alone_is_not_sent_again(
    rsps: responses.RequestsMock, connector: SalesforceConnector
) -> None:
    """With no values beside it there is nothing to send without it: one call, its error."""
    error = {"statusCode": "INACTIVE_OWNER_OR_USER", "message": "inactive", "fields": ["OwnerId"]}
    rsps.add(
        responses.PATCH,
        f"{API}/composite/sobjects",
        json=[{"success": False, "errors": [error]}],
    )
    lead = _ref("Lead", 4)
    [outcome] = connector.write([RecordUpdate(lead, {}, owner=OwnerChange(lead, "005X", None))])
    assert len(_patches(rsps)) == 1
    assert outcome.error is not None and outcome.error.code == "INACTIVE_OWNER_OR_USER"
