"""Webhook delivery: the portal's changes POSTed to a target URL as HubSpot's webhooks API does.

Each POST carries a JSON array of up to 100 events and is signed with
``X-HubSpot-Signature-v3``: base64 HMAC-SHA256, keyed by the app's client secret, over
``method + uri + body + timestamp``, with the millisecond timestamp in
``X-HubSpot-Request-Timestamp``. A delivery that fails (connection error, 5 s timeout,
4xx/5xx answer) is retried with growing delays up to 10 attempts in all, as documented;
each retry carries the next ``attemptNumber`` and a fresh signature.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import requests
import structlog

from sandboxes.hubspot.portal import Change, PortalState
from sandboxes.hubspot.schema import to_millis

log = structlog.get_logger(__name__)

MAX_EVENTS_PER_REQUEST = 100
MAX_ATTEMPTS = 10
DELIVERY_TIMEOUT_S = 5.0
SUPPORTED = ("contact.creation", "contact.propertyChange", "contact.deletion")

_SINGULAR = {"contacts": "contact", "tasks": "task", "meetings": "meeting", "calls": "call"}


def sign_v3(client_secret: str, method: str, uri: str, body: str, timestamp: str) -> str:
    """HubSpot's v3 request signature."""
    message = f"{method}{uri}{body}{timestamp}".encode()
    digest = hmac.new(client_secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


@dataclass(frozen=True, slots=True)
class Subscription:
    id: int
    event_type: str
    #: for ``contact.propertyChange``: the one property watched, or ``None`` for all.
    property_name: str | None


def parse_subscriptions(events: Sequence[str], first_id: int = 1) -> list[Subscription]:
    """``"contact.propertyChange:lifecyclestage"`` watches one property; without ``:`` all."""
    subscriptions = []
    for offset, spec in enumerate(events):
        event_type, _, prop = spec.partition(":")
        if event_type not in SUPPORTED:
            raise ValueError(f"unsupported webhook event {spec!r}; use one of {SUPPORTED}")
        if prop and event_type != "contact.propertyChange":
            raise ValueError(f"only contact.propertyChange takes a property name, got {spec!r}")
        subscriptions.append(Subscription(first_id + offset, event_type, prop or None))
    return subscriptions


class WebhookDispatcher:
    """Queues matching portal changes and delivers them from one background thread."""

    def __init__(
        self,
        portal: PortalState,
        target_url: str,
        events: Sequence[str],
        *,
        client_secret: str,
        app_id: int,
        verify: str | bool = True,
        retry_delays: Sequence[float] = (1, 2, 4, 8, 16, 32, 64, 128, 256),
        batch_window_s: float = 0.1,
    ) -> None:
        self.portal = portal
        self.target_url = target_url
        self.subscriptions = parse_subscriptions(events)
        self._secret = client_secret
        self._app_id = app_id
        self._verify = verify
        self._delays = list(retry_delays)
        self._window = batch_window_s
        self._ids = itertools.count(100)
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue()
        self._stop = threading.Event()
        self._session = requests.Session()
        self._stats_lock = threading.Lock()
        self.stats = {"events": 0, "deliveries": 0, "failed_attempts": 0, "dropped_events": 0}
        self._thread = threading.Thread(target=self._run, name="hubspot-webhooks", daemon=True)

    def start(self) -> None:
        self.portal.add_listener(self.on_change)
        self._thread.start()

    def stop(self) -> None:
        self.portal.remove_listener(self.on_change)
        self._stop.set()
        self._thread.join(timeout=DELIVERY_TIMEOUT_S + 1)
        self._session.close()

    def on_change(self, change: Change) -> None:
        """Portal listener: turn a change into one event per matching subscription."""
        kind = f"{_SINGULAR.get(change.object_type, change.object_type)}.{change.kind}"
        for sub in self.subscriptions:
            if sub.event_type != kind:
                continue
            if sub.property_name and sub.property_name != change.property_name:
                continue
            event: dict[str, Any] = {
                "eventId": next(self._ids),
                "subscriptionId": sub.id,
                "portalId": self.portal.portal_id,
                "appId": self._app_id,
                "occurredAt": to_millis(change.occurred_at),
                "subscriptionType": kind,
                "attemptNumber": 0,
                "objectId": change.object_id,
                "changeFlag": {"creation": "CREATED", "deletion": "DELETED"}.get(
                    change.kind, "NEW"
                ),
                "changeSource": change.source,
            }
            if change.kind == "propertyChange":
                event["propertyName"] = change.property_name
                event["propertyValue"] = change.property_value
                del event["changeFlag"]
            self._queue.put(event)
            with self._stats_lock:
                self.stats["events"] += 1

    def _run(self) -> None:
        while not self._stop.is_set():
            batch = self._collect()
            if batch:
                self._deliver(batch)

    def _collect(self) -> list[dict[str, Any]]:
        try:
            first = self._queue.get(timeout=0.2)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self._window
        while len(batch) < MAX_EVENTS_PER_REQUEST:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                batch.append(self._queue.get(timeout=remaining))
            except queue.Empty:
                break
        return batch

    def _deliver(self, batch: list[dict[str, Any]]) -> None:
        for attempt in range(MAX_ATTEMPTS):
            for event in batch:
                event["attemptNumber"] = attempt
            if self._post(batch):
                with self._stats_lock:
                    self.stats["deliveries"] += 1
                return
            with self._stats_lock:
                self.stats["failed_attempts"] += 1
            if attempt + 1 < MAX_ATTEMPTS and self._stop.wait(self._delay(attempt)):
                break
        with self._stats_lock:
            self.stats["dropped_events"] += len(batch)
        log.warning("hubspot_sandbox.webhook_dropped", url=self.target_url, events=len(batch))

    def _delay(self, attempt: int) -> float:
        if not self._delays:
            return 0.0
        return self._delays[min(attempt, len(self._delays) - 1)]

    def _post(self, batch: list[dict[str, Any]]) -> bool:
        body = json.dumps(batch, separators=(",", ":"))
        timestamp = str(int(time.time() * 1000))
        headers = {
            "Content-Type": "application/json",
            "X-HubSpot-Signature-v3": sign_v3(
                self._secret, "POST", self.target_url, body, timestamp
            ),
            "X-HubSpot-Signature-Version": "v3",
            "X-HubSpot-Request-Timestamp": timestamp,
            "User-Agent": "HubSpot Connect 2.0 (http://dev.hubspot.com/) (namespace: webhooks-nio)",
        }
        try:
            answer = self._session.post(
                self.target_url,
                data=body.encode(),
                headers=headers,
                timeout=DELIVERY_TIMEOUT_S,
                verify=self._verify,
            )
        except requests.RequestException as exc:
            log.info(
                "hubspot_sandbox.webhook_failed", url=self.target_url, error=type(exc).__name__
            )
            return False
        if 200 <= answer.status_code < 300:
            return True
        log.info("hubspot_sandbox.webhook_failed", url=self.target_url, status=answer.status_code)
        return False
