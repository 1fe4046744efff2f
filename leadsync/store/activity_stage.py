"""Activities stored through a staging table on PostgreSQL: one COPY and three statements a batch.

The portable path (``ingest.upsert_activities``) asks, per batch, which activities exist, whose
they are, then inserts and updates from Python: three round trips of ids out and rows back for
every 500 activities, and the decisions made one row at a time in Python. A backfill of ten
million activities spent most of its store time there. Here the batch goes into a temporary
table with COPY and PostgreSQL resolves owners, finds new and changed rows and applies them in
set-based statements, with the same rules:

* an activity's person is its CRM record's person when it names a record (none if that record
  is unknown), else the person of the oldest live record with its email;
* an unknown uid is inserted, a known one with a different fingerprint is updated (owner
  included), an identical one is left alone;
* the people an activity leaves or joins are queued for scoring.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from leadsync.store.bulk_insert import insert_rows
from leadsync.store.schema import UTCDateTime, activities, crm_records

_stage_metadata = sa.MetaData()

#: Session-private; emptied at every commit, and after every batch in case of several a
#: transaction. The columns are the activity's own, as ``ingest._activity_row`` builds them.
stage = sa.Table(
    "leadsync_stage_activities",
    _stage_metadata,
    sa.Column("uid", sa.String(300), primary_key=True),
    sa.Column("record_uid", sa.String(300)),
    sa.Column("email_norm", sa.String(320)),
    sa.Column("kind", sa.String(64)),
    sa.Column("occurred_at", UTCDateTime),
    sa.Column("modified_at", UTCDateTime),
    sa.Column("name", sa.String(255)),
    sa.Column("campaign_type", sa.String(128)),
    sa.Column("member_status", sa.String(128)),
    sa.Column("url", sa.Text),
    sa.Column("actor_id", sa.String(128)),
    sa.Column("deleted", sa.Boolean),
    sa.Column("fingerprint", sa.String(40)),
    sa.Column("person_id", sa.Integer),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DELETE ROWS",
)

_CONTENT = [c.name for c in stage.columns if c.name != "person_id"]


def upsert_staged(
    conn: sa.Connection, rows: Sequence[dict[str, Any]]
) -> tuple[int, int, set[int | None]]:
    """Store ``rows`` (unique uids); return (inserted, updated, people to re-score)."""
    stage.create(conn, checkfirst=True)
    insert_rows(conn, stage, [{name: row[name] for name in _CONTENT} for row in rows])
    # A few thousand rows with no statistics would be planned as a handful; the joins below
    # need the real count to pick hash joins over nested loops.
    conn.exec_driver_sql(f"ANALYZE {stage.name}")
    conn.execute(_RESOLVE_OWNERS)
    touched: set[int | None] = set()
    updated = 0
    for old_person, new_person in conn.execute(_UPDATE_CHANGED):
        updated += 1
        touched.update((old_person, new_person))
    inserted = 0
    for (person,) in conn.execute(_INSERT_NEW):
        inserted += 1
        touched.add(person)
    conn.execute(sa.delete(stage))
    return inserted, updated, touched


def _owner_by_record() -> sa.ScalarSelect[Any]:
    return (
        sa.select(crm_records.c.person_id)
        .where(crm_records.c.uid == stage.c.record_uid)
        .scalar_subquery()
    )


def _owner_by_email() -> sa.ScalarSelect[Any]:
    return (
        sa.select(crm_records.c.person_id)
        .where(crm_records.c.email_norm == stage.c.email_norm, crm_records.c.deleted.is_(False))
        .order_by(crm_records.c.id)
        .limit(1)
        .scalar_subquery()
    )


_RESOLVE_OWNERS = sa.update(stage).values(
    person_id=sa.case(
        (stage.c.record_uid.is_not(None), _owner_by_record()),
        (stage.c.email_norm.is_not(None), _owner_by_email()),
        else_=sa.null(),
    )
)

_old = activities.alias("old")

#: ``old`` is the row as it was before the update, so both owners come back.
_UPDATE_CHANGED = (
    sa.update(activities)
    .where(
        activities.c.id == _old.c.id,
        _old.c.uid == stage.c.uid,
        _old.c.fingerprint != stage.c.fingerprint,
    )
    .values({name: stage.c[name] for name in [*_CONTENT, "person_id"] if name != "uid"})
    .returning(_old.c.person_id, activities.c.person_id)
)

_INSERT_NEW = (
    sa.insert(activities)
    .from_select(
        [*_CONTENT, "person_id"],
        sa.select(*[stage.c[name] for name in [*_CONTENT, "person_id"]]).where(
            ~sa.exists().where(activities.c.uid == stage.c.uid)
        ),
    )
    .returning(activities.c.person_id)
)
