"""Which record a person's hand-off acts on, and moves recorded without acting on them.

A backfill with ``--no-actions`` (or a model change) re-scores everyone without handing anyone
off or recycling them: it only records the team and cell each person is now in, so the next
real transition starts from there. That needs no connector, only the order of the CRMs, so a
scoring worker process can do it too (see :mod:`leadsync.engine.score_workers`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from leadsync.engine.scoring import age_order
from leadsync.store import Connection
from leadsync.store import handoffs as ledger
from leadsync.store.scoring import PersonInputs, ScoreRow, StoredRecord


def target_record(
    records: Sequence[StoredRecord], sales_crm: str | None, order: Sequence[str]
) -> StoredRecord | None:
    """The record a hand-off acts on: in the sales CRM, unconverted first, newest first
    (by creation: see :func:`age_order`)."""
    live = [r for r in records if r.converted_at is None] or list(records)
    if sales_crm is not None:
        live = [r for r in live if r.source == sales_crm]
    else:
        live = [r for r in live if r.source in order]
        if live:
            first = min(order.index(r.source) for r in live)
            live = [r for r in live if r.source == order[first]]
    if not live:
        return None
    return max(live, key=age_order)


@dataclass(frozen=True, slots=True)
class QuietMoves:
    """Records each scored person's new team and cell as acted on, acting on nothing."""

    sales_crm: str | None
    #: The connectors' names in configuration order (the first CRM holding a record wins).
    order: tuple[str, ...]

    def record(
        self, conn: Connection, inputs: Sequence[PersonInputs], rows: Sequence[ScoreRow]
    ) -> None:
        acted = ledger.acted_state(conn, [i.person_id for i in inputs])
        moved: list[tuple[int, str, str]] = []
        for person, row in zip(inputs, rows, strict=True):
            head = acted.get(person.person_id)
            if head is None or target_record(person.records, self.sales_crm, self.order) is None:
                continue  # no record in the CRM sales works in: nothing to act on yet
            if (head.team, head.cell) != (row.team, row.cell):
                moved.append((person.person_id, row.team, row.cell))
        ledger.set_acted(conn, moved)
