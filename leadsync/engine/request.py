"""What one cycle is asked to do: a frozen value built by the command, the scheduler or a
test, and read by the engine (``SyncEngine.run``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from leadsync.records import RecordRef


@dataclass(frozen=True, slots=True)
class CycleRequest:
    """One cycle: pull from ``only`` (default: every connector), score, act, write to all.

    ``full`` is a backfill: ignore the cursors, pull everything (or everything modified since
    ``since``) and re-score every active person. ``rescore`` pulls nothing and re-scores every
    active person from the store (after a model change). ``no_actions`` records team changes
    without handing anyone off or recycling them (a backfill or a model change must not flood
    reps). ``decay`` also re-scores everyone already scored, for the time that passed (the
    daily decay pass). ``dry_run`` changes nothing and reports what would change;
    ``diff_csv`` (dry run only) receives one row per field that would change. ``notified``
    (a webhook's records) reads those people by id instead of polling people from the cursor,
    which stays where it is. ``resume_key`` (a backfill) names the full pull for checkpoints,
    so the same request after a crash carries on from the last committed page.
    ``adopt_model`` lets this cycle's model replace the one the store is scored with
    (``leadsync rescore``, ``--adopt-model``); without it a different model refuses to write.
    ``reread`` also re-reads every record modified within that window before the cycle,
    whatever the cursors say: a record stamped before the cursor but committed after it moved
    (a long transaction, a search index's lag) is found; only what changed is re-scored.
    """

    only: tuple[str, ...] = ()
    dry_run: bool = False
    retry_failed: bool = False
    full: bool = False
    since: datetime | None = None
    rescore: bool = False
    no_actions: bool = False
    decay: bool = False
    diff_csv: Path | None = None
    notified: tuple[RecordRef, ...] = ()
    resume_key: str | None = None
    adopt_model: bool = False
    reread: timedelta | None = None

    @property
    def kind(self) -> str:
        """How the runs table names it."""
        if self.dry_run:
            return "dry-run"
        if self.full:
            return "backfill"
        if self.rescore:
            return "rescore"
        return "decay" if self.decay else "sync"

    @property
    def pulls(self) -> bool:
        return not self.rescore

    @property
    def rescores_everyone(self) -> bool:
        return self.full or self.rescore
