"""Webhook delivery: documented payload, a v3 signature the client's helper accepts, retries."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from hubspot.crm.contacts import SimplePublicObjectInput
from hubspot.utils.signature import Signature

from sandboxes.hubspot import HubSpotSandbox, generate_portal
from sandboxes.hubspot.webhooks import sign_v3
from tests.hubspot_sandbox.conftest import NOW, make_client


class Receiver:
    """A tiny webhook endpoint that fails the first ``fail_first`` deliveries."""

    def __init__(self, fail_first: int = 0) -> None:
        self.calls: list[tuple[dict[str, str], str]] = []
        self.fail_first = fail_first
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                receiver.calls.append((dict(self.headers), body))
                status = 500 if len(receiver.calls) <= receiver.fail_first else 204
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/hubspot?x=1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def wait(self, count: int, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.calls) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.calls) >= count, self.calls


def settled_webhook_stats(sb: HubSpotSandbox, timeout: float = 5.0) -> dict[str, int]:
    """The subscription's counters once its delivery is over (answered, not only received)."""
    deadline = time.monotonic() + timeout
    stats = sb.stats()["webhooks"][0]
    while stats["deliveries"] == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
        stats = sb.stats()["webhooks"][0]
    return stats


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    found = Receiver(fail_first=2)
    found.thread.start()
    yield found
    found.server.shutdown()
    found.server.server_close()


def test_signed_property_change_delivered_after_retries(receiver: Receiver) -> None:
    with HubSpotSandbox(generate_portal(20, seed=2, now=NOW)) as sb:
        sb.subscribe_webhooks(
            receiver.url,
            events=("contact.propertyChange:leadsync_fit", "contact.creation"),
            retry_delays=(0.05,),
        )
        contact_id = sb.portal.contacts()[0]["id"]
        make_client(sb).crm.contacts.basic_api.update(
            contact_id, SimplePublicObjectInput(properties={"leadsync_fit": "good"})
        )
        receiver.wait(3)
        # The receiver holds the third call before the sandbox has read its 204 back.
        stats = settled_webhook_stats(sb)
    headers, body = receiver.calls[-1]
    events = json.loads(body)
    assert [e["attemptNumber"] for e in (json.loads(b)[0] for _, b in receiver.calls)] == [0, 1, 2]
    (event,) = events
    assert event["subscriptionType"] == "contact.propertyChange"
    assert event["objectId"] == int(contact_id)
    assert (event["propertyName"], event["propertyValue"]) == ("leadsync_fit", "good")
    assert event["portalId"] == sb.portal.portal_id and event["changeSource"] == "INTEGRATION"
    assert {"eventId", "subscriptionId", "appId", "occurredAt"} <= set(event)
    timestamp = headers["X-HubSpot-Request-Timestamp"]
    assert Signature.is_valid(
        signature=headers["X-HubSpot-Signature-v3"],
        client_secret=sb.client_secret,
        request_body=body,
        http_uri=receiver.url,
        http_method="POST",
        signature_version="v3",
        timestamp=timestamp,
    )
    assert stats["deliveries"] == 1 and stats["failed_attempts"] == 2


def test_sign_v3_matches_the_client_helper() -> None:
    args = ("secret", "POST", "https://example.com/hook?a=b", '[{"eventId":1}]', "1700000000000")
    expected = Signature.get_signature(
        "secret", args[3], "v3", http_uri=args[2], http_method="POST", timestamp=args[4]
    )
    assert sign_v3(*args) == expected


def test_unknown_subscription_is_refused() -> None:
    with HubSpotSandbox(generate_portal(5, seed=2, now=NOW)) as sb, pytest.raises(ValueError):
        sb.subscribe_webhooks("http://127.0.0.1:9/none", events=("deal.creation",))


def test_repeat_form_submission_fires_a_conversion_property_change() -> None:
    """Resubmitting a form with unchanged values still changes the contact, as in HubSpot: its
    recent conversion date and count move, so a subscription to them hears of every hand-raise."""
    receiver = Receiver()
    receiver.thread.start()
    try:
        with HubSpotSandbox(generate_portal(20, seed=2, now=NOW)) as sb:
            sb.subscribe_webhooks(
                receiver.url, events=("contact.propertyChange:recent_conversion_date",)
            )
            contact = sb.portal.live("contacts")[0]
            email = contact.properties["email"]
            guid = next(g for g, f in sb.portal.forms.items() if f.name == "Contact Us")
            count = int(contact.properties.get("num_conversion_events") or 0)
            sb.portal.add_form_submission(guid, {"email": email})
            receiver.wait(1)
            again = sb.portal.find_unique("contacts", "email", email)
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
    assert again is not None and again.id == contact.id
    assert again.properties["recent_conversion_event_name"] == "Contact Us"
    assert again.properties["num_conversion_events"] == str(count + 1)
    (event,) = json.loads(receiver.calls[0][1])
    assert (event["objectId"], event["propertyName"]) == (contact.id, "recent_conversion_date")
    assert event["changeSource"] == "FORM"
