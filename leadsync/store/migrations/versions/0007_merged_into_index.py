"""crm_records.merged_into: a partial index, so finding records merged into a survivor is a
lookup, not a scan of every record (a backfill asked it for every page of people pulled)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 14:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_crm_records_merged_into",
        "crm_records",
        ["merged_into"],
        postgresql_where=sa.text("merged_into IS NOT NULL"),
        sqlite_where=sa.text("merged_into IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_crm_records_merged_into", table_name="crm_records")
