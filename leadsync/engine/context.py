"""What a cycle works with (the engine's parts, long-lived) and what it is doing (``Cycle``,
one per cycle: the request it was given, what it found, the report it is filling)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from connectors.base import Connector
from leadsync.engine.act import Acting, Actor, ActReport
from leadsync.engine.report import CycleReport, LogProgress, Progress
from leadsync.engine.request import CycleRequest
from leadsync.store import Store
from leadsync.store.cycle_lock import NO_LOCK, HeldLock
from leadsync.store.scoring import NO_HOLDS, Holds, PersonInputs, ScoreRow

ScoreFn = Callable[[PersonInputs, datetime], ScoreRow]
Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class EngineSettings:
    overlap: timedelta = timedelta(minutes=2)
    pull_batch: int = 5_000
    score_batch: int = 1_000
    #: How many due writes are handed to a connector at once (it batches inside).
    write_chunk: int = 50_000
    max_write_attempts: int = 5
    retry_backoff: timedelta = timedelta(minutes=1)
    #: The decay pass writes a person only when their score moved at least this much (or
    #: their cell changed): the Reason's ages change daily, and that alone is not news.
    score_change_threshold: int = 5
    #: Worker processes that score batches in a score phase of at least
    #: ``score_workers_from`` people (a backfill), where batches are independent; 0: none.
    score_workers: int = 2
    score_workers_from: int = 20_000
    #: Fingerprint of the model's config (``leadsync.wiring.model_fingerprint``); "": a
    #: scorer without one (tests), whose scores are not checked against the store's model.
    model: str = ""


class AccountSettler(Protocol):
    """Brings account roll-ups up to date after the people in ``person_ids`` were scored,
    leaving alone members ``held`` in this cycle (see ``leadsync.store.scoring.Holds``)."""

    def settle(self, conn: Any, person_ids: Iterable[int], now: datetime, held: Holds) -> int: ...


@dataclass
class EngineParts:
    """What every cycle works with. ``accounts`` (roll-ups) and ``actor`` (hand-offs,
    recycles) are optional; without them a cycle only scores and writes fields."""

    store: Store
    connectors: Mapping[str, Connector]
    score: ScoreFn
    settings: EngineSettings
    clock: Clock
    progress: Progress = field(default_factory=LogProgress)
    accounts: AccountSettler | None = None
    actor: Actor | None = None

    def __post_init__(self) -> None:
        self.connectors = dict(self.connectors)  # the caller's mapping may change later


@dataclass
class Cycle:
    """One running cycle: what it was asked, what it found, what it did. Every phase gets
    it; it lives only for that cycle (the engine keeps nothing of it)."""

    parts: EngineParts
    request: CycleRequest
    report: CycleReport
    started: datetime
    #: The runs table's row for this cycle.
    run_id: int
    lock: HeldLock = NO_LOCK
    #: What the actor did (the actor counts into it; it is the report's ``actions``).
    acted: ActReport = field(default_factory=ActReport)
    #: The actor's work in this cycle (``Actor.begin_cycle``); ``None``: no actor.
    acting: Acting | None = None
    #: Some records were forgotten (``leadsync forget``): watch for them coming back.
    forgotten: bool = False
    #: Who is neither scored nor acted on in this cycle (half-pulled CRMs, returning people).
    held: Holds = NO_HOLDS
    #: This cycle's model is not the one the store was scored with (``holds.check_model``).
    model_changed: bool = False
    #: When this cycle's reading began: its start, or a resumed backfill's first start.
    read_began: datetime | None = None
    #: Connectors whose people this cycle read whole since their cursor (not by id).
    people_read: set[str] = field(default_factory=set)

    @property
    def resume_key(self) -> str | None:
        """Names a backfill's full pull for its checkpoints (``None``: not resumable)."""
        request = self.request
        return request.resume_key if request.full and not request.dry_run else None
