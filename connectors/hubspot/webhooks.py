"""HubSpot webhooks: v3 signature verification, replay protection, and body parsing.

The HTTP endpoint lives in the service; this module is what it calls. HubSpot signs each
delivery with ``X-HubSpot-Signature-v3`` = base64(HMAC-SHA256(client secret, method + URI +
body + timestamp)), where the timestamp is ``X-HubSpot-Request-Timestamp`` in epoch
milliseconds and the URI is the full URL HubSpot called, with a documented set of
percent-encoded characters decoded. Deliveries older than five minutes are refused, and so is
a delivery whose event ids were already accepted (a replay).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from connectors.hubspot.mapping import parse_time
from leadsync.errors import LeadSyncError
from leadsync.records import RecordRef

SIGNATURE_HEADER = "x-hubspot-signature-v3"
TIMESTAMP_HEADER = "x-hubspot-request-timestamp"
TOLERANCE = timedelta(minutes=5)
#: HubSpot's ids are 64-bit integers (19 digits); an "id" longer than this is not one.
MAX_ID_DIGITS = 20

#: Percent-encodings HubSpot decodes in the URI before signing (its "validating requests" doc).
_DECODED = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}


class WebhookRejected(LeadSyncError):
    """A webhook delivery failed verification; answer 401 and do not process it."""


class ReplayGuard:
    """Remembers accepted event ids for the tolerance window, bounded in size (one process).

    The service uses a store-backed guard with the same ``claim`` so every replica sees the
    ids any of them accepted.
    """

    def __init__(self, max_ids: int = 100_000) -> None:
        self._seen: OrderedDict[str, datetime] = OrderedDict()
        self._max = max_ids
        # Deliveries are claimed on worker threads, several at once.
        self._lock = threading.Lock()

    def claim(self, event_ids: Sequence[str], now: datetime) -> list[str]:
        """Remember ``event_ids`` unless some were seen: then return those and remember none."""
        with self._lock:
            return self._claim(event_ids, now)

    def _claim(self, event_ids: Sequence[str], now: datetime) -> list[str]:
        self._expire(now)
        replayed = [i for i in event_ids if i in self._seen]
        if replayed:
            return replayed
        for event_id in event_ids:
            self._seen[event_id] = now
            self._seen.move_to_end(event_id)
        while len(self._seen) > self._max:
            self._seen.popitem(last=False)
        return []

    def _expire(self, now: datetime) -> None:
        horizon = now - TOLERANCE * 2
        while self._seen:
            oldest_id, at = next(iter(self._seen.items()))
            if at >= horizon:
                return
            del self._seen[oldest_id]


class ClaimsEventIds(Protocol):
    def claim(self, event_ids: Sequence[str], now: datetime) -> list[str]: ...


def signature_v3(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    """The v3 signature HubSpot computes for one delivery."""
    source = method.upper().encode() + normalise_uri(uri).encode() + body + timestamp.encode()
    digest = hmac.new(secret.encode("utf-8"), source, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def normalise_uri(uri: str) -> str:
    """Decode the percent-encodings HubSpot decodes before signing (case-insensitive)."""
    out = uri
    for encoded, char in _DECODED.items():
        out = out.replace(encoded, char).replace(encoded.lower(), char)
    return out


def verify_v3(
    method: str,
    uri: str,
    body: bytes,
    headers: Mapping[str, str],
    secret: str,
    now: datetime,
    replay_guard: ClaimsEventIds | None = None,
) -> None:
    """Accept a delivery or raise ``WebhookRejected`` saying why.

    ``uri`` is the full URL HubSpot called (scheme, host, path and query). With a
    ``replay_guard``, the delivery's event ids are checked and, once it is accepted, remembered.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    signature = lowered.get(SIGNATURE_HEADER)
    timestamp = lowered.get(TIMESTAMP_HEADER)
    if not signature or not timestamp:
        raise WebhookRejected("missing X-HubSpot-Signature-v3 or X-HubSpot-Request-Timestamp")
    try:
        sent_at = datetime.fromtimestamp(int(timestamp) / 1000, tz=UTC)
    except (ValueError, OverflowError, OSError):
        raise WebhookRejected(
            f"X-HubSpot-Request-Timestamp {timestamp!r} is not epoch ms"
        ) from None
    current = now if now.tzinfo else now.replace(tzinfo=UTC)
    if abs(current - sent_at) > TOLERANCE:
        raise WebhookRejected(
            f"timestamp {sent_at.isoformat()} is more than 5 minutes from now; refusing a stale "
            "or replayed delivery"
        )
    expected = signature_v3(secret, method, uri, body, timestamp)
    if not hmac.compare_digest(expected, signature):
        raise WebhookRejected("signature does not match; check client_secret")
    if replay_guard is None:
        return
    ids = [event.event_id for event in parse_events("", body)]
    replayed = replay_guard.claim(ids, current)
    if replayed:
        raise WebhookRejected(f"replayed event ids {', '.join(replayed[:5])}")


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """One change HubSpot notified, in canonical terms.

    ``kind`` is created, changed, deleted, restored, merged or associated; ``ref`` is the record
    it is about. ``property`` and ``value`` are set for property changes; ``merged_into`` for
    merges. The engine re-pulls the named records rather than trusting partial payloads.
    """

    event_id: str
    kind: str
    ref: RecordRef
    occurred_at: datetime
    property: str | None = None
    value: str | None = None
    merged_into: RecordRef | None = None
    source: str | None = None


_KINDS = {
    "creation": "created",
    "propertychange": "changed",
    "deletion": "deleted",
    "privacydeletion": "deleted",
    "restore": "restored",
    "merge": "merged",
    "associationchange": "associated",
}


def parse_events(connector: str, body: bytes) -> list[WebhookEvent]:
    """A delivery body (a JSON array of events) as canonical events.

    Unknown types are skipped, and so is an event whose ids are not HubSpot ids (integers):
    a value LeadSync cannot read costs that event, never the delivery, and nothing unbounded
    (a 6,000-digit id, a NUL) reaches the store.
    """
    try:
        payload = json.loads(body.decode("utf-8") or "[]")
    except (UnicodeDecodeError, ValueError):
        raise WebhookRejected("body is not JSON") from None
    except RecursionError:
        raise WebhookRejected("body nests too deeply to be HubSpot events") from None
    if isinstance(payload, dict):
        payload = [payload]
    if not isinstance(payload, list):
        raise WebhookRejected("body is not a JSON array of events")
    events: list[WebhookEvent] = []
    for raw in payload:
        if isinstance(raw, dict):
            events.extend(_events(connector, raw))
    return events


def _events(connector: str, raw: dict[str, Any]) -> list[WebhookEvent]:
    """One notification; a merge names each absorbed record, pointing at the survivor."""
    event = _event(connector, raw)
    if event is None:
        return []
    merged = raw.get("mergedObjectIds")
    if event.kind != "merged" or not isinstance(merged, list) or not merged:
        return [event]
    survivor = event.merged_into or event.ref
    absorbed = [oid for oid in (hubspot_id(m) for m in merged) if oid is not None]
    return [
        WebhookEvent(
            event_id=f"{event.event_id}:{oid}",
            kind="merged",
            ref=RecordRef(connector, event.ref.object_type, oid),
            occurred_at=event.occurred_at,
            merged_into=survivor,
            source=event.source,
        )
        for oid in dict.fromkeys(absorbed)
        if oid != survivor.external_id
    ]


def hubspot_id(value: Any) -> str | None:
    """A HubSpot id (an integer, or a string of its digits) as text; ``None`` for anything
    else (booleans, floats, negative or over-long numbers, other text)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value) if 0 <= value < 10**MAX_ID_DIGITS else None
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return value if len(value) <= MAX_ID_DIGITS else None
    return None


def _occurred(value: Any) -> datetime:
    try:
        parsed = parse_time(value)
    except (ValueError, OverflowError, OSError):  # 10**30 ms, inf, a 6,000-digit string
        parsed = None
    return parsed or datetime.fromtimestamp(0, tz=UTC)


def _text(value: Any) -> str | None:
    """A text field as text: strings as they are, numbers and booleans spelled out."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return str(value)
    return None


def _event(connector: str, raw: dict[str, Any]) -> WebhookEvent | None:
    subscription = raw.get("subscriptionType")
    if not isinstance(subscription, str):
        return None
    object_name, _, action = subscription.partition(".")
    kind = _KINDS.get(action.lower())
    object_id = hubspot_id(raw.get("objectId"))
    event_id = hubspot_id(raw.get("eventId"))
    if kind is None or object_id is None or event_id is None:
        return None
    merged_into = None
    primary = hubspot_id(raw.get("primaryObjectId"))
    if kind == "merged" and primary is not None:
        merged_into = RecordRef(connector, object_name, primary)
    name = raw.get("propertyName")
    source = raw.get("changeSource")
    return WebhookEvent(
        event_id=event_id,
        kind=kind,
        ref=RecordRef(connector, object_name, object_id),
        occurred_at=_occurred(raw.get("occurredAt")),
        property=name if isinstance(name, str) else None,
        value=_text(raw.get("propertyValue")),
        merged_into=merged_into,
        source=source if isinstance(source, str) else None,
    )
