"""The leader picks up records that webhooks delivered to standby replicas.

A load balancer may hand a HubSpot delivery to any replica; only the leader runs cycles. A
standby therefore leaves the named records in the store (``leadsync.store.webhooks``) and
this job, on the leader's worker every couple of seconds, asks for a requested cycle that
reads them, as if the delivery had reached the leader.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta

import structlog

from leadsync.records import RecordRef
from leadsync.store import Store
from leadsync.store.webhooks import take_handed_over

log = structlog.get_logger(__name__)

JOB_NAME = "webhook-handover"
EVERY = timedelta(seconds=2)

Trigger = Callable[[str, Sequence[RecordRef]], bool]


class HandoverJob:
    def __init__(self, store: Store, trigger: Trigger, connectors: Sequence[str]) -> None:
        self._store = store
        self._trigger = trigger
        self._connectors = set(connectors)

    def run(self) -> int:
        """Request a cycle per connector with records waiting; returns how many were taken."""
        with self._store.transaction() as conn:
            taken = take_handed_over(conn)
        count = 0
        for connector, refs in taken.items():
            if connector not in self._connectors:
                log.warning(
                    "webhook.handover_unknown_connector", connector=connector, records=len(refs)
                )
                continue
            count += len(refs)
            self._trigger(connector, refs)
            log.info("webhook.handover_taken", connector=connector, records=len(refs))
        return count
