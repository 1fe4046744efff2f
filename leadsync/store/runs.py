"""Per-connector cursors, pulls that did not complete (gaps), and the record of every cycle."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from leadsync.store.schema import cursors, pull_gaps, runs


def get_cursor(conn: sa.Connection, connector: str, stream: str) -> datetime | None:
    query = sa.select(cursors.c.position).where(
        cursors.c.connector == connector, cursors.c.stream == stream
    )
    return conn.execute(query).scalar_one_or_none()


@dataclass(frozen=True, slots=True)
class Cursor:
    position: datetime
    #: Our clock when ``position`` was last moved.
    moved_at: datetime
    settled: bool


def read_cursor(conn: sa.Connection, connector: str, stream: str) -> Cursor | None:
    row = conn.execute(
        sa.select(cursors.c.position, cursors.c.updated_at, cursors.c.settled).where(
            cursors.c.connector == connector, cursors.c.stream == stream
        )
    ).first()
    return None if row is None else Cursor(row.position, row.updated_at, bool(row.settled))


def settle_cursor(conn: sa.Connection, connector: str, stream: str, position: datetime) -> None:
    """Everything stamped up to ``position`` is known seen (unless the cursor moved since)."""
    conn.execute(
        sa.update(cursors)
        .where(
            cursors.c.connector == connector,
            cursors.c.stream == stream,
            cursors.c.position == position,
        )
        .values(settled=True)
    )


def set_cursor(
    conn: sa.Connection, connector: str, stream: str, position: datetime, now: datetime
) -> None:
    """Move a cursor forward; never backwards (a late, older page cannot rewind it)."""
    current = get_cursor(conn, connector, stream)
    if current is None:
        conn.execute(
            sa.insert(cursors).values(
                connector=connector, stream=stream, position=position, updated_at=now
            )
        )
    elif position > current:
        conn.execute(
            sa.update(cursors)
            .where(cursors.c.connector == connector, cursors.c.stream == stream)
            .values(position=position, updated_at=now, settled=False)
        )


def reset_cursors(conn: sa.Connection, connector: str) -> None:
    conn.execute(sa.delete(cursors).where(cursors.c.connector == connector))


def start_run(conn: sa.Connection, connector: str, kind: str, now: datetime) -> int:
    # A run still marked running for this connector died with its process.
    conn.execute(
        sa.update(runs)
        .where(runs.c.connector == connector, runs.c.status == "running")
        .values(status="interrupted", finished_at=now)
    )
    inserted = conn.execute(
        sa.insert(runs).values(
            connector=connector, kind=kind, started_at=now, status="running", counts={}, api_calls=0
        )
    ).inserted_primary_key
    assert inserted is not None
    return int(inserted[0])


def finish_run(
    conn: sa.Connection,
    run_id: int,
    now: datetime,
    *,
    status: str,
    counts: Mapping[str, Any],
    api_calls: int,
    error: str | None = None,
) -> None:
    conn.execute(
        sa.update(runs)
        .where(runs.c.id == run_id)
        .values(
            finished_at=now, status=status, counts=dict(counts), api_calls=api_calls, error=error
        )
    )


#: What a pulled stream's counts (``CycleReport.pulled``) call the records this run read:
#: each record read lands in exactly one. ``unreadable`` and ``clipped`` count values, and
#: ``resumed_done`` the records an earlier run of the same backfill read: none is a record
#: read by this run.
RECORDS_READ = ("inserted", "updated", "unchanged", "skipped")
#: The records read that were new or different from what the store held.
RECORDS_CHANGED = ("inserted", "updated")


@dataclass(frozen=True, slots=True)
class RunCounts:
    """One run's totals as every screen shows them (``status``, the dashboard's cycle rows,
    ``/metrics``): computed here from the run's report, never re-added by a screen."""

    #: Records read by this run, per connector.
    pulled: Mapping[str, int]
    #: Of those, new or changed.
    changed: Mapping[str, int]
    #: Records an earlier, interrupted run of the same backfill had read (not read again).
    resumed: int
    scored: int
    written: Mapping[str, int]
    rejected: Mapping[str, int]

    @classmethod
    def of(cls, counts: Mapping[str, Any] | None) -> RunCounts:
        """The totals of a run's ``counts`` (``CycleReport.to_dict()``, as the runs table
        keeps it)."""
        counts = counts or {}
        pulled: dict[str, int] = {}
        changed: dict[str, int] = {}
        resumed = 0
        for stream, by_kind in (counts.get("pulled") or {}).items():
            connector = str(stream).partition(".")[0]
            pulled[connector] = pulled.get(connector, 0) + sum(
                int(by_kind.get(k, 0)) for k in RECORDS_READ
            )
            changed[connector] = changed.get(connector, 0) + sum(
                int(by_kind.get(k, 0)) for k in RECORDS_CHANGED
            )
            resumed += int(by_kind.get("resumed_done", 0))
        return cls(
            pulled=pulled,
            changed=changed,
            resumed=resumed,
            scored=int(counts.get("scored") or 0),
            written=dict(counts.get("written") or {}),
            rejected=dict(counts.get("rejected") or {}),
        )

    def to_dict(self) -> dict[str, Any]:
        """The totals a screen prints, each summed over connectors."""
        return {
            "pulled": sum(self.pulled.values()),
            "changed": sum(self.changed.values()),
            "resumed": self.resumed,
            "scored": self.scored,
            "written": sum(self.written.values()),
            "rejected": sum(self.rejected.values()),
        }


def recent_runs(conn: sa.Connection, limit: int = 20) -> list[dict[str, Any]]:
    """The newest runs, each with its ``totals`` (``RunCounts``) beside its raw counts."""
    query = sa.select(runs).order_by(runs.c.id.desc()).limit(limit)
    return [
        {**row._mapping, "totals": RunCounts.of(row.counts).to_dict()}
        for row in conn.execute(query)
    ]


def calls_since(conn: sa.Connection, since: datetime, connectors: Sequence[str]) -> dict[str, int]:
    """API calls per connector by the runs started at or after ``since``, every replica's.

    A run that kept calls per connector (``counts["api_calls"]``, as a cycle over several
    connectors does) is counted by those; an older one by its total, for its own connector
    when that is one of ``connectors``."""
    query = sa.select(runs.c.connector, runs.c.counts, runs.c.api_calls).where(
        runs.c.started_at >= since
    )
    calls: dict[str, int] = {}
    for connector, counts, total in conn.execute(query):
        per = (counts or {}).get("api_calls") or {}
        if per:
            for name, n in per.items():
                calls[name] = calls.get(name, 0) + int(n)
        elif connector in connectors:
            calls[connector] = calls.get(connector, 0) + int(total or 0)
    return calls


def last_finished(conn: sa.Connection, kind: str) -> datetime | None:
    """When the latest run of ``kind`` that did not fail outright finished."""
    query = sa.select(sa.func.max(runs.c.finished_at)).where(
        runs.c.kind == kind, runs.c.status.in_(("ok", "partial"))
    )
    value: datetime | None = conn.execute(query).scalar()
    return value


def first_finished(conn: sa.Connection) -> datetime | None:
    """When the first run of any kind that did not fail outright finished."""
    query = sa.select(sa.func.min(runs.c.finished_at)).where(runs.c.status.in_(("ok", "partial")))
    value: datetime | None = conn.execute(query).scalar()
    return value


# -- pulls that did not complete ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PullGap:
    """A connector's stream whose last pull did not run to its end."""

    connector: str
    stream: str
    since: datetime
    error: str
    #: Whether a pull of this stream ever ran to its end.
    ever_completed: bool = True


def open_gap(conn: sa.Connection, connector: str, stream: str, error: str, now: datetime) -> None:
    """This stream's pull stopped early; a gap already open keeps its ``since``."""
    key = (pull_gaps.c.connector == connector, pull_gaps.c.stream == stream)
    row = conn.execute(sa.select(pull_gaps.c.since).where(*key)).first()
    if row is None:
        # No pull recorded yet: a stream with a cursor completed pulls before gaps were kept.
        cursor = read_cursor(conn, connector, stream)
        conn.execute(
            sa.insert(pull_gaps).values(
                connector=connector,
                stream=stream,
                completed_at=cursor.moved_at if cursor is not None else None,
                since=now,
                error=error[:2_000],
                updated_at=now,
            )
        )
        return
    conn.execute(
        sa.update(pull_gaps)
        .where(*key)
        .values(since=row.since or now, error=error[:2_000], updated_at=now)
    )


def close_gap(conn: sa.Connection, connector: str, stream: str, now: datetime) -> None:
    """This stream's pull ran to its end: what the store holds from it is whole again."""
    key = (pull_gaps.c.connector == connector, pull_gaps.c.stream == stream)
    values = {"completed_at": now, "since": None, "error": None, "updated_at": now}
    if not conn.execute(sa.update(pull_gaps).where(*key).values(**values)).rowcount:
        conn.execute(sa.insert(pull_gaps).values(connector=connector, stream=stream, **values))


def pull_gaps_of(conn: sa.Connection, connectors: Sequence[str]) -> list[PullGap]:
    """The open gaps of ``connectors`` (a connector no longer configured holds nobody)."""
    query = (
        sa.select(pull_gaps)
        .where(pull_gaps.c.connector.in_(list(connectors)), pull_gaps.c.since.is_not(None))
        .order_by(pull_gaps.c.connector, pull_gaps.c.stream)
    )
    return [
        PullGap(r.connector, r.stream, r.since, r.error or "", r.completed_at is not None)
        for r in conn.execute(query)
    ]


# -- health ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConnectorHealth:
    """How a connector's recent cycles went, newest first, as the runs table has them."""

    connector: str
    #: The newest finished cycle that included this connector: status, finish time, error.
    last_status: str | None = None
    last_finished_at: datetime | None = None
    last_error: str | None = None
    #: When the newest cycle in which this connector did not fail finished.
    last_good_at: datetime | None = None
    #: Failed cycles in a row, counting back from the newest.
    failures_in_a_row: int = 0
    #: The newest cycle's CRM refused this connector's credentials.
    credentials_refused: bool = False


def failed_in(row: Any, connector: str) -> bool:
    """Whether ``connector`` failed in this finished run: it is named among the failed
    connectors, or the run as a whole did not end ``ok`` (older rows, crashes, kills)."""
    if row.status == "ok":
        return False
    failed = (row.counts or {}).get("failed_connectors")
    if isinstance(failed, Mapping) and failed:
        return connector in failed
    return True


def _involves(row: Any, connector: str) -> bool:
    """Whether a run pulled from ``connector`` or failed on it (a cycle of one CRM also
    writes to and acts on the others)."""
    failed = (row.counts or {}).get("failed_connectors")
    return connector in str(row.connector).split("+") or (
        isinstance(failed, Mapping) and connector in failed
    )


def connector_health(
    conn: sa.Connection, connectors: Sequence[str], window: int = 50
) -> dict[str, ConnectorHealth]:
    """Each connector's health from its ``window`` newest finished runs (dry runs aside:
    they write nothing, and a preview's failure says nothing about the service)."""
    query = (
        sa.select(runs)
        .where(runs.c.finished_at.is_not(None), runs.c.kind != "dry-run")
        .order_by(runs.c.id.desc())
        .limit(window * max(1, len(connectors)))
    )
    rows = list(conn.execute(query))
    out: dict[str, ConnectorHealth] = {}
    for name in connectors:
        mine = [r for r in rows if _involves(r, name)][:window]
        if not mine:
            out[name] = ConnectorHealth(name)
            continue
        newest = mine[0]
        in_a_row = 0
        for row in mine:
            if not failed_in(row, name):
                break
            in_a_row += 1
        good = next((r for r in mine if not failed_in(r, name)), None)
        out[name] = ConnectorHealth(
            connector=name,
            last_status=newest.status,
            last_finished_at=newest.finished_at,
            last_error=newest.error or "; ".join((newest.counts or {}).get("errors") or ()) or None,
            last_good_at=good.finished_at if good is not None else None,
            failures_in_a_row=in_a_row,
            credentials_refused=name in ((newest.counts or {}).get("auth_failed") or ()),
        )
    return out
