"""unreadable_values: values a connector could not read, per record and field, for status

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import leadsync.store.schema

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "unreadable_values",
        sa.Column("record_uid", sa.String(length=300), nullable=False),
        sa.Column("field", sa.String(length=255), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("object_type", sa.String(length=64), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("problem", sa.Text(), nullable=False),
        sa.Column("first_seen", leadsync.store.schema.UTCDateTime(), nullable=False),
        sa.Column("last_seen", leadsync.store.schema.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("record_uid", "field", name=op.f("pk_unreadable_values")),
    )
    op.create_index(
        op.f("ix_unreadable_values_last_seen"), "unreadable_values", ["last_seen"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_unreadable_values_last_seen"), table_name="unreadable_values")
    op.drop_table("unreadable_values")
