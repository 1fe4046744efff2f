"""Sending owed actions to a CRM: owner changes, enrolments and tasks, in that order.

A hand-off or recycle owes its actions in the outbox (``leadsync.store.actions``) from the
transaction that decided it. Here they are sent in chunks, settled with the CRM's answers
in a transaction of their own (a refused one is tried again after a back-off, then parked),
and the hand-off or recycle is done once nothing it owes is left. A raise from the connector
(CRM down, budget spent) records nothing: every action stays owed for the next cycle.

For a CRM whose connector takes owner changes in the field write (``owner_in_write``), the
write carries them (``riders``, see :mod:`leadsync.engine.riders`) and ``after_write`` sends
the rest once it has answered.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import structlog

from leadsync.engine import payloads
from leadsync.engine.riders import OwnerRiders, Retry
from leadsync.records import WriteOutcome
from leadsync.store import actions as outbox
from leadsync.store import handoffs as ledger
from leadsync.store.cycle_lock import NO_LOCK, HeldLock

if TYPE_CHECKING:
    from leadsync.engine.act import Acting

log = structlog.get_logger(__name__)

#: More owner changes than a cycle could owe: every one due is read at once.
OWED_LIMIT = 100_000


def riders(acting: Acting, store: Any, name: str) -> OwnerRiders | None:
    """The owner changes due now, for the field write to carry (``None``: this CRM's
    connector takes them only through ``reassign``)."""
    if not acting.rides(name):
        return None
    with store.reading() as conn:
        due = outbox.due_actions(conn, name, "owner", acting.clock(), OWED_LIMIT)
    retry = Retry(acting.settings.max_action_attempts, acting.settings.action_backoff)
    acting.riding[name] = OwnerRiders(due, retry)
    return acting.riding[name]


def after_write(acting: Acting, store: Any, name: str, lock: HeldLock = NO_LOCK) -> None:
    """After the field write that carried the owner changes: count their outcomes, then
    send what is owed now (the tasks they freed, enrolments), each kind in one pass. A
    write that did not finish sends nothing more: the CRM just failed."""
    riders = acting.riding.pop(name, None)
    if riders is None:
        return
    acting.report.actions_done += riders.counts.done
    acting.report.actions_rejected += riders.counts.rejected
    acting.report.actions_parked += riders.counts.parked
    if riders.finished:
        send_owed(acting, store, name, lock)


def send_owed(acting: Acting, store: Any, name: str, lock: HeldLock) -> None:
    """Send every owed action of CRM ``name`` that is due: owner changes first (a task
    follows its owner change), then enrolments and tasks together (a CRM that inserts both
    in one call does); settle each with the CRM's answer, then mark done the hand-offs and
    recycles that owe nothing more. ``lock`` is verified before every call."""
    connector = acting.connectors[name]
    chunk = acting.settings.action_chunk
    while True:
        due = _due(acting, store, name, "owner")
        if not due:
            break
        lock.verify()
        # A raise (CRM down, budget spent) records nothing: every action stays owed.
        outcomes = connector.reassign([payloads.owner_change(a) for a in due])
        _settle(acting, store, name, [(due, outcomes)])
        if len(due) < chunk:
            break
    while True:
        enrolments, tasks = _due(acting, store, name, "enrol"), _due(acting, store, name, "task")
        if not enrolments and not tasks:
            break
        lock.verify()
        enrolled, created = connector.enrol_and_create_tasks(
            [payloads.enrolment(a) for a in enrolments], [payloads.task(a) for a in tasks]
        )
        _settle(acting, store, name, [(enrolments, enrolled), (tasks, created)])
        if len(enrolments) < chunk and len(tasks) < chunk:
            break
    now = acting.clock()
    with store.transaction() as conn:
        for kind in ledger.ACTING_KINDS:
            ids = ledger.acting_ids(conn, kind, name)
            owing = outbox.unfinished(
                conn,
                handoff_ids=ids if kind == "handoff" else (),
                recycle_ids=ids if kind == "recycle" else (),
            )
            ledger.finish(conn, kind, [i for i in ids if (kind, i) not in owing], now)


def _due(acting: Acting, store: Any, name: str, kind: str) -> list[outbox.DueAction]:
    with store.reading() as conn:
        return outbox.due_actions(conn, name, kind, acting.clock(), acting.settings.action_chunk)


def _settle(
    acting: Acting,
    store: Any,
    name: str,
    answered: list[tuple[list[outbox.DueAction], list[WriteOutcome]]],
) -> None:
    """Record the CRM's answers to the actions sent, in one transaction; the cycle's report
    counts them once it has committed."""
    with store.transaction() as conn:
        settled = [
            outbox.record_action_outcomes(
                conn,
                due,
                outcomes,
                acting.clock(),
                max_attempts=acting.settings.max_action_attempts,
                backoff=acting.settings.action_backoff,
            )
            for due, outcomes in answered
        ]
    for counts in settled:
        acting.report.actions_done += counts.done
        acting.report.actions_rejected += counts.rejected
        acting.report.actions_parked += counts.parked
    for due, outcomes in answered:
        for item, outcome in zip(due, outcomes, strict=True):
            if not outcome.ok and outcome.error is not None:
                log.warning(
                    "handoff.action_rejected",
                    connector=name,
                    action=item.key,
                    record=str(item.ref),
                    code=outcome.error.code,
                    message=outcome.error.message,
                    fields=list(outcome.error.fields),
                )
