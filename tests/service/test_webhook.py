"""The HubSpot webhook endpoint: v3 signatures, replays, size limit, and the cycle it asks for."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from structlog.testing import capture_logs

from leadsync.store import Store
from tests.service.helpers import Harness, contact_event, hubspot_delivery, open_test_store

URL = "http://testserver/hooks/hubspot"


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    store: Store = open_test_store(tmp_path)
    yield Harness(store)
    store.close()


def test_a_signed_delivery_queues_a_hubspot_cycle(harness: Harness) -> None:
    body, headers = hubspot_delivery(URL, [contact_event(1), contact_event(2, 102)])
    with TestClient(harness.app()) as client:
        answer = client.post("/hooks/hubspot", content=body, headers=headers)
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"accepted": 2, "cycle": "queued"}
        body2, headers2 = hubspot_delivery(URL, [contact_event(3)])
        again = client.post("/hooks/hubspot", content=body2, headers=headers2)
        assert again.json() == {"accepted": 1, "cycle": "pending"}
    assert harness.triggered == [2, 1]


@pytest.mark.parametrize(
    "tamper",
    ["unsigned", "wrong secret", "body changed", "other url", "stale", "bad timestamp"],
)
def test_unsigned_or_badly_signed_deliveries_are_refused_without_logging_the_body(
    harness: Harness, tamper: str
) -> None:
    event = contact_event(9)
    event["propertyValue"] = "do-not-log-me"
    body, headers = hubspot_delivery(URL, [event])
    if tamper == "unsigned":
        headers = {"Content-Type": "application/json"}
    elif tamper == "wrong secret":
        body, headers = hubspot_delivery(URL, [event], secret="not-the-secret")
    elif tamper == "body changed":
        body = body.replace(b"do-not-log-me", b"do-not-log-it")
    elif tamper == "other url":
        body, headers = hubspot_delivery("https://evil.example/hooks/hubspot", [event])
    elif tamper == "stale":
        ten_minutes_ago = int(time.time() * 1000) - 10 * 60 * 1000
        body, headers = hubspot_delivery(URL, [event], at_ms=ten_minutes_ago)
    else:
        headers["X-HubSpot-Request-Timestamp"] = "yesterday"
    with capture_logs() as logs, TestClient(harness.app()) as client:
        answer = client.post("/hooks/hubspot", content=body, headers=headers)
    assert answer.status_code == 401
    assert harness.triggered == []
    rejected = [e for e in logs if e["event"] == "webhook.rejected"]
    assert len(rejected) == 1 and rejected[0]["reason"]
    assert "do-not-log" not in repr(logs)


def test_a_replayed_delivery_is_refused(harness: Harness) -> None:
    body, headers = hubspot_delivery(URL, [contact_event(77)])
    with TestClient(harness.app()) as client:
        assert client.post("/hooks/hubspot", content=body, headers=headers).status_code == 200
        replay = client.post("/hooks/hubspot", content=body, headers=headers)
        # Re-signed with a fresh timestamp, the same event ids are still a replay.
        body2, headers2 = hubspot_delivery(URL, [contact_event(77)])
        resigned = client.post("/hooks/hubspot", content=body2, headers=headers2)
    assert (replay.status_code, resigned.status_code) == (401, 401)
    assert harness.triggered == [1]
    assert harness.metrics.webhooks.labels("replayed")._value.get() == 2


def test_oversized_bodies_are_refused_before_verification(harness: Harness) -> None:
    events = [contact_event(i) for i in range(40)]
    body, headers = hubspot_delivery(URL, events)
    assert len(body) > 4096
    with capture_logs() as logs, TestClient(harness.app(max_body=4096)) as client:
        declared = client.post("/hooks/hubspot", content=body, headers=headers)

        def chunks() -> Iterator[bytes]:
            for start in range(0, len(body), 1000):
                yield body[start : start + 1000]

        streamed = client.post("/hooks/hubspot", content=chunks(), headers=headers)
    assert (declared.status_code, streamed.status_code) == (413, 413)
    assert harness.triggered == []
    assert [e["event"] for e in logs].count("webhook.too_large") == 2


def test_the_default_limit_is_one_mebibyte(harness: Harness) -> None:
    body = b"[" + b" " * (1024 * 1024) + b"]"
    with TestClient(harness.app()) as client:
        answer = client.post("/hooks/hubspot", content=body)
    assert answer.status_code == 413


def test_only_post_is_routed(harness: Harness) -> None:
    with TestClient(harness.app()) as client:
        assert client.get("/hooks/hubspot").status_code == 405


def test_the_cycle_reads_changed_contacts_and_merge_survivors_not_deletions() -> None:
    from datetime import UTC, datetime

    from connectors.hubspot.webhooks import WebhookEvent
    from leadsync.records import RecordRef
    from leadsync.service.webhook import people_named

    def contact(n: int) -> RecordRef:
        return RecordRef("hubspot", "contact", str(n))

    at = datetime.now(UTC)
    events = [
        WebhookEvent("1", "changed", contact(1), at, "recent_conversion_date", "1"),
        WebhookEvent("2", "created", contact(2), at),
        WebhookEvent("3", "deleted", contact(3), at),
        WebhookEvent("4", "merged", contact(4), at, merged_into=contact(5)),
        WebhookEvent("5", "changed", contact(1), at, "email", "a@b.c"),
        WebhookEvent("6", "changed", RecordRef("hubspot", "deal", "9"), at, "amount", "1"),
    ]
    assert people_named(events) == [contact(1), contact(2), contact(5)]
