"""The HubSpot webhook endpoint: size-limited, signature-checked, replay-proof, then a cycle.

HubSpot wants an answer within five seconds and retries failures, so a valid delivery only
asks the scheduler for an immediate HubSpot cycle and answers at once. That cycle re-reads the
named contacts by id rather than trusting partial payloads, and pulls activities from their
cursor. A refused delivery is logged with the reason and the caller's address, never its body.

**A busy store.** The replay check (and, on a standby, the hand-over) is a store transaction;
it runs off the event loop (``offload``) and the handler waits for it at most
``STORE_SECONDS``. Past that the answer is 503 with ``Retry-After``: HubSpot retries 5xx
answers (it drops 4xx ones), so nothing is lost while the store is locked, and saying 200
for a delivery that is not recorded anywhere would be a lie (an in-memory hand-off would die
with the process). If the abandoned transaction does finish later, the delivery was taken
then and HubSpot's retry is refused as a replay: taken once either way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import partial

import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from connectors.hubspot.webhooks import (
    ClaimsEventIds,
    ReplayGuard,
    WebhookEvent,
    WebhookRejected,
    parse_events,
    verify_v3,
)
from leadsync.records import RecordRef
from leadsync.service.metrics import ServiceMetrics
from leadsync.service.offload import Offload, StoreBusy

log = structlog.get_logger(__name__)

#: HubSpot batches at most 100 events per delivery, a few KiB; anything near this is abuse.
MAX_BODY_BYTES = 1024 * 1024
#: How long a request body (a delivery, a form) may take to arrive: HubSpot sends a few KiB
#: at once; a client dripping it a byte a second is answered 408 and cut off.
BODY_SECONDS = 10.0
#: How long a delivery waits for the store (HubSpot gives up on us after five seconds).
STORE_SECONDS = 3.0
#: Deliveries whose store work may be in flight at once (stuck ones included).
STORE_THREADS = 3
#: What a 503 asks HubSpot to wait before retrying.
RETRY_AFTER_SECONDS = 30

OnDelivery = Callable[[list[WebhookEvent]], bool]


class BodyTooLarge(Exception):
    pass


class BodyTooSlow(Exception):
    pass


def too_slow() -> Response:
    """The answer to a body that did not arrive in time; the connection is closed after it."""
    return JSONResponse(
        {"error": f"request body not received within {BODY_SECONDS:g} s"},
        status_code=408,
        headers={"Connection": "close"},
    )


async def read_limited(request: Request, limit: int, seconds: float = BODY_SECONDS) -> bytes:
    """The request body, refusing past ``limit`` bytes (``BodyTooLarge``) or ``seconds``
    (``BodyTooSlow``) without reading on."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(seconds):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise BodyTooLarge
                chunks.append(chunk)
    except TimeoutError:
        raise BodyTooSlow from None
    return b"".join(chunks)


class HubSpotWebhook:
    """ASGI endpoint for HubSpot v3-signed deliveries.

    ``on_delivery`` receives the parsed events and returns whether a new cycle was queued
    (``False``: one was already waiting and this delivery joins it).
    """

    def __init__(
        self,
        client_secret: str,
        on_delivery: OnDelivery,
        metrics: ServiceMetrics,
        *,
        max_body: int = MAX_BODY_BYTES,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        replays: ClaimsEventIds | None = None,
    ) -> None:
        self._secret = client_secret
        self._on_delivery = on_delivery
        self._metrics = metrics
        self._max_body = max_body
        self._clock = clock
        # The service passes a store-backed guard so a replay is refused by every replica.
        self._replays: ClaimsEventIds = replays or ReplayGuard()
        self._offload = Offload("webhook-store", STORE_THREADS)

    async def handle(self, request: Request) -> Response:
        """Answer one delivery: 413 too large, 408 too slow, 401 refused, 503 store busy
        (HubSpot retries), 200 accepted (cycle queued)."""
        client = request.client.host if request.client else None
        try:
            body = await read_limited(request, self._max_body)
        except BodyTooLarge:
            self._metrics.webhooks.labels("too_large").inc()
            log.warning("webhook.too_large", client=client, limit=self._max_body)
            return JSONResponse(
                {"error": f"body larger than {self._max_body} bytes"}, status_code=413
            )
        except BodyTooSlow:
            self._metrics.webhooks.labels("too_slow").inc()
            log.warning("webhook.too_slow", client=client, seconds=BODY_SECONDS)
            return too_slow()
        now = self._clock()
        try:
            verify_v3(request.method, str(request.url), body, request.headers, self._secret, now)
            events = parse_events("hubspot", body)
        except WebhookRejected as exc:
            return self._refused("rejected", str(exc), client, len(body))
        try:
            replayed, queued = await self._offload.run(
                partial(self._take, events, now), STORE_SECONDS
            )
        except StoreBusy as exc:
            self._metrics.webhooks.labels("store_busy").inc()
            log.warning("webhook.store_busy", client=client, events=len(events), reason=str(exc))
            return JSONResponse(
                {"error": f"not taken: {exc}; HubSpot retries"},
                status_code=503,
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        if replayed:
            reason = f"replayed event ids {', '.join(replayed[:5])}"
            return self._refused("replayed", reason, client, len(body))
        self._metrics.webhooks.labels("accepted").inc()
        log.info("webhook.accepted", events=len(events), cycle_queued=queued)
        return JSONResponse({"accepted": len(events), "cycle": "queued" if queued else "pending"})

    def _take(self, events: list[WebhookEvent], now: datetime) -> tuple[list[str], bool]:
        """On a worker thread: claim the event ids, then hand the events on. Returns the ids
        already taken (a replay: nothing handed on) and whether a new cycle was queued."""
        replayed = self._replays.claim([event.event_id for event in events], now)
        if replayed:
            return replayed, False
        return [], self._on_delivery(events)

    def _refused(self, outcome: str, reason: str, client: str | None, size: int) -> Response:
        self._metrics.webhooks.labels(outcome).inc()
        log.warning("webhook.rejected", client=client, reason=reason, bytes=size)
        return JSONResponse({"error": "delivery refused"}, status_code=401)


def people_named(events: Sequence[WebhookEvent]) -> list[RecordRef]:
    """The records a delivery's cycle reads by id: created, changed or restored contacts, and
    the survivors of merges. Deletions are left to the next poll (there is nothing to read)."""
    refs: list[RecordRef] = []
    for event in events:
        if event.kind == "merged" and event.merged_into is not None:
            refs.append(event.merged_into)
        elif event.kind in ("created", "changed", "restored", "associated"):
            refs.append(event.ref)
    return list(dict.fromkeys(ref for ref in refs if ref.object_type == "contact"))
