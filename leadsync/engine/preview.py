"""``leadsync preview``: everyone in the store re-scored with a candidate model; nothing written.

What an admin wants to see before adopting a model change: the matrix before and after, who
would move from which cell to which, and the hand-offs the change would cause, counted by the
same rule a cycle decides them with (``leadsync.engine.act.decide_one``). No CRM is called and
no row is written; the store is read a range of person ids at a time
(``leadsync.store.preview``), in worker processes when the store is large enough to pay for
them, since the model is pure Python and one process would use one core.

Not previewed: account roll-ups (a person's account signals need the whole account scored
first); the preview says so when ``[accounts]`` is on.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.util
import pickle
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from leadsync import interpreter
from leadsync.engine.act import ActSettings, decide_one
from leadsync.engine.moves import target_record
from leadsync.engine.preview_routing import WouldHandOff
from leadsync.engine.scoring import ModelScorer, Placement, merged_attributes, place
from leadsync.handoff import person_facts
from leadsync.model.values import new_activity
from leadsync.store import Store
from leadsync.store import handoffs as ledger
from leadsync.store.preview import inputs_between, person_id_range
from leadsync.store.scoring import PersonInputs, StoredRecord

#: Person ids a worker reads and scores at a time (about 5 MB of inputs at ten activities each).
SLICE = 5_000
#: Below this many people the preview runs in this process: starting workers costs more.
WORKERS_FROM = 50_000
#: The result of a person the store has not scored yet.
UNSCORED = "unscored"


@dataclass(frozen=True)
class PreviewWork:
    """What a worker needs to preview a slice on its own (sent to it pickled)."""

    scorer: ModelScorer
    #: Hand-off and recycle rules, with the CRMs in config order; ``None``: nothing acts.
    acting: ActSettings | None
    crms: tuple[str, ...]
    now: datetime


@dataclass
class PreviewCounts:
    """What a candidate model would do to the people previewed so far."""

    people: int = 0
    before: Counter[str] = field(default_factory=Counter)
    after: Counter[str] = field(default_factory=Counter)
    #: (cell before, cell after) -> people, for people whose cell changes.
    moves: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: Hand-offs the change would queue, by readiness (hand_raiser, sales_ready).
    handoffs: Counter[str] = field(default_factory=Counter)
    #: Hand-offs held by a cool-down after recycles, and recycles to nurture.
    held: int = 0
    recycles: int = 0
    #: The hand-offs, with what routing them reads (``preview_routing``).
    would: list[WouldHandOff] = field(default_factory=list)

    def add(self, other: PreviewCounts) -> None:
        self.people += other.people
        self.before.update(other.before)
        self.after.update(other.after)
        self.moves.update(other.moves)
        self.handoffs.update(other.handoffs)
        self.held += other.held
        self.recycles += other.recycles
        self.would.extend(other.would)


def preview_slice(store: Store, work: PreviewWork, low: int, high: int) -> PreviewCounts:
    """Score people ``low`` to ``high`` with the candidate model and count what it would do."""
    counts = PreviewCounts()
    with store.reading() as conn:
        found = inputs_between(conn, low, high, new_activity)
        inputs, before = found.people, found.before
        ids = [person.person_id for person in inputs]
        acted = ledger.acted_state(conn, ids) if work.acting else {}
        history = ledger.histories(conn, ids, acted) if work.acting else {}
    for person in inputs:
        history_rows = found.activities.get(person.person_id, ())
        row = place(work.scorer, person, history_rows, work.now)
        was = before.get(person.person_id)
        cell_before = was.cell if was is not None else UNSCORED
        counts.people += 1
        counts.before[cell_before] += 1
        counts.after[row.cell] += 1
        if cell_before != row.cell:
            counts.moves[(cell_before, row.cell)] += 1
        head = acted.get(person.person_id)
        if work.acting is None or head is None:
            continue
        target = target_record(person.records, work.acting.sales_crm, work.crms)
        if target is None:
            continue
        decided = decide_one(
            work.acting, head, row, target, history.get(person.person_id), work.now
        )
        if decided is None:
            continue
        if decided.kind == "handoff":
            counts.handoffs[row.readiness] += 1
            counts.would.append(_would(work.acting, person, target, row))
        elif decided.kind == "held":
            counts.held += 1
        else:
            counts.recycles += 1
    return counts


def _would(
    acting: ActSettings, person: PersonInputs, target: StoredRecord, placed: Placement
) -> WouldHandOff:
    """What routing reads of a hand-off, as ``engine.handoffs`` reads it when routing."""
    attributes = merged_attributes(person.records, target.source)
    facts = person_facts(
        attributes, email=person.email, owner_id=target.owner_id, aliases=acting.aliases
    )
    return WouldHandOff(
        person.person_id, placed.readiness, placed.score, target.source, person.email, facts
    )


def slices(low: int, high: int, size: int = SLICE) -> Iterator[tuple[int, int]]:
    for start in range(low, high + 1, size):
        yield start, min(start + size - 1, high)


def preview(work: PreviewWork, store: Store, workers: int) -> PreviewCounts:
    """The whole store previewed; in ``workers`` processes when it holds at least
    ``WORKERS_FROM`` people (by id range) and the score function can be sent to them."""
    total = PreviewCounts()
    with store.reading() as conn:
        bounds = person_id_range(conn)
    if bounds is None:
        return total
    parts = list(slices(*bounds))
    if workers < 2 or bounds[1] - bounds[0] + 1 < WORKERS_FROM or not _picklable(work):
        for low, high in parts:
            total.add(preview_slice(store, work, low, high))
        return total
    with ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start,
        initargs=(work, store.url),
    ) as pool:
        for counts in pool.map(_run, parts, chunksize=1):
            total.add(counts)
    return total


def _picklable(work: PreviewWork) -> bool:
    try:
        pickle.dumps(work)
    except (pickle.PicklingError, AttributeError, TypeError):
        return False
    return True


_work: PreviewWork | None = None
_store: Store | None = None


def _start(work: PreviewWork, store_url: str) -> None:
    global _work, _store
    _work = work
    _store = Store(store_url, migrate=False)
    multiprocessing.util.Finalize(None, _store.close, exitpriority=10)
    interpreter.tune()


def _run(bounds: Sequence[int]) -> PreviewCounts:
    assert _work is not None and _store is not None  # set by the pool's initializer
    low, high = bounds
    return preview_slice(_store, _work, low, high)
