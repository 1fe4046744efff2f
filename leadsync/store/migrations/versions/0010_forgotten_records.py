"""forgotten_records and returning_people: a person back after ``forget`` is read whole

``forget`` removed every row about a person; if the CRM still held them, the next sync read
them back from their recently changed records only (one activity of 23) and scored them on
that, and a backfill handed them off a second time. The store now keeps, per forgotten
record, a SHA-256 of its CRM id and what LeadSync had done (team and cell acted on, recycle
baseline), and queues a returning person to be re-read by id before scoring.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from leadsync.store.schema import UTCDateTime

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "forgotten_records",
        sa.Column("uid_hash", sa.String(64), primary_key=True),
        sa.Column("acted_team", sa.String(16)),
        sa.Column("acted_cell", sa.String(48)),
        sa.Column("recycled_at", UTCDateTime),
        sa.Column("recycle_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("forgotten_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "returning_people",
        sa.Column("person_id", sa.Integer, sa.ForeignKey("people.id"), primary_key=True),
        sa.Column("found_at", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("returning_people")
    op.drop_table("forgotten_records")
