"""backfill_checkpoints: where a full pull stands, so a killed backfill resumes

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 14:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import leadsync.store.schema

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "backfill_checkpoints",
        sa.Column("backfill", sa.String(length=200), nullable=False),
        sa.Column("connector", sa.String(length=64), nullable=False),
        sa.Column("stream", sa.String(length=64), nullable=False),
        sa.Column("token", sa.Text(), nullable=True),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.Column("records", sa.BigInteger(), nullable=False),
        sa.Column("started_at", leadsync.store.schema.UTCDateTime(), nullable=False),
        sa.Column("updated_at", leadsync.store.schema.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("backfill", "connector", "stream"),
    )


def downgrade() -> None:
    op.drop_table("backfill_checkpoints")
