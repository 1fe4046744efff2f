"""pull_gaps: when each stream's pull last completed, and whether its last one did not

A cycle whose pull of one CRM failed half-way must not score, write or hand off people from
the other CRM's half of the truth. The gap is stored (not kept in memory) because the next
cycle may be another process's, or another connector's scheduled cycle.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 15:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from leadsync.store.schema import UTCDateTime

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pull_gaps",
        sa.Column("connector", sa.String(64), primary_key=True),
        sa.Column("stream", sa.String(64), primary_key=True),
        sa.Column("completed_at", UTCDateTime),
        sa.Column("since", UTCDateTime),
        sa.Column("error", sa.Text),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("pull_gaps")
