"""Inputs an attacker or a careless admin controls: SOQL values, config files, webhooks.

No value can change a query's shape, no config crashes the loader with anything but a
``ConfigError`` naming what to fix, and no webhook request gets a 5xx or reaches a cycle
without a valid signature.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.testclient import TestClient

from connectors.hubspot.webhooks import signature_v3
from connectors.salesforce import soql
from connectors.salesforce.sandbox.soql_parse import Condition, parse
from leadsync.config import settings_from_dict
from leadsync.errors import ConfigError
from leadsync.service.metrics import ServiceMetrics
from leadsync.service.webhook import HubSpotWebhook

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
