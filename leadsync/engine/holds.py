"""What a cycle checks before it scores: that its model is the one the store is scored with,
and who must wait (people with data from a CRM whose pull did not complete, people back after
``forget`` not yet re-read whole)."""

from __future__ import annotations

import structlog

from leadsync.engine.context import Cycle
from leadsync.errors import ModelMismatch
from leadsync.store.model_state import adopt_model, scored_with
from leadsync.store.returning import any_returning
from leadsync.store.runs import pull_gaps_of
from leadsync.store.scoring import Holds, mark_all_dirty, waiting_people

log = structlog.get_logger(__name__)


def check_model(cycle: Cycle) -> None:
    """Scores from two models never mix. The store records the model (a fingerprint of
    the model's config) it is scored with. A cycle with another model re-scores everyone
    from the store when asked to adopt it; a dry run previews the whole effect; any other
    cycle refuses to write (a replica with a stale file, a hand-run command with another
    config)."""
    parts, request, report = cycle.parts, cycle.request, cycle.report
    model = parts.settings.model
    if not model:
        return
    with parts.store.transaction() as conn:
        current = scored_with(conn)
        if current is None and not request.dry_run:
            adopt_model(conn, model, cycle.started)
        if current is None or current.fingerprint == model:
            report.model = {"fingerprint": model}
            return
        report.model = {"fingerprint": model, "store": current.fingerprint}
        cycle.model_changed = True
        if request.dry_run:
            return
        if not request.adopt_model:
            raise ModelMismatch(
                f"this config's model ({model}) is not the one the store is scored with "
                f"({current.fingerprint}, since {current.adopted_at:%Y-%m-%d %H:%M} UTC): "
                "preview it with `leadsync sync --dry-run`, apply it with `leadsync "
                "rescore` (or --adopt-model); a replica with an old file must be updated"
            )
        adopt_model(conn, model, cycle.started)
        marked = mark_all_dirty(conn, cycle.started)
    log.warning(
        "sync.model_changed",
        model=model,
        was=current.fingerprint,
        rescoring=marked,
        why="a new model re-scores everyone from the store; hand-offs keep their cap",
    )


def find_held(cycle: Cycle) -> None:
    """Who waits this cycle: people with data from a CRM whose last pull did not
    complete (judged on half the truth otherwise), and people back after ``forget`` not
    yet re-read whole. They stay queued and are scored once that is over."""
    report = cycle.report
    with cycle.parts.store.reading() as conn:
        gaps = pull_gaps_of(conn, list(cycle.parts.connectors))
        sources = tuple(sorted({gap.connector for gap in gaps}))
        # A CRM that never completed a pull may hold anyone: nobody is judged without it.
        never = any(not gap.ever_completed for gap in gaps)
        cycle.held = Holds(sources, any_returning(conn), everyone=never)
        count, sample = waiting_people(conn, cycle.held)
    for gap in gaps:
        report.waiting_for.setdefault(
            gap.connector, f"{gap.stream} pull incomplete since {gap.since:%Y-%m-%d %H:%M} "
            f"UTC: {gap.error}"
        )  # fmt: skip
    if cycle.held.everyone:
        report.waiting_for.setdefault(
            "everyone", "a CRM whose pull failed has never completed one: nobody is scored "
            "or acted on until it has"
        )  # fmt: skip
    if cycle.held.returning:
        report.waiting_for.setdefault(
            "returning", "people back after `forget` wait to be re-read whole by id"
        )
    report.people_waiting = count
    if count:
        log.warning(
            "sync.people_waiting",
            people=count,
            waiting_for=list(report.waiting_for),
            sample=sample,
            why="they are scored once what they wait for is complete",
        )
