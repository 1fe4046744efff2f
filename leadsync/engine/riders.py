"""Owner changes that ride in the field write, for a CRM whose connector takes them there.

A hand-off's (or recycle's) owner change is owed in the action outbox. For a connector whose
capabilities say ``owner_in_write``, the cycle does not send it with ``reassign``: the write
hands it over as an update of its own beside the record's field values (same page when the
record has a write due, a last page otherwise), and the connector puts both in one record of
one call. Its outcome settles the action in the transaction that records the page's writes,
so a crash re-sends both or neither. Tasks are sent after the write (a task waits for its
owner change), all of them in one pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog

from leadsync.engine.payloads import owner_change
from leadsync.records import RecordRef, RecordUpdate, WriteOutcome
from leadsync.store import Connection
from leadsync.store import actions as outbox

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Retry:
    """How a refused action is tried again (the actor's settings)."""

    max_attempts: int
    backoff: timedelta


@dataclass
class OwnerRiders:
    """The owner changes of one CRM due now, handed to its field write by record."""

    due: Sequence[outbox.DueAction]
    retry: Retry
    #: Set once the write has answered every page (the cycle then sends the tasks).
    finished: bool = False
    counts: outbox.ActionCounts = field(default_factory=outbox.ActionCounts)
    _left: dict[str, list[outbox.DueAction]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for action in self.due:
            self._left.setdefault(str(action.ref), []).append(action)

    def take(self, refs: Iterable[RecordRef]) -> list[outbox.DueAction]:
        """The owner changes of these records (each handed over once)."""
        taken: list[outbox.DueAction] = []
        for ref in refs:
            taken.extend(self._left.pop(str(ref), ()))
        return taken

    def rest(self) -> list[outbox.DueAction]:
        """The owner changes of records with no write due, in the order they were owed."""
        left = [action for actions in self._left.values() for action in actions]
        self._left.clear()
        return sorted(left, key=lambda action: action.id)

    @staticmethod
    def updates(actions: Sequence[outbox.DueAction]) -> list[RecordUpdate]:
        return [RecordUpdate(a.ref, {}, owner=owner_change(a)) for a in actions]

    def record(
        self,
        conn: Connection,
        actions: Sequence[outbox.DueAction],
        outcomes: Sequence[WriteOutcome],
        now: datetime,
    ) -> outbox.ActionCounts:
        """Settle the actions with the CRM's answers (in the page's transaction)."""
        if not actions:
            return outbox.ActionCounts()
        for action, outcome in zip(actions, outcomes, strict=True):
            if not outcome.ok and outcome.error is not None:
                log.warning(
                    "handoff.action_rejected",
                    connector=action.ref.source,
                    action=action.key,
                    record=str(action.ref),
                    code=outcome.error.code,
                    message=outcome.error.message,
                )
        return outbox.record_action_outcomes(
            conn,
            actions,
            outcomes,
            now,
            max_attempts=self.retry.max_attempts,
            backoff=self.retry.backoff,
        )

    def add(self, counts: outbox.ActionCounts) -> None:
        self.counts.done += counts.done
        self.counts.rejected += counts.rejected
        self.counts.parked += counts.parked
