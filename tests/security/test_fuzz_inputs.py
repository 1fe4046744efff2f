"""Inputs an attacker or a careless admin controls: SOQL values, config files, webhooks.

No value can change a query's shape, no config crashes the loader with anything but a
``ConfigError`` naming what to fix, and no webhook request gets a 5xx or reaches a cycle
without a valid signature.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.testclient import TestClient

from connectors.hubspot.webhooks import signature_v3
from connectors.salesforce import soql
from leadsync.config import settings_from_dict
from leadsync.errors import ConfigError
from leadsync.service.metrics import ServiceMetrics
from leadsync.service.webhook import HubSpotWebhook, people_named
from leadsync.store import Store
from leadsync.store.webhooks import StoredEventIds, hand_over
from sandboxes.salesforce.soql_parse import Condition, parse

text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200)


@settings(max_examples=300, deadline=None)
@given(text)
def test_no_value_changes_the_shape_of_a_soql_query(value: str) -> None:
    query = parse(soql.select(["Id", "Email"], "Lead", [soql.eq("Email", value)], limit=5))
    assert query.sobject == "Lead" and query.limit == 5
    assert isinstance(query.where, Condition)  # one condition: no OR / AND smuggled in
    assert query.where.path == ("Email",) and query.where.op == "="
    assert query.where.value.kind == "string"  # type: ignore[union-attr]
    assert query.where.value.value == value  # type: ignore[union-attr]


@settings(max_examples=200, deadline=None)
@given(st.lists(text, min_size=1, max_size=5))
def test_no_value_escapes_an_in_list(values: list[str]) -> None:
    query = parse(soql.select(["Id"], "Lead", [soql.is_in("Email", values)]))
    assert isinstance(query.where, Condition) and query.where.op == "IN"
    assert [lit.value for lit in query.where.value] == values  # type: ignore[union-attr]


json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)
SECTIONS = ["store", "sync", "icp", "engagement", "matrix", "handoff", "recycle", "nurture",
            "service", "identity", "connectors", "titles", "aliases", "accounts"]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(SECTIONS) | text, json_value, max_size=4))
def test_any_config_loads_or_says_what_to_fix(data: dict[str, Any]) -> None:
    try:
        settings_from_dict(data, "fuzz.toml")
    except ConfigError as exc:
        assert "fuzz.toml" in str(exc)


SECRET = "webhook-client-secret"


def _app(deliveries: list[Any]) -> Starlette:
    def on_delivery(events: Any) -> bool:
        deliveries.append(events)
        return True

    hook = HubSpotWebhook(SECRET, on_delivery, ServiceMetrics({}))
    return Starlette(routes=[Route("/webhooks", hook.handle, methods=["POST"])])


@settings(max_examples=150, deadline=None)
@given(
    body=st.binary(max_size=2_000),
    headers=st.dictionaries(
        st.sampled_from(
            ["X-HubSpot-Signature-v3", "X-HubSpot-Request-Timestamp", "Content-Type", "X-Other"]
        ),
        st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=80),
    ),
)
def test_unsigned_or_garbled_webhooks_are_refused_never_crash(
    body: bytes, headers: dict[str, str]
) -> None:
    deliveries: list[Any] = []
    with TestClient(_app(deliveries)) as client:
        answer = client.post("/webhooks", content=body, headers=headers)
    assert answer.status_code in (400, 401, 413)
    assert deliveries == []


@settings(max_examples=100, deadline=None)
@given(body=st.binary(max_size=2_000))
def test_correctly_signed_garbage_is_refused_not_a_crash(body: bytes) -> None:
    deliveries: list[Any] = []
    timestamp = str(int(datetime.now(UTC).timestamp() * 1000))
    uri = "http://testserver/webhooks"
    message = b"POST" + uri.encode() + body + timestamp.encode()
    signature = base64.b64encode(hmac.new(SECRET.encode(), message, hashlib.sha256).digest())
    assert signature.decode() == signature_v3(SECRET, "POST", uri, body, timestamp)
    with TestClient(_app(deliveries)) as client:
        answer = client.post(
            "/webhooks",
            content=body,
            headers={
                "X-HubSpot-Signature-v3": signature.decode(),
                "X-HubSpot-Request-Timestamp": timestamp,
                "Content-Type": "application/json",
            },
        )
    # a body that is not a list of HubSpot events is refused like a bad signature
    assert answer.status_code in (200, 401), answer.text
    if answer.status_code == 401:
        assert deliveries == []


# -- signed but hostile: every body gets a 2xx or a 4xx, on both stores ------------------------

URL = "http://testserver/webhooks"
FIELDS = ["eventId", "objectId", "occurredAt", "subscriptionType", "propertyName",
          "propertyValue", "changeSource", "mergedObjectIds", "primaryObjectId",
          "portalId"]  # fmt: skip


def _event(event_id: Any = 1, **changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "eventId": event_id,
        "subscriptionId": 1,
        "portalId": 62515,
        "appId": 54321,
        "occurredAt": int(datetime.now(UTC).timestamp() * 1000),
        "subscriptionType": "contact.propertyChange",
        "attemptNumber": 0,
        "objectId": 101,
        "propertyName": "lifecyclestage",
        "propertyValue": "lead",
        "changeSource": "FORM",
    }
    event.update(changes)
    return event


def _nested(depth: int, leaf: Any = 0) -> Any:
    value = leaf
    for i in range(depth):
        value = [value] if i % 2 else {"a": value}
    return value


huge_int = st.integers(min_value=19, max_value=4_000).map(lambda k: 10**k) | st.sampled_from(
    [-(10**30), 2**63, -1, 10**30]
)
hostile_text = st.text(min_size=0, max_size=50).map(lambda t: t + "\x00" + t) | st.text(
    alphabet="9", min_size=201, max_size=6_000
)
wrong_type = st.one_of(
    st.none(),
    st.booleans(),
    st.floats(allow_nan=True, allow_infinity=True),
    huge_int,
    hostile_text,
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.integers(min_value=2, max_value=40).map(_nested),
)
hostile_event = st.builds(
    lambda event_id, field, value: _event(event_id, **{field: value}),
    st.integers(min_value=1, max_value=10**12) | hostile_text | huge_int,
    st.sampled_from(FIELDS),
    wrong_type,
)
deep = st.integers(min_value=500, max_value=200_000).map(
    lambda d: b"[" * d + b"]" * d
) | st.integers(min_value=500, max_value=100_000).map(lambda d: b'[{"eventId":' + b"[" * d)


def _signed(body: bytes) -> dict[str, str]:
    timestamp = str(int(datetime.now(UTC).timestamp() * 1000))
    return {
        "X-HubSpot-Signature-v3": signature_v3(SECRET, "POST", URL, body, timestamp),
        "X-HubSpot-Request-Timestamp": timestamp,
        "Content-Type": "application/json",
    }


@pytest.fixture
def hook_store(migrated_store_url: str) -> Iterator[Store]:
    store = Store(migrated_store_url)
    yield store
    store.close()


def _stored_app(store: Store, deliveries: list[Any]) -> Starlette:
    def on_delivery(events: Any) -> bool:
        # What a standby does: leave the named records in the store for the leader.
        with store.transaction() as conn:
            hand_over(conn, people_named(events), datetime.now(UTC))
        deliveries.append(events)
        return True

    hook = HubSpotWebhook(SECRET, on_delivery, ServiceMetrics({}), replays=StoredEventIds(store))
    return Starlette(routes=[Route("/webhooks", hook.handle, methods=["POST"])])


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    body=st.one_of(
        st.lists(hostile_event, min_size=1, max_size=4).map(lambda e: json.dumps(e).encode()),
        hostile_event.map(lambda e: json.dumps(e).encode()),
        deep,
    )
)
def test_signed_hostile_bodies_get_a_4xx_or_2xx_never_a_5xx(hook_store: Store, body: bytes) -> None:
    deliveries: list[Any] = []
    with TestClient(_stored_app(hook_store, deliveries), raise_server_exceptions=False) as client:
        answer = client.post("/webhooks", content=body, headers=_signed(body))
    assert answer.status_code < 500, answer.text
    for events in deliveries:
        for event in events:
            assert len(event.event_id) <= 200 and "\x00" not in event.event_id
            assert "\x00" not in event.ref.external_id


def test_a_good_event_beside_hostile_ones_is_still_taken(hook_store: Store) -> None:
    deliveries: list[Any] = []
    events = [
        _event(7001, occurredAt=10**30),
        _event("x" * 300),
        _event(7002, objectId="1\x002"),
        _event(7003, mergedObjectIds=5, subscriptionType="contact.merge"),
        _event(7004, objectId=4242),
    ]
    body = json.dumps(events).encode()
    with TestClient(_stored_app(hook_store, deliveries), raise_server_exceptions=False) as client:
        answer = client.post("/webhooks", content=body, headers=_signed(body))
    assert answer.status_code == 200, answer.text
    (taken,) = deliveries
    assert {e.ref.external_id for e in taken} >= {"4242"}
    assert "1\x002" not in {e.ref.external_id for e in taken}
