"""The state store's tables. Alembic migrations in ``migrations/`` create and evolve them.

Identity: a CRM record (``crm_records.uid`` = ``source:object:id``) is the identity; a person
is the set of records linked by normalized email. Activities point at a record uid or, when
the CRM gives only an address, at an email; ``person_id`` is resolved from those and re-resolved
when records move between people, so history follows merges and email changes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import TypeDecorator

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in Python, naive UTC in the database (same on SQLite and PostgreSQL)."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given to the store; pass UTC-aware values")
        if value.tzinfo is UTC:
            return value.replace(tzinfo=None)
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


JSONType: Any = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

people = sa.Table(
    "people",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("email_norm", sa.String(320), index=True),
    sa.Column("account_key", sa.String(255), index=True),
    # True while the person's inputs changed since last scored; the scoring queue.
    sa.Column("dirty", sa.Boolean, nullable=False, default=True),
    sa.Column("active", sa.Boolean, nullable=False, default=True),
    sa.Column("recycled_at", UTCDateTime),
    sa.Column("recycle_count", sa.Integer, nullable=False, default=0),
    sa.Column("recycle_reason", sa.String(255)),
    # The team and cell LeadSync last acted on (hand-off, recycle): transitions start here.
    sa.Column("acted_team", sa.String(16)),
    sa.Column("acted_cell", sa.String(48)),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Index(
        "ix_people_dirty_queue",
        "id",
        sqlite_where=sa.text("dirty"),
        postgresql_where=sa.text("dirty"),
    ),
)

crm_records = sa.Table(
    "crm_records",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("uid", sa.String(300), nullable=False, unique=True),
    sa.Column("person_id", sa.Integer, sa.ForeignKey("people.id"), nullable=False, index=True),
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column("object_type", sa.String(64), nullable=False),
    sa.Column("external_id", sa.String(128), nullable=False),
    sa.Column("email_norm", sa.String(320), index=True),
    # Lets hand-off routing find the rep who owns a company's contacts without a scan.
    sa.Column("email_domain", sa.String(255), index=True),
    sa.Column("attributes", JSONType, nullable=False),
    sa.Column("owner_id", sa.String(128)),
    sa.Column("status", sa.String(255)),
    sa.Column("opted_out", sa.Boolean, nullable=False, default=False),
    sa.Column("account_id", sa.String(128)),
    sa.Column("converted_at", UTCDateTime),
    # When the record entered the CRM: the report dates a lead by its earliest record's.
    sa.Column("created_at", UTCDateTime),
    sa.Column("deleted", sa.Boolean, nullable=False, default=False),
    sa.Column("merged_into", sa.String(300)),
    sa.Column("modified_at", UTCDateTime, nullable=False),
    # Hash of everything the model or the hand-off reads; unchanged hash = nothing to re-score.
    sa.Column("fingerprint", sa.String(40), nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    # Few records are merged; ingest asks which were merged into each survivor it stores.
    sa.Index(
        "ix_crm_records_merged_into",
        "merged_into",
        sqlite_where=sa.text("merged_into IS NOT NULL"),
        postgresql_where=sa.text("merged_into IS NOT NULL"),
    ),
)

activities = sa.Table(
    "activities",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("uid", sa.String(300), nullable=False, unique=True),
    sa.Column("person_id", sa.Integer, sa.ForeignKey("people.id"), index=True),
    sa.Column("record_uid", sa.String(300)),
    sa.Column("email_norm", sa.String(320)),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("occurred_at", UTCDateTime, nullable=False),
    # Seconds before and after occurred_at the true instant may lie (0, 0: exact), so the
    # do-not-contact rule never reads a date-only stamp as a precise one.
    sa.Column("early_s", sa.Integer, nullable=False, default=0, server_default="0"),
    sa.Column("late_s", sa.Integer, nullable=False, default=0, server_default="0"),
    sa.Column("modified_at", UTCDateTime, nullable=False),
    sa.Column("name", sa.String(255)),
    sa.Column("campaign_type", sa.String(128)),
    sa.Column("member_status", sa.String(128)),
    sa.Column("url", sa.Text),
    sa.Column("actor_id", sa.String(128)),
    sa.Column("deleted", sa.Boolean, nullable=False, default=False),
    sa.Column("fingerprint", sa.String(40), nullable=False),
    # Unlinked activities wait here until a record with their uid or email arrives.
    sa.Index(
        "ix_activities_orphan_record",
        "record_uid",
        sqlite_where=sa.text("person_id IS NULL"),
        postgresql_where=sa.text("person_id IS NULL"),
    ),
    sa.Index(
        "ix_activities_orphan_email",
        "email_norm",
        sqlite_where=sa.text("person_id IS NULL"),
        postgresql_where=sa.text("person_id IS NULL"),
    ),
)

scores = sa.Table(
    "scores",
    metadata,
    sa.Column("person_id", sa.Integer, sa.ForeignKey("people.id"), primary_key=True),
    sa.Column("fit", sa.String(16), nullable=False),
    sa.Column("score", sa.Integer, nullable=False),
    sa.Column("readiness", sa.String(32), nullable=False),
    sa.Column("team", sa.String(16), nullable=False),
    sa.Column("cell", sa.String(48), nullable=False),
    sa.Column("outputs", JSONType, nullable=False),
    sa.Column("result", JSONType, nullable=False),
    sa.Column("scored_at", UTCDateTime, nullable=False),
    # Fingerprint of the model's config that made this score ("" before it was recorded).
    sa.Column("model", sa.String(32), nullable=False, default="", server_default=""),
)

score_history = sa.Table(
    "score_history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("person_id", sa.Integer, sa.ForeignKey("people.id"), nullable=False, index=True),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("old_score", sa.Integer),
    sa.Column("new_score", sa.Integer, nullable=False),
    sa.Column("old_cell", sa.String(48)),
    sa.Column("new_cell", sa.String(48), nullable=False),
    # Which rules and activities moved the score, and how much decay took away.
    sa.Column("cause", JSONType, nullable=False),
)

# Values last written to each CRM record's mapped output fields (canonical names).
ledger = sa.Table(
    "ledger",
    metadata,
    sa.Column("record_id", sa.Integer, sa.ForeignKey("crm_records.id"), primary_key=True),
    sa.Column("values", JSONType, nullable=False),
    sa.Column("written_at", UTCDateTime, nullable=False),
)

# Writes decided but not yet confirmed by the CRM: the durable outbox. One row per record;
# a newer decision merges into it. Rejected rows wait with backoff, then park.
pending_writes = sa.Table(
    "pending_writes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "record_id", sa.Integer, sa.ForeignKey("crm_records.id"), nullable=False, unique=True
    ),
    sa.Column("source", sa.String(64), nullable=False, index=True),
    sa.Column("values", JSONType, nullable=False),
    sa.Column("state", sa.String(16), nullable=False, default="pending"),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", UTCDateTime, nullable=False),
    sa.Column("error_code", sa.String(128)),
    sa.Column("error_message", sa.Text),
    sa.Column("error_fields", JSONType),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

cursors = sa.Table(
    "cursors",
    metadata,
    sa.Column("connector", sa.String(64), primary_key=True),
    sa.Column("stream", sa.String(64), primary_key=True),
    sa.Column("position", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    # True once a pull that started an overlap after ``position`` was recorded has re-read the
    # overlap: everything stamped up to ``position`` is then known seen, and pulls start there.
    sa.Column("settled", sa.Boolean, nullable=False, default=False, server_default=sa.false()),
)

# Facts about the store as a whole, by key: "model" is the fingerprint of the model every
# score was made with (see ``leadsync.store.model_state``).
store_meta = sa.Table(
    "store_meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

# What ``leadsync forget`` keeps of a forgotten record: a hash of its CRM id (not the id) and
# what LeadSync had done about the person, so that if the CRM still holds them and they come
# back, they are read whole before scoring and are not handed off a second time.
forgotten_records = sa.Table(
    "forgotten_records",
    metadata,
    sa.Column("uid_hash", sa.String(64), primary_key=True),
    sa.Column("acted_team", sa.String(16)),
    sa.Column("acted_cell", sa.String(48)),
    sa.Column("recycled_at", UTCDateTime),
    sa.Column("recycle_count", sa.Integer, nullable=False, default=0),
    sa.Column("forgotten_at", UTCDateTime, nullable=False),
)

# People whose record came back after ``forget``: not scored until re-read whole, by id.
returning_people = sa.Table(
    "returning_people",
    metadata,
    sa.Column("person_id", sa.Integer, sa.ForeignKey("people.id"), primary_key=True),
    sa.Column("found_at", UTCDateTime, nullable=False),
)

# Each stream's pulls: when one last ran to its end, and, while the last one did not (an
# error, a stop), since when and why. What the store holds from a stream with a gap may be
# half of the truth: people with a record in that CRM are neither scored nor acted on until a
# pull completes; if it never completed one, nobody is.
pull_gaps = sa.Table(
    "pull_gaps",
    metadata,
    sa.Column("connector", sa.String(64), primary_key=True),
    sa.Column("stream", sa.String(64), primary_key=True),
    sa.Column("completed_at", UTCDateTime),
    sa.Column("since", UTCDateTime),
    sa.Column("error", sa.Text),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("connector", sa.String(64), nullable=False, index=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("counts", JSONType, nullable=False),
    sa.Column("api_calls", sa.Integer, nullable=False, default=0),
    sa.Column("error", sa.Text),
)

# One row per hand-off to sales: queued (waiting under the per-cycle cap or for an owner),
# acting (owner, status and task being written), done; held while a cool-down runs.
handoffs = sa.Table(
    "handoffs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("person_id", sa.Integer, sa.ForeignKey("people.id"), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("record_uid", sa.String(300), nullable=False),
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("trigger", sa.String(32), nullable=False),
    sa.Column("from_cell", sa.String(48)),
    sa.Column("to_cell", sa.String(48), nullable=False),
    sa.Column("readiness", sa.String(32), nullable=False),
    sa.Column("score", sa.Integer, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("queued_at", UTCDateTime, nullable=False),
    sa.Column("hold_until", UTCDateTime),
    sa.Column("previous_owner_id", sa.String(128)),
    sa.Column("owner_id", sa.String(128)),
    sa.Column("mode", sa.String(16)),
    sa.Column("decision", JSONType),
    sa.Column("note", sa.Text),
    sa.Column("handed_off_at", UTCDateTime),
    sa.Column("done_at", UTCDateTime),
    sa.Column("due_at", UTCDateTime),
    # First sales touch (stops the SLA watch) and latest one (feeds the inactivity recycle).
    sa.Column("touched_at", UTCDateTime),
    sa.Column("last_touch_at", UTCDateTime),
    sa.Column("breached_at", UTCDateTime),
    sa.Column("escalation", JSONType),
    sa.Column("closed_at", UTCDateTime),
    sa.Column("closed_by", sa.String(32)),
    # A human re-assigned the lead after the hand-off: the SLA watch follows that owner from
    # that time (``due_at`` is moved with it); touches by either owner count.
    sa.Column("watch_owner_id", sa.String(128)),
    sa.Column("watch_since", UTCDateTime),
    sa.UniqueConstraint("person_id", "seq"),
    sa.Index("ix_handoffs_state", "state", "source"),
)

# One row per recycle to marketing nurture; ``requalified_at`` is set by the next hand-off.
recycles = sa.Table(
    "recycles",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("person_id", sa.Integer, sa.ForeignKey("people.id"), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("record_uid", sa.String(300), nullable=False),
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("trigger", sa.String(32), nullable=False),
    sa.Column("from_cell", sa.String(48)),
    sa.Column("reason", sa.String(255), nullable=False),
    sa.Column("owner_id", sa.String(128)),
    sa.Column("recycled_at", UTCDateTime, nullable=False),
    sa.Column("done_at", UTCDateTime),
    sa.Column("requalified_at", UTCDateTime),
    sa.UniqueConstraint("person_id", "seq"),
    sa.Index("ix_recycles_state", "state", "source"),
)

# The action outbox: owner changes, tasks and nurture enrolments owed to a CRM. ``key`` makes
# a decision idempotent (re-queueing the same key updates it); ``after`` orders steps of one
# hand-off (the task waits for the owner). Rejected rows back off, then park for replay.
actions = sa.Table(
    "actions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("key", sa.String(300), nullable=False, unique=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column("record_uid", sa.String(300), nullable=False),
    sa.Column("payload", JSONType, nullable=False),
    sa.Column("after", sa.String(300)),
    sa.Column("handoff_id", sa.Integer, sa.ForeignKey("handoffs.id")),
    sa.Column("recycle_id", sa.Integer, sa.ForeignKey("recycles.id")),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", UTCDateTime, nullable=False),
    sa.Column("error_code", sa.String(128)),
    sa.Column("error_message", sa.Text),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("done_at", UTCDateTime),
    sa.Index("ix_actions_due", "source", "state", "next_attempt_at"),
)

# Round-robin cursors and today's per-rep counts, one JSON document per routing scope.
routing_state = sa.Table(
    "routing_state",
    metadata,
    sa.Column("scope", sa.String(64), primary_key=True),
    sa.Column("state", JSONType, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

# Backfills asked for from the CLI (``leadsync queue-backfill``) or the dashboard. The leading
# ``leadsync run`` takes them one at a time between cycles (queued -> running -> done/failed);
# a request a dead leader left running is run again by the next (a backfill is idempotent).
backfill_requests = sa.Table(
    "backfill_requests",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    # Connector names; empty means every configured connector.
    sa.Column("connectors", JSONType, nullable=False),
    sa.Column("since", UTCDateTime),
    sa.Column("dry_run", sa.Boolean, nullable=False, default=False),
    sa.Column("no_actions", sa.Boolean, nullable=False, default=False),
    sa.Column("requested_by", sa.String(64), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("requested_at", UTCDateTime, nullable=False),
    sa.Column("started_at", UTCDateTime),
    sa.Column("finished_at", UTCDateTime),
    # The cycle's own status (ok, partial, failed, error) and report, once it ran.
    sa.Column("status", sa.String(16)),
    sa.Column("run_id", sa.Integer),
    sa.Column("report", JSONType),
    sa.Column("error", sa.Text),
    sa.Index("ix_backfill_requests_state", "state", "id"),
)

# A full pull in progress, so a backfill killed midway resumes without redoing finished pages.
# One row per backfill (``stream`` "*": dirty marks done at ``started_at``) and one per
# connector stream: the connector's opaque ``token`` for where the next page starts, or
# ``done``. Rows go when the backfill finishes.
backfill_checkpoints = sa.Table(
    "backfill_checkpoints",
    metadata,
    sa.Column("backfill", sa.String(200), primary_key=True),
    sa.Column("connector", sa.String(64), primary_key=True),
    sa.Column("stream", sa.String(64), primary_key=True),
    sa.Column("token", sa.Text),
    sa.Column("done", sa.Boolean, nullable=False, default=False),
    sa.Column("records", sa.BigInteger, nullable=False, default=0),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

# HubSpot webhook event ids accepted by any replica in the last ten minutes: a delivery whose
# ids are here is a replay, whichever replica it reaches.
webhook_events = sa.Table(
    "webhook_events",
    metadata,
    sa.Column("event_id", sa.String(200), primary_key=True),
    sa.Column("received_at", UTCDateTime, nullable=False, index=True),
)

# Records a webhook named that reached a standby replica: the leader reads them by id in its
# next requested cycle (and deletes them), so a load balancer may send deliveries anywhere.
webhook_records = sa.Table(
    "webhook_records",
    metadata,
    sa.Column("uid", sa.String(300), primary_key=True),
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column("received_at", UTCDateTime, nullable=False),
)

# Values a connector could not read (a garbage date in a form's time field, "yes" in a
# checkbox), one row per record and CRM field, so `leadsync status` and the dashboard show
# what to fix. A record's rows are replaced each time it is stored: a field read fine again,
# or the record deleted, clears them. ``record_uid`` is a crm_records or activities uid (or,
# for a record whose id cannot be stored, ``source:object:#digest``).
unreadable_values = sa.Table(
    "unreadable_values",
    metadata,
    sa.Column("record_uid", sa.String(300), primary_key=True),
    sa.Column("field", sa.String(255), primary_key=True),
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column("object_type", sa.String(64), nullable=False),
    sa.Column("external_id", sa.String(128), nullable=False),
    # Clipped by the connector (about 200 characters); Text so a long field name never fails.
    sa.Column("raw", sa.Text, nullable=False),
    sa.Column("problem", sa.Text, nullable=False),
    sa.Column("first_seen", UTCDateTime, nullable=False),
    sa.Column("last_seen", UTCDateTime, nullable=False, index=True),
)
